import ndc from 'node-datachannel';
import { isRtcp, parseRtp } from '../../src/server/webrtc/rtp.js';
import type { Clip } from '../lib/clip.js';
import type { PacedPublisher } from '../lib/pacing.js';
import {
  BENCH_ROOM,
  type LoadContext,
  type LoadTarget,
  type PublisherHandle,
  streamName,
} from '../lib/target.js';
import { annexBNalBytes, type RtpFrame, RtpFrameAssembler } from './h264-rtp-frames.js';
import { FramewireTarget } from './target.js';

/** The H.264 payload type both bench ends offer (what Chromium uses for constrained baseline). */
const H264_PT = 102;
/** Where a WHEP player's first frame is looked for among the publisher's sends: the GOP cache is younger. */
const ANCHOR_LOOKBACK_MS = 10_000;

/**
 * WebRTC load clients, both ends node-datachannel (libdatachannel: native ICE, DTLS and SRTP, so the load
 * process's cost per viewer stays far below the server's). Viewers play over WHEP (RFC 9725) from
 * `endpoints.httpPort`: Framewire's own WHEP, or the werift sidecar in front of it. The publisher is a
 * Framewire TCP publisher, or with `whip` a WHIP publisher packetizing the clip with libdatachannel.
 *
 * WebRTC carries no frame number: a player tells frames apart by RTP timestamp and knows which one of the
 * publisher's sends it is by its NAL bytes (the first keyframe anchors, each later frame is checked).
 */
export class WhepTarget implements LoadTarget {
  private readonly tcp: FramewireTarget;
  /** Each WHIP publisher's session URL, by stream number. */
  private readonly whipSessions: string[] = [];

  constructor(
    private readonly publisher: 'protocol' | 'whip',
    private readonly ctx: LoadContext,
  ) {
    this.tcp = new FramewireTarget('tcp', ctx);
  }

  private url(kind: 'whip' | 'whep', k: number): string {
    return `http://127.0.0.1:${this.ctx.endpoints.httpPort}/${kind}/${BENCH_ROOM}/${streamName(k)}`;
  }

  async openPublisher(k: number): Promise<PublisherHandle> {
    if (this.publisher === 'protocol') return this.tcp.openPublisher(k);
    const handle = await openWhipPublisher(this.url('whip', k), this.ctx.clip, this.ctx.timeoutMs);
    this.whipSessions[k] = handle.session;
    return handle;
  }

  async openViewer(watch: readonly number[]): Promise<{ connections: number; close(): void }> {
    const { collector, pacers, clip, timeoutMs } = this.ctx;
    const players: WhepPlayer[] = [];
    for (const k of watch) {
      const pacer = pacers[k];
      if (!pacer) throw new Error(`stream ${k} has no publisher`);
      // A WHIP stream is in the room from the first keyframe the server gets, which may be the clip's
      // second (2 s in) when the first went out before the server's DTLS was up: until then, 404.
      const session = this.whipSessions[k];
      if (session) await untilLive(session, timeoutMs);
      const tally = collector.subscribe(pacer);
      const matcher = new FrameMatcher(clip, pacer);
      players.push(
        await openWhepPlayer(this.url('whep', k), h264Fmtp(clip), timeoutMs, (frame) => {
          const now = performance.now();
          collector.arrive(tally, matcher.indexOf(frame, now), frame.nalBytes, now);
        }),
      );
    }
    return { connections: players.length, close: () => closeAll(players) };
  }
}

function closeAll(players: readonly WhepPlayer[]): void {
  for (const p of players) p.pc.close();
}

/**
 * A player's peer connection and its track, held together: node-datachannel stops calling a track's
 * onMessage once the track's JS object is garbage-collected (measured: every player of a run stopped at
 * the same frame, at one GC), however alive its peer connection is.
 */
interface WhepPlayer {
  pc: ndc.PeerConnection;
  track: ndc.Track;
}

/** NAL bytes of each clip frame, computed once per clip. */
const nalBytesOf = new WeakMap<Clip, Int32Array>();

function clipNalBytes(clip: Clip): Int32Array {
  let sizes = nalBytesOf.get(clip);
  if (!sizes) {
    sizes = Int32Array.from(clip.frames, (f) => annexBNalBytes(f.annexB));
    nalBytesOf.set(clip, sizes);
  }
  return sizes;
}

/**
 * Maps a player's frames to the publisher's frame numbers. The first keyframe is the most recent send of a
 * clip keyframe with the same NAL bytes; from there on a frame's number follows from its RTP timestamp
 * (90 kHz), and its NAL bytes must match the clip's, or it counts as unmatched (-1).
 */
class FrameMatcher {
  private anchor: { index: number; rtp: number } | null = null;
  private readonly sizes: Int32Array;
  private readonly ticksPerFrame: number;

  constructor(
    private readonly clip: Clip,
    private readonly pacer: PacedPublisher,
  ) {
    this.sizes = clipNalBytes(clip);
    this.ticksPerFrame = 90_000 / clip.fps;
  }

  /** The publisher's number of `frame`, which arrived at `now`; -1 when it is none of its sends. */
  indexOf(frame: RtpFrame, now: number): number {
    if (this.anchor === null) {
      if (!frame.key) return -1;
      const index = this.latestSend(frame.nalBytes, now);
      if (index < 0) return -1;
      this.anchor = { index, rtp: frame.rtpTimestamp };
    }
    // The signed 32-bit distance from the anchor, so a wrap of the RTP clock costs nothing.
    const ticks = (frame.rtpTimestamp - this.anchor.rtp) | 0;
    const index = this.anchor.index + Math.round(ticks / this.ticksPerFrame);
    const n = this.clip.frames.length;
    if (index < 0 || this.sizes[index % n] !== frame.nalBytes) return -1;
    return index;
  }

  /** The most recent send (within the lookback) of a clip keyframe of `nalBytes` bytes, or -1. */
  private latestSend(nalBytes: number, now: number): number {
    const n = this.clip.frames.length;
    for (let i = this.pacer.sent - 1; i >= 0; i--) {
      const sent = this.pacer.sentAt[i] as number;
      if (now - sent > ANCHOR_LOOKBACK_MS) break;
      if (this.clip.frames[i % n]?.key && this.sizes[i % n] === nalBytes) return i;
    }
    return -1;
  }
}

/** A peer connection that binds and pairs on loopback only, as the server under test listens there. */
function loopbackPeer(name: string): ndc.PeerConnection {
  return new ndc.PeerConnection(name, { iceServers: [], bindAddress: '127.0.0.1' });
}

/** The fmtp line of the clip's H.264 (its profile-level-id from the avc1 codec string). */
function h264Fmtp(clip: Clip): string {
  const profile = /^avc1\.([0-9a-fA-F]{6})/.exec(clip.config.codec)?.[1] ?? '42e01f';
  return `level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=${profile}`;
}

/**
 * The non-trickle exchange: our offer once gathering is complete, POSTed as application/sdp; the answer
 * applied; resolves with the session's URL. Rejects on a non-201 answer or after `timeoutMs`.
 */
async function exchange(pc: ndc.PeerConnection, url: string, timeoutMs: number): Promise<string> {
  const gathered = new Promise<void>((resolve) => {
    pc.onGatheringStateChange((state) => {
      if (state === 'complete') resolve();
    });
  });
  pc.setLocalDescription();
  await withTimeout(gathered, timeoutMs, 'ICE gathering');
  const offer = pc.localDescription()?.sdp;
  if (!offer) throw new Error('no local description');
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/sdp' },
    body: offer,
    signal: AbortSignal.timeout(timeoutMs),
  });
  const answer = await res.text();
  if (res.status !== 201) throw new Error(`${url}: ${res.status} ${answer.slice(0, 200)}`);
  pc.setRemoteDescription(answer, 'answer');
  return new URL(res.headers.get('location') ?? '', url).href;
}

/** Resolves when `pc` is connected; rejects if it fails first or after `timeoutMs`. */
function connected(pc: ndc.PeerConnection, timeoutMs: number): Promise<void> {
  const up = new Promise<void>((resolve, reject) => {
    pc.onStateChange((state) => {
      if (state === 'connected') resolve();
      else if (state === 'failed' || state === 'closed') reject(new Error(`peer connection ${state}`));
    });
  });
  return pc.state() === 'connected' ? Promise.resolve() : withTimeout(up, timeoutMs, 'connection');
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} took over ${ms} ms`)), ms);
  });
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}

/** Sessions already seen live: the viewers of a stream ask once. */
const live = new Set<string>();

/** Polls a WHIP session's URL until the server says it is live (its stream is in the room). */
async function untilLive(session: string, timeoutMs: number): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!live.has(session)) {
    const res = await fetch(session, { signal: AbortSignal.timeout(timeoutMs) });
    const stats = (await res.json()) as { state?: string };
    if (stats.state === 'live') live.add(session);
    else if (stats.state === 'ended' || performance.now() > deadline)
      throw new Error(`WHIP session ${stats.state ?? res.status}, not live`);
    else await new Promise((r) => setTimeout(r, 50));
  }
}

let players = 0;

/** A WHEP player of `url`: recvonly H.264 (`fmtp`), receiver reports on; `onFrame` per frame at its marker bit. */
async function openWhepPlayer(
  url: string,
  fmtp: string,
  timeoutMs: number,
  onFrame: (frame: RtpFrame) => void,
): Promise<WhepPlayer> {
  const pc = loopbackPeer(`whep-${++players}`);
  try {
    const video = new ndc.Video('0', 'RecvOnly');
    video.addH264Codec(H264_PT, fmtp);
    const track = pc.addTrack(video);
    // Receiver reports and REMB back to the server, as a browser's player sends.
    track.setMediaHandler(new ndc.RtcpReceivingSession());
    const assembler = new RtpFrameAssembler();
    track.onMessage((msg) => {
      if (isRtcp(msg)) return;
      const rtp = parseRtp(msg);
      if (rtp?.payloadType !== H264_PT) return;
      const frame = assembler.push(rtp.payload, rtp.timestamp, rtp.marker);
      if (frame) onFrame(frame);
    });
    await exchange(pc, url, timeoutMs);
    await connected(pc, timeoutMs);
    return { pc, track };
  } catch (err) {
    pc.close();
    throw err;
  }
}

/**
 * A WHIP publisher of `url`: sendonly H.264 packetized by libdatachannel (from Annex B, as the clip is), its
 * RTP timestamp the frame number at 90 kHz; sender reports on, so the server may anchor capture times.
 */
async function openWhipPublisher(
  url: string,
  clip: Clip,
  timeoutMs: number,
): Promise<PublisherHandle & { session: string }> {
  const pc = loopbackPeer('whip');
  try {
    const ssrc = 0x4245_4e43;
    const video = new ndc.Video('0', 'SendOnly');
    video.addH264Codec(H264_PT, h264Fmtp(clip));
    video.addSSRC(ssrc, 'bench', 'bench', 'video');
    const track = pc.addTrack(video);
    const config = new ndc.RtpPacketizationConfig(ssrc, 'bench', H264_PT, 90_000);
    const packetizer = new ndc.H264RtpPacketizer('StartSequence', config);
    const reporter = new ndc.RtcpSrReporter(config);
    packetizer.addToChain(reporter);
    track.setMediaHandler(packetizer);
    const session = await exchange(pc, url, timeoutMs);
    await connected(pc, timeoutMs);
    const ticksPerFrame = 90_000 / clip.fps;
    return {
      output: {
        send: (index, frame) => {
          if (!track.isOpen()) return;
          config.timestamp = Math.round(index * ticksPerFrame) >>> 0;
          track.sendMessageBinary(
            Buffer.from(frame.annexB.buffer, frame.annexB.byteOffset, frame.annexB.length),
          );
        },
        // libdatachannel queues media inside its own threads and tells nothing of it to JS.
        backlogBytes: 0,
      },
      close: () => pc.close(),
      session,
    };
  } catch (err) {
    pc.close();
    throw err;
  }
}
