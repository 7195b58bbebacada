// The page's figures for tests and curious people: `window.framewire.stats()` in the console.
import type { Connection, ConnectionState } from './connection.js';
import type { Publisher } from './publisher.js';
import type { RemoteSet } from './remote-set.js';

/** What `window.framewire` holds. */
export interface FramewireHook {
  /** A snapshot of the connection, the local stream and every remote stream's counters. */
  stats(): object;
}

declare global {
  interface Window {
    framewire?: FramewireHook;
  }
}

/** Installs `window.framewire`, reading its figures from `stats` on every call. */
export function exposeStats(stats: () => object): void {
  window.framewire = { stats };
}

/** What a room's `window.framewire.stats()` returns (shape documented in web/README.md). */
export function roomSnapshot(room: {
  name: string;
  role: 'peer' | 'viewer';
  state: ConnectionState;
  conn: Connection;
  remotes: RemoteSet;
  publisher: Publisher | null;
}): object {
  const streams: Record<string, object> = {};
  for (const { stream, stale } of room.remotes.entries) {
    streams[stream.info.name] = {
      streamId: stream.info.streamId,
      name: stream.info.name,
      room: stream.info.room,
      codec: stream.info.config.codec,
      stale,
      // The connection's delivery state covers each of its streams.
      link: room.conn.linkState,
      catchingUp: stream.catchingUp,
      width: stream.width,
      height: stream.height,
      fps: round1(stream.painted.perSecond),
      kbps: round1(stream.received.kbps),
      ...stream.counters,
      latencyP50Ms: round1(stream.latency.p50),
      latencyP95Ms: round1(stream.latency.p95),
      latencyLastMs: round1(stream.latency.last),
    };
  }
  const p = room.publisher;
  return {
    room: room.name,
    role: room.role,
    connection: {
      state: room.state,
      clockOffsetMs: round1(room.conn.clock.offsetUs / 1000),
      rttMs: round1(room.conn.clock.rttMs),
      link: room.conn.linkState,
      linkBacklogMs: room.conn.linkBacklogMs,
    },
    publisher: p && {
      name: p.name,
      streamId: p.streamId,
      codec: p.setup?.decoder.codec ?? null,
      width: p.setup?.decoder.codedWidth ?? 0,
      height: p.setup?.decoder.codedHeight ?? 0,
      fps: round1(p.sent.perSecond),
      kbps: round1(p.sent.kbps),
      ...p.counters,
    },
    streams,
  };
}

function round1(v: number): number {
  return Math.round(v * 10) / 10;
}
