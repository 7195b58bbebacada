import { avcCodecString } from '../../media/h264.js';
import { parseSpsSize } from '../../media/h264-sps.js';
import {
  AUDIO_LEVEL_SILENT,
  type AudioConfig,
  type DecoderConfig,
  encodeMessage,
  type Message,
} from '../../protocol/index.js';
import { type Publisher, Stream } from '../core/stream.js';
import { outgoing } from '../core/transport.js';
import type { ServerRelay } from '../ops/config.js';
import type { FromChild } from './child-messages.js';
import { findSps } from './h264-depacketizer.js';
import type { WebRtcHost } from './host.js';
import type { ChosenTrack } from './sdp-offer.js';
import { vp8KeyframeSize } from './vp8-depacketizer.js';

/** The audio track a WHIP publisher's Opus becomes (WebRTC's Opus is always 48 kHz, stereo in SDP). */
const OPUS_CONFIG: AudioConfig = { codec: 'opus', sampleRate: 48000, numberOfChannels: 2 };

/** Counters of one WHIP publisher, as GET on its session URL answers them. */
export interface WhipStats {
  id: string;
  room: string;
  name: string;
  state: 'connecting' | 'live' | 'ended';
  frames: number;
  audioFrames: number;
  keyframes: number;
  bytes: number;
}

/**
 * A WHIP publisher as the relay sees it: a publisher like an HTTP ingest, whose frames come from the WebRTC
 * child's depacketizers. The stream opens at the first video keyframe (its SPS or VP8 header gives the
 * size), or at the first audio frame when the offer has no video. A keyframe request from the relay goes
 * to the child, which sends the publisher a PLI. Capture times are anchored on arrival, as for ingest.
 */
export class WhipSession implements Publisher {
  readonly published = new Map<number, Stream>();
  state: WhipStats['state'] = 'connecting';
  private stream: Stream | null = null;
  private seq = 0;
  private audioSeq = 0;
  private frames = 0;
  private audioFrames = 0;
  private keyframes = 0;
  private bytes = 0;
  /** Earliest `now - timestamp` seen, µs: capture time = anchor + timestamp (see ingest/worker.ts). */
  private anchor = Number.POSITIVE_INFINITY;
  private lastFrameAt = performance.now();
  private readonly idleTimer: NodeJS.Timeout;

  private readonly endListeners: (() => void)[] = [];

  constructor(
    readonly id: string,
    private readonly relay: ServerRelay,
    private readonly host: WebRtcHost,
    readonly room: string,
    readonly name: string,
    private readonly video: ChosenTrack | null,
    private readonly audio: ChosenTrack | null,
    private readonly onEnd: (reason: string) => void,
  ) {
    // A publisher whose media stopped without a goodbye (ICE consent lost slowly) ends like an idle ingest.
    const { idleTimeoutMs } = relay.config;
    this.idleTimer = setInterval(
      () => {
        if (performance.now() - this.lastFrameAt > idleTimeoutMs) this.close('timeout');
      },
      Math.min(idleTimeoutMs, 1000),
    );
    this.idleTimer.unref();
  }

  /** The relay asks for a keyframe: the child sends the publisher a PLI. */
  send(message: Message): void {
    if (message.type === 'keyframe-request') this.host.send({ type: 'keyframe', id: this.id });
  }

  /** A message from the child about this session. */
  message(m: FromChild): void {
    if (m.type === 'frame') this.onFrame(m.audio, m.key, m.timestamp, m.data);
    else if (m.type === 'closed') this.finish(m.reason === 'closed' ? 'ended' : 'disconnected');
  }

  private onFrame(audio: boolean, key: boolean, timestamp: number, data: Uint8Array): void {
    if (this.state === 'ended') return;
    const nowMs = performance.now();
    this.lastFrameAt = nowMs;
    if (!this.stream && !this.openOn(audio, key, data)) return;
    const stream = this.stream as Stream;
    const now = Date.now() * 1000;
    this.anchor = Math.min(this.anchor, now - timestamp);
    const body = encodeMessage(
      audio
        ? {
            type: 'frame',
            streamId: stream.id,
            key: true,
            track: 'audio',
            // Not decoded here: its level is unknown, sent as silence (RFC 6464's 127), as for ingest.
            audioLevel: AUDIO_LEVEL_SILENT,
            seq: this.audioSeq++ >>> 0,
            timestamp,
            captureTime: this.anchor + timestamp,
            payload: data,
          }
        : {
            type: 'frame',
            streamId: stream.id,
            key,
            seq: this.seq++ >>> 0,
            timestamp,
            captureTime: this.anchor + timestamp,
            payload: data,
          },
    );
    const frame = outgoing(body, audio);
    if (!stream.spend(frame.body.length, nowMs)) {
      this.relay.log.warn('whip-limit', { id: this.id, room: this.room, name: this.name });
      this.close('error');
      return;
    }
    if (audio) this.audioFrames++;
    else this.frames++;
    if (key && !audio) this.keyframes++;
    this.bytes += frame.body.length;
    stream.relay(frame, key, nowMs);
  }

  /** Opens the stream on its first usable frame; false while it cannot open yet (or was refused). */
  private openOn(audio: boolean, key: boolean, data: Uint8Array): boolean {
    let video: DecoderConfig | undefined;
    if (this.video) {
      if (audio || !key) return false;
      video = this.videoConfig(data) ?? undefined;
      if (!video) return false;
    }
    const tracks = video ? (this.audio ? { video, audio: OPUS_CONFIG } : { video }) : { audio: OPUS_CONFIG };
    const opened = this.relay.openStream(this, this.room, this.name, tracks);
    if (!(opened instanceof Stream)) {
      this.relay.log.warn('whip-refused', {
        id: this.id,
        room: this.room,
        name: this.name,
        code: opened.code,
      });
      this.close('error');
      return false;
    }
    this.stream = opened;
    this.state = 'live';
    this.relay.log.info('whip-start', {
      id: this.id,
      room: this.room,
      name: this.name,
      stream: opened.id,
      codec: video?.codec ?? 'none',
      audio: this.audio ? 'opus' : 'none',
    });
    return true;
  }

  private videoConfig(data: Uint8Array): DecoderConfig | null {
    try {
      if (this.video?.codec === 'H264') {
        const sps = findSps(data);
        if (!sps) return null;
        const { width, height } = parseSpsSize(sps);
        return { codec: avcCodecString(sps), codedWidth: width, codedHeight: height };
      }
      const size = vp8KeyframeSize(data);
      return size ? { codec: 'vp8', codedWidth: size.width, codedHeight: size.height } : null;
    } catch {
      // A malformed SPS: wait for the next keyframe.
      return null;
    }
  }

  /** Ends the session: the stream ends, the peer connection closes. Safe to call again. */
  close(reason: string): void {
    if (this.state === 'ended') return;
    this.host.send({ type: 'close', id: this.id });
    this.host.forget(this.id);
    this.finish(reason);
  }

  /** The child lost the session (crash or stop). */
  lost(): void {
    this.finish('error');
  }

  /** Calls `fn` once the session has ended (at once if it has). */
  whenEnded(fn: () => void): void {
    if (this.state === 'ended') fn();
    else this.endListeners.push(fn);
  }

  private finish(reason: string): void {
    if (this.state === 'ended') return;
    this.state = 'ended';
    for (const fn of this.endListeners.splice(0)) fn();
    clearInterval(this.idleTimer);
    if (this.stream) this.relay.endStream(this.stream, reason);
    this.onEnd(reason);
  }

  /** Its counters now. */
  stats(): WhipStats {
    const { id, room, name, state, frames, audioFrames, keyframes, bytes } = this;
    return { id, room, name, state, frames, audioFrames, keyframes, bytes };
  }
}
