// The page's figures for tests and curious people: `window.framewire.stats()` in the console.
import type { AudioOutput } from './audio-output.js';
import type { Connection, ConnectionState } from './connection.js';
import type { Publisher } from './publisher.js';
import type { RemoteSet } from './remote-set.js';
import type { RemoteStream } from './remote-stream.js';

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
  /** The shared screen's publisher, if a screen is shared. */
  screen: Publisher | null;
  audio: AudioOutput;
}): object {
  const streams: Record<string, object> = {};
  for (const { stream, stale } of room.remotes.entries) {
    streams[stream.info.name] = {
      streamId: stream.info.streamId,
      name: stream.info.name,
      room: stream.info.room,
      codec: stream.info.video?.codec ?? null,
      screen: stream.info.screen === true,
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
      longestPaintGapMs: Math.round(stream.longestPaintGapMs),
      switchGapMs: stream.switchGapMs === null ? null : Math.round(stream.switchGapMs),
      audio: remoteAudioSnapshot(stream),
    };
  }
  const out = room.audio;
  return {
    room: room.name,
    role: room.role,
    connection: {
      state: room.state,
      url: room.conn.currentUrl,
      clockOffsetMs: round1(room.conn.clock.offsetUs / 1000),
      rttMs: round1(room.conn.clock.rttMs),
      link: room.conn.linkState,
      linkBacklogMs: room.conn.linkBacklogMs,
    },
    publisher: room.publisher && publisherSnapshot(room.publisher),
    screen: room.screen && publisherSnapshot(room.screen),
    audio: {
      state: out.state,
      problem: out.problem,
      outputLeadMs: round1(out.outputLeadMs),
    },
    streams,
  };
}

/** The figures of one local stream: the camera's or the shared screen's. */
function publisherSnapshot(p: Publisher): object {
  const a = p.audio;
  return {
    name: p.name,
    streamId: p.streamId,
    // Which way the camera is read: `processor`, `worker` or `element` (null without a camera).
    capture: p.captureKind,
    // `camera`, or what a shared screen shows: `detail` or `motion`.
    content: p.profile.content,
    codec: p.setup?.decoder.codec ?? null,
    width: p.setup?.decoder.codedWidth ?? 0,
    height: p.setup?.decoder.codedHeight ?? 0,
    framerate: p.setup?.encoder.framerate ?? 0,
    bitrate: p.setup?.encoder.bitrate ?? 0,
    fps: round1(p.sent.perSecond),
    kbps: round1(p.sent.kbps),
    ...p.counters,
    audio: a && {
      codec: a.config?.codec ?? null,
      sampleRate: a.config?.sampleRate ?? 0,
      channels: a.config?.numberOfChannels ?? 0,
      capture: a.captureKind,
      opus: a.encoderConfig?.opus ?? null,
      muted: a.muted,
      failed: a.failed,
      kbps: round1(a.sent.kbps),
      ...a.counters,
    },
  };
}

/** The sound figures of one remote stream (null when it has no audio track). */
function remoteAudioSnapshot(stream: RemoteStream): object | null {
  const a = stream.audio;
  if (!a) return null;
  const delay = a.playoutDelayUs;
  return {
    codec: a.config.codec,
    sampleRate: a.config.sampleRate,
    channels: a.config.numberOfChannels,
    problem: a.problem,
    speakerOn: a.enabled,
    kbps: round1(a.received.kbps),
    ...a.counters,
    depthMs: round1(a.depthMs),
    depthMeanMs: round1(a.depthMeanMs),
    targetMs: round1(a.targetMs),
    jitterTargetMs: round1(a.jitterTargetMs),
    syncNeedMs: round1(a.syncNeedMs),
    jitterMs: round1(a.jitterMs),
    speed: Math.round(a.speed * 10000) / 10000,
    playoutDelayMs: delay === null ? null : round1(delay / 1000),
    playedPeak: round3(a.playedPeak),
    playedRms: round3(a.playedRms),
    playedPeakMax: round3(a.playedPeakMax),
    audibleMs: Math.round(a.audibleMs),
    level: round3(a.level),
    // How far behind its sound each picture was painted over the last second (negative: ahead).
    avOffsetP50Ms: stream.avOffset.count > 0 ? round1(stream.avOffset.p50) : null,
    avOffsetAbsP95Ms: stream.avOffsetAbs.count > 0 ? round1(stream.avOffsetAbs.p95) : null,
    avOffsetSamples: stream.avOffset.count,
    videoDelayP95Ms: round1(stream.videoDelay.p95),
  };
}

function round3(v: number): number {
  return Math.round(v * 1000) / 1000;
}

function round1(v: number): number {
  return Math.round(v * 10) / 10;
}
