import type { Connection } from './connection.js';
import type { Stream } from './stream.js';

/** A named group of streams; connections subscribed to the room get every stream in it, now and later. */
export class Room {
  private readonly byName = new Map<string, Stream>();
  private readonly watchers = new Set<Connection>();

  constructor(readonly name: string) {}

  /** The room's live streams, by name. */
  get streams(): ReadonlyMap<string, Stream> {
    return this.byName;
  }

  /** Connections subscribed to the whole room. */
  get subscribers(): ReadonlySet<Connection> {
    return this.watchers;
  }

  /** A room with no streams and no subscribers is forgotten, so client-chosen names cannot pile up. */
  get isEmpty(): boolean {
    return this.byName.size === 0 && this.watchers.size === 0;
  }

  /** Adds a stream under its name (the caller has checked the name is free). */
  addStream(stream: Stream): void {
    this.byName.set(stream.name, stream);
  }

  /** Forgets `stream`, if it is the one under its name. */
  removeStream(stream: Stream): void {
    if (this.byName.get(stream.name) === stream) this.byName.delete(stream.name);
  }

  /** Subscribes `conn` to every stream of the room, now and later. */
  addSubscriber(conn: Connection): void {
    this.watchers.add(conn);
  }

  removeSubscriber(conn: Connection): void {
    this.watchers.delete(conn);
  }
}
