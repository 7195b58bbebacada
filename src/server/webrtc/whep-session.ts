import { type AvcConfig, avccToAnnexB, parseAvcC } from '../../media/h264.js';
import { decodeMessage, type FrameMessage } from '../../protocol/index.js';
import type { Stream } from '../core/stream.js';
import type { StreamTap } from '../core/stream-tap.js';
import type { Outgoing } from '../core/transport.js';
import type { ServerRelay } from '../ops/config.js';
import type { FromChild } from './child-messages.js';
import type { WebRtcHost } from './host.js';

/** Audio's room above the video bound, as for live HTTP players (mux-tap.ts). */
const AUDIO_BACKLOG_BYTES = 256 * 1024;

/** Counters of one WHEP player, as GET on its session URL answers them. */
export interface WhepStats {
  id: string;
  room: string;
  name: string;
  state: 'connecting' | 'playing' | 'ended';
  framesSent: number;
  framesDropped: number;
  audioFramesSent: number;
  /** Bytes handed to the WebRTC side and not yet sent by it. */
  pendingBytes: number;
  /** Now minus the capture time of the last frame sent, ms; null before the first. */
  latencyMs: number | null;
}

/**
 * A WHEP player as the relay sees it: a stream tap, like a live HTTP player. It joins the stream once ICE
 * and DTLS are up (so it starts at the cached GOP's keyframe), hands each frame to the WebRTC child, and
 * holds at most the viewer queue's bytes there: past that it drops video up to the next keyframe (and asks
 * the publisher for one), audio only past its own headroom. Its PLI/FIR become keyframe requests.
 */
export class WhepSession implements StreamTap {
  state: WhepStats['state'] = 'connecting';
  framesSent = 0;
  framesDropped = 0;
  audioFramesSent = 0;
  private pendingBytes = 0;
  private needsKey = true;
  private lastCapture: number | null = null;
  private lastSentAt = 0;
  private readonly avc: AvcConfig | null;

  private readonly endListeners: (() => void)[] = [];

  constructor(
    readonly id: string,
    private readonly relay: ServerRelay,
    private readonly host: WebRtcHost,
    readonly stream: Stream,
    /** Called once when the session ends, whoever ends it. */
    private readonly onEnd: (reason: string) => void,
  ) {
    // A stream published in AVC format (length prefixes, avcC) goes out as Annex B, which the packetizer cuts.
    const description = stream.video?.codec.startsWith('avc1') ? stream.video.description : undefined;
    this.avc = description ? parseAvcC(description) : null;
  }

  /** A message from the child about this session. */
  message(m: FromChild): void {
    switch (m.type) {
      case 'connected':
        if (this.state !== 'connecting') return;
        if (this.stream.closed) {
          this.close('ended');
          return;
        }
        this.state = 'playing';
        this.stream.addTap(this);
        this.relay.log.info('whep-playing', {
          id: this.id,
          room: this.stream.room.name,
          name: this.stream.name,
        });
        return;
      case 'sent':
        this.pendingBytes -= m.bytes;
        this.lastCapture = m.captureTime;
        this.lastSentAt = Date.now();
        return;
      case 'keyframe-request':
        this.stream.requestKeyframe(this.relay.config.keyframeRequestIntervalMs);
        return;
      case 'closed':
        this.finish(m.reason);
        return;
      default:
        return;
    }
  }

  frame(frame: Outgoing, key: boolean): void {
    if (this.state !== 'playing') return;
    const bound = this.relay.config.viewerQueueBytes;
    if (frame.audio) {
      if (this.pendingBytes > bound + AUDIO_BACKLOG_BYTES) {
        this.framesDropped++;
        return;
      }
      this.audioFramesSent++;
      this.send(frame, true, key);
      return;
    }
    if (this.pendingBytes > bound || (this.needsKey && !key)) {
      // Behind, or skipping since: from here to the next keyframe nothing would decode.
      if (!this.needsKey) this.stream.requestKeyframe(this.relay.config.keyframeRequestIntervalMs);
      this.needsKey = true;
      this.framesDropped++;
      return;
    }
    this.needsKey = false;
    this.framesSent++;
    this.send(frame, false, key);
  }

  private send(frame: Outgoing, audio: boolean, key: boolean): void {
    const message = decodeMessage(frame.body) as FrameMessage;
    let data = message.payload;
    if (!audio && this.avc) {
      try {
        data = avccToAnnexB(message.payload, this.avc, key);
      } catch {
        // A frame whose length prefixes do not add up: dropped, and the picture waits for a keyframe.
        this.needsKey = true;
        return;
      }
    }
    this.pendingBytes += data.byteLength;
    this.host.send({
      type: 'frame',
      id: this.id,
      audio,
      key,
      timestamp: message.timestamp,
      captureTime: message.captureTime,
      data,
    });
  }

  end(reason: string): void {
    this.close(reason);
  }

  /** Ends the session: leaves the stream, closes the peer connection. Safe to call again. */
  close(reason: string): void {
    if (this.state === 'ended') return;
    this.host.send({ type: 'close', id: this.id });
    this.host.forget(this.id);
    this.finish(reason);
  }

  /** The child lost the session (crash or stop). */
  lost(): void {
    this.finish('webrtc-restarted');
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
    this.stream.removeTap(this);
    this.onEnd(reason);
  }

  /** Its counters now. */
  stats(): WhepStats {
    return {
      id: this.id,
      room: this.stream.room.name,
      name: this.stream.name,
      state: this.state,
      framesSent: this.framesSent,
      framesDropped: this.framesDropped,
      audioFramesSent: this.audioFramesSent,
      pendingBytes: this.pendingBytes,
      latencyMs:
        this.lastCapture === null ? null : Math.max(0, Math.round(this.lastSentAt - this.lastCapture / 1000)),
    };
  }
}
