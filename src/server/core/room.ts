import type { Connection } from './connection.js';
import { RoomViewers } from './room-viewers.js';
import type { Publisher, Stream } from './stream.js';

/** A named group of streams; connections subscribed to the room get every stream in it, now and later. */
export class Room {
  private readonly byName = new Map<string, Stream>();
  private readonly watchers = new Set<Connection>();
  /** Who views the room (by room or by stream subscription) and what they decode, as counts. */
  private readonly viewers = new RoomViewers<Connection>();
  /** Set while a decodersChanged is scheduled: changes read in one go are told once. */
  private tellPending = false;

  constructor(readonly name: string) {}

  /** The room's live streams, by name. */
  get streams(): ReadonlyMap<string, Stream> {
    return this.byName;
  }

  /** Connections subscribed to the whole room. */
  get subscribers(): ReadonlySet<Connection> {
    return this.watchers;
  }

  /** Connections viewing the room (subscribed to it or to any stream in it), each counted once. */
  get viewerCount(): number {
    return this.viewers.size;
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
    if (this.watchers.has(conn)) return;
    this.watchers.add(conn);
    this.viewerIn(conn);
  }

  removeSubscriber(conn: Connection): void {
    if (this.watchers.delete(conn)) this.viewerOut(conn);
  }

  /** Called as `conn` gains a reason to view the room (a subscription to it or to one of its streams). */
  viewerIn(conn: Connection): void {
    if (!this.viewers.add(conn)) return;
    conn.enteredRoom(this);
    if (conn.decoders !== null) this.decodersChanged();
  }

  /** Called as `conn` loses one; it stops viewing the room with its last. */
  viewerOut(conn: Connection): void {
    if (!this.viewers.remove(conn)) return;
    conn.leftRoom(this);
    if (conn.decoders !== null) this.decodersChanged();
  }

  /** `conn`, a viewer of the room, declared new decoders (`before` is what it had said, null for nothing). */
  redeclared(conn: Connection, before: ReadonlySet<string> | null): void {
    this.viewers.redeclare(conn, before, conn.decoders);
    this.decodersChanged();
  }

  /**
   * The video codec families every viewer of the room but `publisher` decodes, of those that said (null:
   * none restricts). A peer in a call views its own room: what it decodes does not bind its own stream.
   */
  codecsFor(publisher: Connection): string[] | null {
    return this.viewers.codecsFor(publisher);
  }

  /**
   * Tells each publisher of the room that what its viewers decode may have changed (each says if so), once
   * the messages at hand are read: a viewer that sends a burst of declarations costs each publisher one
   * message at most, not one per declaration.
   */
  private decodersChanged(): void {
    if (this.tellPending) return;
    this.tellPending = true;
    queueMicrotask(() => {
      this.tellPending = false;
      // Publishers are few (the room's streams); its viewers, which may be thousands, are not visited.
      const told = new Set<Publisher>();
      for (const stream of this.byName.values()) {
        if (told.has(stream.publisher)) continue;
        told.add(stream.publisher);
        stream.publisher.roomDecodersChanged?.(this);
      }
    });
  }
}
