import type { Connection } from './connection.js';
import type { Stream } from './stream.js';

/** A named group of streams; connections subscribed to the room get every stream in it, now and later. */
export class Room {
  readonly streams = new Map<string, Stream>();
  readonly subscribers = new Set<Connection>();

  constructor(readonly name: string) {}

  /** A room with no streams and no subscribers is forgotten, so client-chosen names cannot pile up. */
  get isEmpty(): boolean {
    return this.streams.size === 0 && this.subscribers.size === 0;
  }
}
