/**
 * Bench-only WHEP sidecar on the werift WebRTC stack (pure TypeScript), fed by a Framewire server over its
 * own protocol. It sends the same frames as Framewire's WHEP (node-datachannel), with the same RTP
 * timestamps and nearly the same packets (below), so the bench can weigh the WebRTC stack alone: CPU per
 * WHEP viewer-second, werift against libdatachannel.
 *
 *   node --import tsx bench/framewire/werift-whep.ts <framewireTcpPort>
 *
 * Prints `werift-whep listening on http://127.0.0.1:PORT` on stdout once listening; everything else goes to
 * stderr. POST /whep/<room>/<stream> (SDP offer, no trickle) → 201 with the answer and a Location;
 * DELETE /whep/session/<id> → 200. One Framewire viewer connection per room/stream, shared by its peers.
 */
import { randomBytes, randomInt } from 'node:crypto';
import http from 'node:http';
import {
  RTCPeerConnection,
  RTCRtpCodecParameters,
  type RTCRtpSender,
  type RTCRtpTransceiver,
  RtpHeader,
  RtpPacket,
} from 'werift';
import { connect, type FramewireClient } from '../../src/client/index.js';
import { type AvcConfig, avccToAnnexB, parseAvcC, splitAnnexB } from '../../src/media/h264.js';
import { badName, type FrameMessage, type StreamAddedMessage } from '../../src/protocol/index.js';
import { readBody } from '../../src/server/http/reply.js';

/**
 * Largest RTP payload: 1220 bytes, libdatachannel's bound (its H.264 packetizer is what Framewire's own WHEP
 * sends with). Its fragments are not cut the same way (it splits a NAL in equal parts, then takes the FU
 * headers off, leaving a few-byte tail packet), so on the bench clip this side sends ~7% fewer packets for
 * the same bytes: a small edge to werift in the CPU comparison, noted in bench/README.md.
 */
const MAX_RTP_PAYLOAD = 1220;
// The cached GOP's bounds: past either, the GOP is dropped and new peers wait for the next keyframe.
const GOP_MAX_FRAMES = 300;
const GOP_MAX_BYTES = 8 * 1024 * 1024;
// Bounds on what clients can make us hold: offer size, peers, feeds (one per room/stream).
const MAX_OFFER_BYTES = 64 * 1024;
const MAX_PEERS = 4096;
const MAX_FEEDS = 64;
// A peer that has not connected by then never will (its client went away mid-exchange): free it.
const CONNECT_DEADLINE_MS = 30_000;

const port = Number(process.argv[2]);
if (!Number.isInteger(port) || port <= 0 || port > 65535) {
  process.stderr.write('usage: node --import tsx bench/framewire/werift-whep.ts <framewireTcpPort>\n');
  process.exit(2);
}

const CODECS = {
  video: [
    new RTCRtpCodecParameters({
      mimeType: 'video/H264',
      clockRate: 90000,
      payloadType: 102,
      rtcpFeedback: [{ type: 'nack' }, { type: 'nack', parameter: 'pli' }],
      parameters: 'level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f',
    }),
  ],
  // Audio is answered inactive; these only keep werift from rejecting an offer with an audio m-line.
  audio: [
    new RTCRtpCodecParameters({ mimeType: 'audio/opus', clockRate: 48000, channels: 2, payloadType: 111 }),
    new RTCRtpCodecParameters({ mimeType: 'audio/PCMU', clockRate: 8000, payloadType: 0 }),
  ],
};

/** One access unit, packetized once per stream: every peer sends these same payloads. */
interface AccessUnit {
  timestamp: number;
  key: boolean;
  payloads: Buffer[];
  bytes: number;
}

/**
 * RTP payloads of an Annex B access unit (RFC 6184): a NAL unit that fits is a Single NAL Unit packet
 * (§5.6); a larger one becomes FU-A fragments (§5.8): indicator = its F|NRI with type 28, header = S/E bits
 * with its type, then a slice of the NAL after its header byte.
 */
function packetizeH264(annexB: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (const nal of splitAnnexB(annexB)) {
    const head = nal[0];
    if (head === undefined) continue;
    if (nal.length <= MAX_RTP_PAYLOAD) {
      out.push(nal as Buffer);
      continue;
    }
    const step = MAX_RTP_PAYLOAD - 2;
    for (let at = 1; at < nal.length; at += step) {
      const end = Math.min(at + step, nal.length);
      const p = Buffer.allocUnsafe(2 + end - at);
      p[0] = (head & 0xe0) | 28;
      p[1] = (at === 1 ? 0x80 : 0) | (end === nal.length ? 0x40 : 0) | (head & 0x1f);
      p.set(nal.subarray(at, end), 2);
      out.push(p);
    }
  }
  return out;
}

const ignore = (): void => {};

/** One WHEP player: its werift peer, its own sequence numbers, and whether it has started at a keyframe. */
class Peer {
  state: 'connecting' | 'waiting' | 'live' | 'closed' = 'connecting';
  private seq = randomInt(0x10000);

  constructor(
    readonly id: string,
    readonly pc: RTCPeerConnection,
    readonly sender: RTCRtpSender,
    readonly payloadType: number,
  ) {}

  send(au: AccessUnit): void {
    const last = au.payloads.length - 1;
    for (let i = 0; i <= last; i++) {
      const header = new RtpHeader({
        payloadType: this.payloadType,
        sequenceNumber: this.seq,
        timestamp: au.timestamp,
        marker: i === last,
        ssrc: this.sender.ssrc,
      });
      this.seq = (this.seq + 1) & 0xffff;
      // werift encrypts and hands the packet to the socket before its first await: order is kept.
      this.sender.sendRtp(new RtpPacket(header, au.payloads[i] as Buffer)).catch(ignore);
    }
  }
}

/** One room/stream: its Framewire viewer connection, its cached GOP, and the peers it feeds. */
class Feed {
  readonly peers = new Set<Peer>();
  readonly ready: Promise<void>;
  private client: FramewireClient | null = null;
  private gop: AccessUnit[] = [];
  private gopBytes = 0;
  private h264 = false;
  private avc: AvcConfig | null = null;
  closed = false;

  constructor(
    readonly key: string,
    readonly room: string,
    readonly name: string,
  ) {
    this.ready = this.open();
    // Failing to reach Framewire ends the feed; its POSTs answer the error when they await `ready`.
    this.ready.catch((err: Error) => {
      log(`${key}: ${err.message}`);
      this.close();
    });
  }

  private async open(): Promise<void> {
    const client = await connect({ host: '127.0.0.1', port, role: 'viewer', agent: 'werift-whep' });
    this.client = client;
    if (this.closed) {
      client.close();
      return;
    }
    client.on('stream-added', (m) => this.tracks(m));
    client.on('stream-updated', (m) => this.tracks(m));
    client.on('stream-removed', () => this.dropGop());
    client.on('frame', (m) => this.frame(m));
    client.on('close', (err) => {
      if (!this.closed) log(`framewire connection for ${this.key} ended: ${err?.message ?? 'closed'}`);
      this.close();
    });
    await client.subscribe(this.room, this.name);
  }

  private tracks(m: StreamAddedMessage): void {
    const codec = m.video?.codec ?? '';
    this.h264 = codec.startsWith('avc1') || codec.startsWith('avc3');
    // A stream published as AVC (length prefixes plus avcC) is turned into Annex B before cutting.
    this.avc = this.h264 && m.video?.description ? parseAvcC(m.video.description) : null;
    if (!this.h264) log(`${this.key}: video ${codec || 'none'} is not H.264, ignored`);
    this.dropGop();
  }

  private dropGop(): void {
    this.gop = [];
    this.gopBytes = 0;
  }

  private frame(m: FrameMessage): void {
    if (m.track === 'audio' || !this.h264) return;
    // The payload is a view into the client's receive buffer: copy once, since the GOP outlives it.
    const data = this.avc ? Buffer.from(avccToAnnexB(m.payload, this.avc, m.key)) : Buffer.from(m.payload);
    const au: AccessUnit = {
      timestamp: Math.round((m.timestamp * 90000) / 1_000_000) >>> 0,
      key: m.key,
      payloads: packetizeH264(data),
      bytes: data.length,
    };
    if (au.key) this.dropGop();
    if (au.key || this.gop.length > 0) {
      this.gop.push(au);
      this.gopBytes += au.bytes;
      if (this.gop.length > GOP_MAX_FRAMES || this.gopBytes > GOP_MAX_BYTES) this.dropGop();
    }
    for (const peer of this.peers) {
      if (peer.state === 'waiting' && au.key) peer.state = 'live';
      if (peer.state === 'live') peer.send(au);
    }
  }

  /** Starts a newly connected peer at the cached GOP's keyframe, or at the next keyframe if none. */
  start(peer: Peer): void {
    if (peer.state !== 'connecting') return;
    peer.state = 'waiting';
    if (this.gop[0]?.key !== true) return;
    peer.state = 'live';
    for (const au of this.gop) peer.send(au);
  }

  /** Removes a peer; the last one out closes the Framewire connection. */
  remove(peer: Peer): void {
    this.peers.delete(peer);
    if (this.peers.size === 0) this.close();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    feeds.delete(this.key);
    this.client?.close();
    for (const peer of this.peers) closePeer(peer);
  }
}

const feeds = new Map<string, Feed>();
const peers = new Map<string, { peer: Peer; feed: Feed }>();

function log(line: string): void {
  process.stderr.write(`werift-whep: ${line}\n`);
}

function closePeer(peer: Peer): void {
  if (peer.state === 'closed') return;
  peer.state = 'closed';
  const entry = peers.get(peer.id);
  peers.delete(peer.id);
  entry?.feed.remove(peer);
  peer.pc.close().catch(ignore);
}

/** A request's fault, answered with its status and a one-line reason. */
class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** The first H.264 codec with packetization-mode=1 that werift matched in the offer's video m-line. */
function chooseH264(t: RTCRtpTransceiver): RTCRtpCodecParameters {
  const codec = t.codecs.find(
    (c) => c.mimeType.toLowerCase() === 'video/h264' && /packetization-mode=1/.test(c.parameters ?? ''),
  );
  if (!codec) throw new HttpError(400, 'offer has no H.264 with packetization-mode=1');
  return codec;
}

/** Answers one offer: a werift peer with a sendonly H.264 video, gathered on 127.0.0.1, not trickled. */
async function play(room: string, name: string, offer: string): Promise<{ id: string; answer: string }> {
  if (peers.size >= MAX_PEERS) throw new HttpError(503, `too many peers (${MAX_PEERS})`);
  const key = `${room}/${name}`;
  let feed = feeds.get(key);
  if (!feed) {
    if (feeds.size >= MAX_FEEDS) throw new HttpError(503, `too many streams (${MAX_FEEDS})`);
    feed = new Feed(key, room, name);
    feeds.set(key, feed);
  }
  await feed.ready.catch((err: Error) => {
    throw new HttpError(502, err.message);
  });
  const pc = new RTCPeerConnection({
    codecs: CODECS,
    // One transport for all m-lines: with werift's default (max-compat) the unused ones leak UDP sockets.
    bundlePolicy: 'max-bundle',
    iceServers: [],
    // werift gathers every non-loopback interface (and binds each socket to iceInterfaceAddresses anyway):
    // with both families off it gathers only the added 127.0.0.1, one socket and one candidate per peer.
    iceUseIpv4: false,
    iceUseIpv6: false,
    iceAdditionalHostAddresses: ['127.0.0.1'],
    iceInterfaceAddresses: { udp4: '127.0.0.1' },
    // Only the local end is pinned: a client bound to all interfaces offers its eth0 address, which a
    // loopback socket still reaches on this host.
    iceFilterCandidatePair: (pair) => pair.localCandidate.host === '127.0.0.1',
  });
  const id = randomBytes(16).toString('hex');
  let peer: Peer | null = null;
  try {
    await pc.setRemoteDescription({ type: 'offer', sdp: offer }).catch((err: Error) => {
      throw new HttpError(400, `bad offer: ${err.message}`);
    });
    const video = pc.getTransceivers().find((t) => t.kind === 'video');
    if (!video) throw new HttpError(400, 'offer has no video m-line');
    const codec = chooseH264(video);
    // werift matched codecs by name only and took the first for sending: pin the one we packetize for.
    video.codecs = [codec];
    video.sender.codec = codec;
    video.setDirection('sendonly');
    peer = new Peer(id, pc, video.sender, codec.payloadType);
    const p = peer;
    feed.peers.add(p);
    peers.set(id, { peer: p, feed });
    // The feed may have ended while werift parsed the offer (its last peer left, Framewire went away).
    if (feed.closed) throw new HttpError(503, `feed for ${key} ended, try again`);
    pc.connectionStateChange.subscribe((state) => {
      if (state === 'connected') feed.start(p);
      else if (state === 'failed' || state === 'closed') closePeer(p);
    });
    setTimeout(() => p.state === 'connecting' && closePeer(p), CONNECT_DEADLINE_MS).unref();
    // setLocalDescription returns once gathering is done: the answer carries every candidate.
    await pc.setLocalDescription(await pc.createAnswer());
    const answer = pc.localDescription?.sdp;
    if (!answer) throw new Error('werift made no answer');
    return { id, answer };
  } catch (err) {
    if (peer) closePeer(peer);
    else {
      pc.close().catch(ignore);
      if (feed.peers.size === 0) feed.close();
    }
    throw err;
  }
}

async function route(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  const parts = new URL(req.url ?? '/', 'http://x').pathname.split('/');
  const [, whep, a, b, extra] = parts;
  if (whep !== 'whep' || a === undefined || b === undefined || extra !== undefined)
    throw new HttpError(404, 'not found');
  if (req.method === 'DELETE' && a === 'session') {
    const entry = peers.get(b);
    if (!entry) throw new HttpError(404, 'no such session');
    closePeer(entry.peer);
    res.writeHead(200).end();
    return;
  }
  if (req.method !== 'POST') throw new HttpError(405, 'POST an offer or DELETE a session');
  const [room, name] = [a, b].map((s) => {
    try {
      return decodeURIComponent(s);
    } catch {
      throw new HttpError(400, 'bad percent-encoding in path');
    }
  }) as [string, string];
  const bad = badName(room, 'room') ?? badName(name, 'stream name');
  if (bad) throw new HttpError(400, bad);
  const body = await readBody(req, MAX_OFFER_BYTES);
  if (body === 'gone') throw new HttpError(400, 'the client hung up');
  if (body === null) throw new HttpError(413, `offer over ${MAX_OFFER_BYTES} bytes`);
  const offer = body.toString('utf8');
  if (!offer.startsWith('v=0')) throw new HttpError(400, 'body is not an SDP offer');
  const { id, answer } = await play(room, name, offer);
  res.writeHead(201, { 'content-type': 'application/sdp', location: `/whep/session/${id}` }).end(answer);
}

const server = http.createServer((req, res) => {
  route(req, res).catch((err: unknown) => {
    const status = err instanceof HttpError ? err.status : 500;
    const reason = (err instanceof Error ? err.message : String(err)).split('\n')[0] ?? '';
    if (status >= 500) log(`${req.method} ${req.url}: ${reason}`);
    if (!res.headersSent) res.writeHead(status, { 'content-type': 'text/plain' }).end(`${reason}\n`);
    else res.destroy();
  });
});
server.on('clientError', (_err, socket) => socket.destroy());
server.listen(0, '127.0.0.1', () => {
  const address = server.address();
  const at = typeof address === 'object' && address ? address.port : 0;
  process.stdout.write(`werift-whep listening on http://127.0.0.1:${at}\n`);
});

function shutdown(): void {
  for (const feed of [...feeds.values()]) feed.close();
  for (const { peer } of [...peers.values()]) closePeer(peer);
  server.closeAllConnections();
  server.close(() => process.exit(0));
  // Peers close asynchronously (DTLS, sockets): do not wait on them past a moment.
  setTimeout(() => process.exit(0), 1000).unref();
}
process.once('SIGTERM', shutdown);
process.once('SIGINT', shutdown);
