// Everyone else in the room, on a page that cannot decode video: the room's streams come from the server's
// HTTP API, polled, and each plays as plain video (PlainVideoTile). The page does not subscribe over its
// socket, which would only bring frames it cannot use, on top of the plain video's own download.
import { isSecurePage } from './capabilities.js';
import { type PlainStreamInfo, PlainVideoTile } from './plain-video-tile.js';
import type { Tile } from './tile.js';
import { apiRequest, pageToken } from './token.js';

/** How often the room's streams are listed: tiles come and go within this, good enough for plain video. */
const POLL_INTERVAL_MS = 2000;
/**
 * Videos playing at once. Over plain http:// (HTTP/1.1) a browser opens at most 6 connections to one
 * server, and each playing <video> holds one for as long as it plays: one stays free for the API's polls.
 */
export const MAX_PLAIN_VIDEOS = 5;

/** What the set needs from the page. */
export interface PlainVideoSetDeps {
  /** Puts a new tile on the grid. */
  addTile(tile: Tile): void;
  /** Called after tiles were added or removed. */
  changed(): void;
}

/** The room's streams as plain-video tiles, kept in step with the server's list of them; owns the tiles. */
export class PlainVideoSet {
  private readonly tiles = new Map<string, PlainVideoTile>();
  private polling = false;
  /** Why the page plays plain video, said on each tile. */
  private readonly why = isSecurePage()
    ? 'this browser cannot decode video itself'
    : 'this page is not secure';

  constructor(
    private readonly room: string,
    private readonly deps: PlainVideoSetDeps,
  ) {}

  /** Number of remote streams shown. */
  get size(): number {
    return this.tiles.size;
  }

  /** Starts listing the room's streams now and every {@link POLL_INTERVAL_MS}. */
  start(): void {
    void this.poll();
    window.setInterval(() => void this.poll(), POLL_INTERVAL_MS);
  }

  private async poll(): Promise<void> {
    // A slow server must not have requests pile up behind each other.
    if (this.polling) return;
    this.polling = true;
    try {
      const streams = await fetchRoomStreams(this.room);
      // Unreachable (restarting, say): the tiles stay as they are until the server answers again.
      if (streams) this.update(streams);
    } finally {
      this.polling = false;
    }
  }

  private update(streams: PlainStreamInfo[]): void {
    let changed = false;
    const listed = new Set<string>();
    for (const info of streams) {
      listed.add(info.name);
      const existing = this.tiles.get(info.name);
      if (existing) {
        existing.refresh(info);
        continue;
      }
      const tile = new PlainVideoTile(this.room, info, this.why);
      this.tiles.set(info.name, tile);
      this.deps.addTile(tile.tile);
      changed = true;
    }
    for (const name of [...this.tiles.keys()]) {
      if (listed.has(name)) continue;
      this.drop(name);
      changed = true;
    }
    // In arrival order, the first few play; the others wait for a free connection.
    let playing = [...this.tiles.values()].filter((t) => t.playing).length;
    for (const tile of this.tiles.values()) {
      if (tile.playing) continue;
      if (playing < MAX_PLAIN_VIDEOS) {
        tile.play();
        playing++;
      } else {
        tile.hold(
          `Not played: the browser plays at most ${MAX_PLAIN_VIDEOS} plain videos from one server at once.`,
        );
      }
    }
    if (changed) this.deps.changed();
  }

  private drop(name: string): void {
    const tile = this.tiles.get(name);
    if (!tile) return;
    this.tiles.delete(name);
    tile.close();
    tile.tile.element.remove();
  }
}

/**
 * The room's streams (GET /api/rooms/:room); [] when the room has none, null when the server cannot be
 * asked. The list of rooms comes first: a room with nobody in it does not exist, and asking for it would get
 * a 404, which the browser logs in the console as an error. With access control on, the page's own token
 * goes along: the server lists the rooms it may view, and answers for this one only if it may.
 */
async function fetchRoomStreams(room: string): Promise<PlainStreamInfo[] | null> {
  const rooms = await getJson('/api/rooms');
  if (rooms === null) return null;
  const listed = (rooms as { rooms?: { name?: unknown; streams?: unknown }[] }).rooms ?? [];
  if (!listed.some((r) => r.name === room && typeof r.streams === 'number' && r.streams > 0)) return [];
  const body = await getJson(`/api/rooms/${encodeURIComponent(room)}`);
  if (body === null) return null;
  const streams = (body as { streams?: unknown[] }).streams ?? [];
  return streams.filter(isStreamInfo).map(({ id, name, codec, width, height }) => ({
    id,
    name,
    codec,
    width,
    height,
  }));
}

/** A stream entry of the API with the fields a tile needs. */
function isStreamInfo(s: unknown): s is PlainStreamInfo {
  if (typeof s !== 'object' || s === null) return false;
  const o = s as Record<string, unknown>;
  return (
    typeof o.id === 'number' &&
    typeof o.name === 'string' &&
    typeof o.codec === 'string' &&
    typeof o.width === 'number' &&
    typeof o.height === 'number'
  );
}

/** The JSON body of GET `path` (with the page's token), or null when the request fails or is refused. */
async function getJson(path: string): Promise<unknown> {
  try {
    const res = await fetch(path, apiRequest(pageToken()));
    if (!res.ok) return null;
    return (await res.json()) as unknown;
  } catch {
    return null;
  }
}
