import { AUDIO_LEVEL_VOICE, type LinkState, type ReceiverReportMessage } from '../../protocol/index.js';
import type { Relay } from '../core/relay.js';
import { recordingFile } from '../recording/recording.js';

/** One viewer of one stream. */
export interface ViewerStats {
  connection: number;
  transport: 'tcp' | 'tls' | 'ws';
  framesSent: number;
  framesDropped: number;
  /** Bytes the viewer's connection holds right now (all its streams): ours plus the socket's. */
  queuedBytes: number;
  /** How far behind the viewer is through every buffer (ours, the kernel's, its own), ms. */
  backlogMs: number;
  /** How the server delivers to it: `live`, `draining` (its backlog runs out) or `keyframes-only`. */
  link: LinkState;
  /** The viewer's own account of playback (latest receiver report), or null before its first one. */
  report: (Omit<ReceiverReportMessage, 'type' | 'streamId'> & { at: number }) | null;
}

/** A stream's audio track, and how loud its publisher is now. */
export interface AudioStats {
  codec: string;
  sampleRate: number;
  channels: number;
  /** The loudest level of the last 300 ms, dBov (0 is full scale, -127 silence), as the publisher measured it. */
  level: number;
  /** The publisher marked that audio as voice: this stream's person is speaking. */
  speaking: boolean;
}

/** One live stream. */
export interface StreamStats {
  id: number;
  room: string;
  name: string;
  /** The video track's codec and size; null and 0 for a stream without video. */
  codec: string | null;
  width: number;
  height: number;
  /** The video is a shared screen (its publisher said so: protocol v4). */
  screen: boolean;
  /** The audio track, or null when the stream has none. */
  audio: AudioStats | null;
  /** Video frames per second, over the last second. */
  fps: number;
  bitrateKbps: number;
  framesIn: number;
  bytesIn: number;
  keyframes: number;
  gopCacheBytes: number;
  startedAt: number;
  /** The file the stream is being recorded to, or null. */
  recording: string | null;
  /** Players watching over HTTP (`/live/...`): in-process taps other than the recording. */
  players: number;
  viewers: ViewerStats[];
  /** The cluster node the stream comes from, when it is another node's (absent for local streams). */
  node?: string;
}

/** One room: its streams, and how many connections watch any of it. */
export interface RoomStats {
  name: string;
  streams: number;
  viewers: number;
}

/** The whole server at one moment. */
export interface ServerStats {
  connections: number;
  rooms: RoomStats[];
  streams: StreamStats[];
}

/** Reads the relay's counters into plain objects (cheap; nothing here is on the frame path). */
export function snapshotStats(relay: Relay): ServerStats {
  return {
    connections: relay.connections.size,
    // The room counts its viewers (by room or by stream subscription) itself, each once.
    rooms: [...relay.rooms.values()].map((room) => ({
      name: room.name,
      streams: room.streams.size,
      viewers: room.viewerCount,
    })),
    streams: [...relay.streams.values()].map((s) => ({
      id: s.id,
      room: s.room.name,
      name: s.name,
      codec: s.video?.codec ?? null,
      width: s.video?.codedWidth ?? 0,
      height: s.video?.codedHeight ?? 0,
      screen: s.screen,
      audio: s.audio
        ? {
            codec: s.audio.codec,
            sampleRate: s.audio.sampleRate,
            channels: s.audio.numberOfChannels,
            level: -(s.audioLevel & 0x7f),
            speaking: (s.audioLevel & AUDIO_LEVEL_VOICE) !== 0,
          }
        : null,
      fps: round1(s.fps),
      bitrateKbps: round1(s.bitrateKbps),
      framesIn: s.framesIn,
      bytesIn: s.bytesIn,
      keyframes: s.keyframes,
      gopCacheBytes: s.gop.byteLength,
      startedAt: s.startedAt,
      recording: recordingFile(s),
      players: s.taps.size - (recordingFile(s) === null ? 0 : 1),
      viewers: [...s.subscriptions].map((sub) => ({
        connection: sub.conn.id,
        transport: sub.conn.transport.kind,
        framesSent: sub.framesSent,
        framesDropped: sub.framesDropped,
        queuedBytes: sub.conn.queue.bytes,
        backlogMs: Math.round(sub.conn.queue.link.backlogMs(performance.now())),
        link: sub.conn.queue.link.state,
        report: sub.report && withoutWireFields(sub.report),
      })),
      ...(s.publisher.origin === undefined ? {} : { node: s.publisher.origin }),
    })),
  };
}

function withoutWireFields(r: ReceiverReportMessage & { at: number }): ViewerStats['report'] {
  const { type: _type, streamId: _streamId, ...rest } = r;
  return rest;
}

function round1(v: number): number {
  return Math.round(v * 10) / 10;
}
