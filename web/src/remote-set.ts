// Everyone else in the room: one RemoteStream and one tile per stream, as streams come and go.
import type { FrameMessage, LinkState, StreamAddedMessage } from '../../src/protocol/index.js';
import type { AudioOutput } from './audio-output.js';
import type { ServerClock } from './clock.js';
import { RemoteStream } from './remote-stream.js';
import { liveVideoUrl, remoteTile, type Tile } from './tile.js';

/** A remote stream with its tile. */
export interface RemoteEntry {
  stream: RemoteStream;
  tile: Tile;
  /** Not (yet) confirmed by the server since the last reconnect. */
  stale: boolean;
}

/** What the set needs from the page. */
export interface RemoteSetDeps {
  clock: ServerClock;
  audioOutput: AudioOutput;
  requestKeyframe(streamId: number): void;
  /** Whether this page decodes video of `codec`. */
  decodes(codec: string): boolean;
  /** Puts a new tile on the grid. */
  addTile(tile: Tile): void;
  /** Called after tiles were added or removed. */
  changed(): void;
}

/** The remote streams of the room, by stream id and by name; owns their tiles. */
export class RemoteSet {
  private readonly byId = new Map<number, RemoteEntry>();
  private readonly byName = new Map<string, RemoteEntry>();
  /** How the server delivers to our connection: one state for every stream it carries. */
  private link: LinkState = 'live';

  constructor(private readonly deps: RemoteSetDeps) {}

  /** The entries, in the order they arrived. */
  get entries(): IterableIterator<RemoteEntry> {
    return this.byName.values();
  }

  /** Number of remote streams. */
  get size(): number {
    return this.byName.size;
  }

  /**
   * A stream appeared. After a reconnect the same name comes back under a new id and keeps its tile; the same
   * id again means its tracks changed (protocol v3): the decoders start over from its next keyframe.
   */
  add(m: StreamAddedMessage): void {
    const info = {
      streamId: m.streamId,
      room: m.room,
      name: m.name,
      ...(m.video ? { video: m.video } : {}),
      ...(m.audio ? { audio: m.audio } : {}),
      ...(m.screen ? { screen: true } : {}),
    };
    const existing = this.byName.get(m.name);
    if (existing) {
      this.forgetId(existing);
      existing.stream.rebind(info);
      existing.stale = false;
      existing.tile.setStale(false);
      existing.tile.setTracks(m.video !== undefined, m.audio !== undefined);
      existing.tile.setScreen(m.screen === true);
      // The same id again is the publisher changing its tracks (a new codec): the link follows the codec.
      if (m.video) existing.tile.setPlayerLink(liveVideoUrl(m.room, m.name, m.video.codec));
      this.byId.set(m.streamId, existing);
      return;
    }
    const { tile, canvas } = remoteTile(m.room, m.name);
    tile.setLinkState(this.link);
    tile.setTracks(m.video !== undefined, m.audio !== undefined);
    tile.setScreen(m.screen === true);
    if (m.video) tile.setPlayerLink(liveVideoUrl(m.room, m.name, m.video.codec));
    const stream = new RemoteStream(info, canvas, this.deps, (w, h) => tile.showPicture(w, h));
    tile.onSpeaker((on) => stream.audio?.setEnabled(on));
    const entry = { stream, tile, stale: false };
    this.byId.set(m.streamId, entry);
    this.byName.set(m.name, entry);
    this.deps.addTile(tile);
    this.deps.changed();
  }

  /** A stream ended: its tile goes. */
  remove(streamId: number): void {
    const entry = this.byId.get(streamId);
    if (entry) this.drop(entry);
  }

  /** Routes a frame to its stream; false if no stream has this id. */
  frame(m: FrameMessage): boolean {
    const entry = this.byId.get(m.streamId);
    if (!entry) return false;
    entry.stream.handleFrame(m);
    return true;
  }

  /** The server's delivery to our connection changed: every tile says so. */
  setLinkState(state: LinkState): void {
    this.link = state;
    for (const entry of this.byName.values()) entry.tile.setLinkState(state, entry.stream.catchingUp);
  }

  /** Refreshes each tile's delivery note with whether its stream is skipping a backlog of its own. */
  showCatchingUp(): void {
    for (const entry of this.byName.values()) entry.tile.setLinkState(this.link, entry.stream.catchingUp);
  }

  /** The socket closed: every stream is in doubt until the server lists it again. */
  markAllStale(): void {
    // Stream ids belong to a socket: a new socket (or a restarted server) may hand the same ids to others.
    this.byId.clear();
    for (const entry of this.byName.values()) {
      entry.stale = true;
      entry.tile.setStale(true);
    }
  }

  /** The server has listed every stream it has: the ones it did not list are gone. */
  removeStale(): void {
    for (const entry of [...this.byName.values()]) if (entry.stale) this.drop(entry);
  }

  /** Asks every stream's publisher for a keyframe (e.g. when the tab becomes visible again). */
  requestKeyframes(): void {
    for (const entry of this.byName.values()) if (!entry.stale) entry.stream.requestKeyframe(true);
  }

  /** Removes every stream and tile. */
  clear(): void {
    for (const entry of [...this.byName.values()]) this.drop(entry);
  }

  private forgetId(entry: RemoteEntry): void {
    const id = entry.stream.info.streamId;
    if (this.byId.get(id) === entry) this.byId.delete(id);
  }

  private drop(entry: RemoteEntry): void {
    this.forgetId(entry);
    this.byName.delete(entry.stream.info.name);
    entry.stream.close();
    entry.tile.element.remove();
    this.deps.changed();
  }
}
