import { randomBytes } from 'node:crypto';
import type { Stream } from '../core/stream.js';
import type { ServerRelay } from '../ops/config.js';
import { WebRtcError } from './errors.js';
import { WebRtcHost, type WebRtcHostOptions } from './host.js';
import { offerIce, parseFragment, type SessionIce } from './sdp-fragment.js';
import {
  type ChosenTrack,
  chooseCodec,
  chooseH264,
  chosen,
  type OfferedMedia,
  parseOffer,
} from './sdp-offer.js';
import { WhepSession, type WhepStats } from './whep-session.js';
import { WhipSession } from './whip-session.js';

/** An open session and the answer that opened it. */
export interface Opened<S> {
  session: S;
  answer: string;
}

/**
 * WHIP publishers and WHEP players: checks offers, picks codecs, and keeps the sessions by id (the last
 * part of their `Location`) until they end. The peer connections themselves live in the child process.
 */
export class WebRtcService {
  readonly host: WebRtcHost;
  private readonly sessions = new Map<string, WhepSession | WhipSession>();
  /** Each open session's offer ICE facts, for its trickle ICE PATCHes; deleted with the session. */
  private readonly ice = new Map<string, SessionIce>();

  constructor(
    private readonly relay: ServerRelay,
    options: WebRtcHostOptions,
  ) {
    this.host = new WebRtcHost(options, relay.log);
  }

  /** The session `id`, if open. */
  get(id: string): WhepSession | WhipSession | undefined {
    return this.sessions.get(id);
  }

  /**
   * Adds the candidates of a trickle ICE fragment (RFC 8840) to session `id`; false when it has ended.
   * Throws {@link WebRtcError} (FW_BAD_SDP, FW_ICE_RESTART) before anything reaches the child.
   */
  trickle(id: string, fragment: string): boolean {
    const ice = this.ice.get(id);
    if (!ice) return false;
    const candidates = parseFragment(fragment, ice);
    if (candidates.length > 0) this.host.send({ type: 'candidates', id, candidates });
    return true;
  }

  /** WHEP players open now (each is also a tap of its stream, counted among its players). */
  get players(): number {
    let n = 0;
    for (const s of this.sessions.values()) if (s instanceof WhepSession) n++;
    return n;
  }

  /** Opens a WHEP player of `stream` from an offer; throws {@link WebRtcError} on a refusal. */
  async play(stream: Stream, offer: string): Promise<Opened<WhepSession>> {
    const media = parseOffer(offer);
    const receiving = (s: OfferedMedia) => s.direction === 'recvonly' || s.direction === 'sendrecv';
    let video: ChosenTrack | null = null;
    let audio: ChosenTrack | null = null;
    const codec = stream.video?.codec ?? '';
    const videoSection = media.find((s) => s.kind === 'video' && receiving(s));
    if (stream.video && videoSection) {
      if (codec.startsWith('avc1')) {
        const c = chooseH264(videoSection, codec.slice(5, 7));
        if (c) video = chosen(videoSection, c, 'H264');
      } else if (codec === 'vp8') {
        const c = chooseCodec(videoSection, 'VP8', 90000);
        if (c) video = chosen(videoSection, c, 'VP8');
      }
      if (!video) {
        throw new WebRtcError(
          'FW_UNSUPPORTED_CODEC',
          `stream ${stream.name} is ${codec}: WHEP plays H.264 (packetization-mode 1) and VP8, and the offer has no match`,
        );
      }
    }
    const audioSection = media.find((s) => s.kind === 'audio' && receiving(s));
    if (stream.audio?.codec === 'opus' && audioSection) {
      const c = chooseCodec(audioSection, 'OPUS', 48000);
      if (c) audio = chosen(audioSection, c, 'OPUS');
    }
    if (!video && !audio) throw new WebRtcError('FW_BAD_SDP', 'the offer receives nothing this stream has');
    const id = newId();
    const session = new WhepSession(id, this.relay, this.host, stream, (reason) =>
      this.ended(session, reason),
    );
    this.sessions.set(id, session);
    this.ice.set(id, offerIce(offer, media));
    try {
      const answer = await this.host.open(id, 'whep', offer, video, audio, {
        message: (m) => session.message(m),
        lost: () => session.lost(),
      });
      // A player that never completes ICE and DTLS (gone, or unreachable) holds nothing for long.
      setTimeout(() => {
        if (session.state === 'connecting') session.close('timeout');
      }, this.relay.config.helloTimeoutMs).unref();
      return { session, answer };
    } catch (err) {
      session.close('failed');
      throw err;
    }
  }

  /** Opens a WHIP publisher of `name` in `room` from an offer; throws {@link WebRtcError} on a refusal. */
  async publish(room: string, name: string, offer: string): Promise<Opened<WhipSession>> {
    const media = parseOffer(offer);
    const sending = (s: OfferedMedia) => s.direction === 'sendonly' || s.direction === 'sendrecv';
    let video: ChosenTrack | null = null;
    let audio: ChosenTrack | null = null;
    const videoSection = media.find((s) => s.kind === 'video' && sending(s));
    if (videoSection) {
      const h264 = chooseH264(videoSection, '42');
      const vp8 = chooseCodec(videoSection, 'VP8', 90000);
      if (h264) video = chosen(videoSection, h264, 'H264');
      else if (vp8) video = chosen(videoSection, vp8, 'VP8');
      else
        throw new WebRtcError(
          'FW_UNSUPPORTED_CODEC',
          'the offer sends video in neither H.264 (packetization-mode 1) nor VP8',
        );
    }
    const audioSection = media.find((s) => s.kind === 'audio' && sending(s));
    if (audioSection) {
      const opus = chooseCodec(audioSection, 'OPUS', 48000);
      if (opus) audio = chosen(audioSection, opus, 'OPUS');
    }
    if (!video && !audio) throw new WebRtcError('FW_BAD_SDP', 'the offer sends no H.264, VP8 or Opus');
    const id = newId();
    const session = new WhipSession(id, this.relay, this.host, room, name, video, audio, (reason) =>
      this.ended(session, reason),
    );
    this.sessions.set(id, session);
    this.ice.set(id, offerIce(offer, media));
    try {
      const answer = await this.host.open(id, 'whip', offer, video, audio, {
        message: (m) => session.message(m),
        lost: () => session.lost(),
      });
      return { session, answer };
    } catch (err) {
      session.close('failed');
      throw err;
    }
  }

  /** Ends every session and the child process. */
  stop(): void {
    for (const s of [...this.sessions.values()]) s.close('shutdown');
    this.host.stop();
  }

  private ended(session: WhepSession | WhipSession, reason: string): void {
    this.sessions.delete(session.id);
    this.ice.delete(session.id);
    const kind = session instanceof WhepSession ? 'whep-end' : 'whip-end';
    const { latencyMs: _latency, ...stats } = session.stats() as Partial<WhepStats> & object;
    this.relay.log.info(kind, { ...(stats as Record<string, string | number>), reason });
  }
}

/** A session id: 128 random bits, so a session URL cannot be guessed. */
function newId(): string {
  return randomBytes(16).toString('hex');
}
