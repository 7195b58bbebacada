import net from 'node:net';
import tls from 'node:tls';
import {
  decodeMessage,
  encodeMessage,
  frameMessage,
  LENGTH_PREFIX_BYTES,
  type Message,
  MessageDeframer,
  PROTOCOL_VERSION,
  type StreamTracks,
} from '../../protocol/index.js';
import { SERVER_AGENT } from '../core/relay.js';

/** What a link tells the node that pulls through it. */
export interface LinkHandlers {
  /** The origin described the stream (at the start, and again after its publisher changed codec). */
  added(tracks: StreamTracks): void;
  /**
   * One frame, as its framed wire bytes (a copy the receiver owns), still carrying the origin's stream id:
   * the receiver writes its own at {@link STREAM_ID_OFFSET}.
   */
  frame(framed: Uint8Array, key: boolean, audio: boolean): void;
  /** The stream ended on the origin (`reason` as in stream-removed). */
  removed(reason: string): void;
  /** The link closed (for any reason but {@link NodeLink.close}); `error` says why when it failed. */
  closed(error: string | null): void;
}

/** Where a frame message's stream id sits in its framed bytes: after the length prefix and the type byte. */
export const STREAM_ID_OFFSET = LENGTH_PREFIX_BYTES + 1;

/** How long the origin has to answer the hello and the subscribe before the link gives up. */
const HANDSHAKE_MS = 5000;

/**
 * One node-to-node link: a TCP connection from this node to a stream's origin, speaking the ordinary
 * protocol with hello role `peer` and subscribed to that one stream, like a viewer. Being a viewer there
 * is the point: the origin's bounded queue and drop-to-keyframe policy apply to the link as to any viewer.
 */
export class NodeLink {
  /** The stream's id on the origin, known once the origin has sent stream-added. */
  originStreamId: number | null = null;
  framesIn = 0;
  bytesIn = 0;
  /** Frames the origin sent us none of: sequence gaps, each track's (it skipped ahead for a slow link). */
  framesMissed = 0;
  /** Ms from the last frame's capture (publisher's clock) to its arrival here; null before the first. */
  lastAgeMs: number | null = null;
  /** The last sequence number of each track, for the gaps. */
  private readonly lastSeq = { video: -1, audio: -1 };
  private readonly socket: net.Socket;
  private readonly deframer: MessageDeframer;
  private ended = false;
  private readonly handshake: NodeJS.Timeout;

  constructor(
    /** The origin's link address; `tls` when its protocol port speaks TLS (`ca`: null for the system's CAs). */
    at: { host: string; port: number; tls: { ca: Buffer | null } | null },
    private readonly room: string,
    private readonly name: string,
    token: string,
    maxMessageBytes: number,
    private readonly on: LinkHandlers,
  ) {
    this.deframer = new MessageDeframer(maxMessageBytes);
    const { host, port } = at;
    this.socket = at.tls
      ? tls.connect({
          host,
          port,
          ...(at.tls.ca ? { ca: at.tls.ca } : {}),
          // A name is checked against the certificate; an IP address is checked as an IP (no SNI).
          ...(net.isIP(host) === 0 ? { servername: host } : {}),
        })
      : net.connect({ host, port });
    this.socket.setNoDelay(true);
    this.send({ type: 'hello', version: PROTOCOL_VERSION, role: 'peer', agent: SERVER_AGENT, token });
    this.socket.on('data', (chunk: Buffer) => {
      try {
        this.deframer.push(chunk, (body, framed) => this.receive(body, framed));
      } catch (err) {
        this.fail(err instanceof Error ? err.message : String(err));
      }
    });
    this.socket.on('error', (err: NodeJS.ErrnoException) => this.fail(err.code ?? err.message));
    this.socket.on('close', () => this.fail('closed by the origin'));
    this.handshake = setTimeout(() => this.fail('the origin did not answer in time'), HANDSHAKE_MS);
    this.handshake.unref();
  }

  /** Asks the origin for a keyframe of the stream (a viewer here asked; the origin rate-limits too). */
  requestKeyframe(): void {
    if (this.originStreamId !== null) this.send({ type: 'keyframe-request', streamId: this.originStreamId });
  }

  /** Closes the link without calling {@link LinkHandlers.closed}. */
  close(): void {
    this.ended = true;
    clearTimeout(this.handshake);
    this.socket.destroy();
  }

  private receive(body: Uint8Array, framed: Uint8Array): void {
    if (this.ended) return;
    const m = decodeMessage(body, PROTOCOL_VERSION);
    switch (m.type) {
      case 'frame': {
        if (m.streamId !== this.originStreamId) return;
        this.framesIn++;
        this.bytesIn += body.length;
        const track = m.track === 'audio' ? 'audio' : 'video';
        const last = this.lastSeq[track];
        if (last >= 0 && m.seq > last + 1) this.framesMissed += m.seq - last - 1;
        this.lastSeq[track] = m.seq;
        this.lastAgeMs = Date.now() - m.captureTime / 1000;
        // A copy: the deframer may hand out a view into a read buffer that is reused.
        this.on.frame(new Uint8Array(framed), m.key, m.track === 'audio');
        return;
      }
      case 'hello':
        this.send({ type: 'subscribe', requestId: 1, room: this.room, name: this.name });
        return;
      case 'stream-added':
        if (m.room !== this.room || m.name !== this.name) return;
        clearTimeout(this.handshake);
        this.originStreamId = m.streamId;
        this.on.added({ video: m.video, audio: m.audio, ...(m.screen ? { screen: true } : {}) });
        return;
      case 'stream-removed':
        if (m.streamId !== this.originStreamId) return;
        this.ended = true;
        this.socket.destroy();
        this.on.removed(m.reason);
        return;
      case 'ping':
        // In-line probes (id > 0) gate the origin's queue for us; keep-alives (id 0) keep us from idling out.
        this.send({ type: 'pong', id: m.id, echoTime: m.time, responderTime: Date.now() * 1000 });
        return;
      case 'error':
        this.fail(`${m.code}: ${m.message}`);
        return;
      default:
        return;
    }
  }

  private send(m: Message): void {
    if (!this.socket.destroyed) this.socket.write(frameMessage(encodeMessage(m, PROTOCOL_VERSION)));
  }

  private fail(error: string): void {
    if (this.ended) return;
    this.ended = true;
    clearTimeout(this.handshake);
    this.socket.destroy();
    this.on.closed(error);
  }
}
