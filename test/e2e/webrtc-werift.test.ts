/**
 * Issue 19: a second, independent WebRTC stack talks to the server. The server's side is libdatachannel
 * (node-datachannel, in a child process); the client here is werift, a pure TypeScript stack that shares
 * no code with it, driven from Node with no browser.
 *
 * What this proves: werift's offers are accepted by /whep and /whip, ICE, DTLS and SRTP come up between the
 * two stacks on 127.0.0.1, and RTP flows both ways with the right payloads: as a WHEP player it receives
 * H.264 (an IDR) and VP8 (a keyframe first) and Opus; as a WHIP publisher its VP8 (packetized here from the
 * RFC, fed by ffmpeg) and Opus (ffmpeg's RTP muxer) become a stream a protocol viewer receives, keyframe
 * first, and the server's PLI reaches it over RTCP and is answered.
 *
 * What it does not prove: that the media decodes (nothing here decodes it; the Chromium and Firefox tests
 * do), behaviour under loss, NACK/RTX or congestion control, trickle ICE, or any network but loopback.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  MediaStreamTrack,
  PictureLossIndication,
  RTCPeerConnection,
  RTCRtpCodecParameters,
  RtcpPayloadSpecificFeedback,
  RtpHeader,
  RtpPacket,
} from 'werift';
import type { Message } from '../../src/protocol/index.js';
import { type RelayServer, startServer } from '../../src/server/index.js';
import { type AudioPublisher, startAudioPublisher } from '../helpers/audio-publisher.js';
import { poll } from '../helpers/cli.js';
import { type LivePublisher, startLivePublisher } from '../helpers/live-publisher.js';
import { OpusRtpMicrophone, type SourcePacket, Vp8RtpCamera } from '../helpers/rtp-sources.js';
import { WireClient } from '../helpers/wire-client.js';

type FrameMsg = Extract<Message, { type: 'frame' }>;

/** The codecs werift offers, with the payload types and fmtp a browser would use. */
const CODECS = {
  video: [
    new RTCRtpCodecParameters({
      mimeType: 'video/VP8',
      clockRate: 90000,
      payloadType: 96,
      rtcpFeedback: [{ type: 'nack' }, { type: 'nack', parameter: 'pli' }, { type: 'ccm', parameter: 'fir' }],
    }),
    new RTCRtpCodecParameters({
      mimeType: 'video/H264',
      clockRate: 90000,
      payloadType: 102,
      rtcpFeedback: [{ type: 'nack' }, { type: 'nack', parameter: 'pli' }, { type: 'ccm', parameter: 'fir' }],
      parameters: 'level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f',
    }),
  ],
  audio: [
    new RTCRtpCodecParameters({
      mimeType: 'audio/opus',
      clockRate: 48000,
      channels: 2,
      payloadType: 111,
      parameters: 'minptime=10;useinbandfec=1',
    }),
  ],
};

/**
 * A werift peer that gathers and pairs on 127.0.0.1 only. `vp8Only`: video offers VP8 alone (the server
 * answers a WHIP offer with H.264 whenever it is offered, whatever the offer's order).
 */
function loopbackPeer(vp8Only = false): RTCPeerConnection {
  return new RTCPeerConnection({
    codecs: vp8Only ? { ...CODECS, video: CODECS.video.filter((c) => c.mimeType === 'video/VP8') } : CODECS,
    // One ICE transport for every m-line, as browsers do: with werift's default (max-compat) each m-line
    // gathers its own, and the ones BUNDLE leaves unused are never closed by pc.close(), so their UDP
    // sockets kept this test file's process alive after its tests passed.
    bundlePolicy: 'max-bundle',
    iceUseIpv6: false,
    iceAdditionalHostAddresses: ['127.0.0.1'],
    iceInterfaceAddresses: { udp4: '127.0.0.1' },
    iceFilterCandidatePair: (pair) =>
      pair.localCandidate.host === '127.0.0.1' && pair.remoteCandidate.host === '127.0.0.1',
  });
}

/**
 * The non-trickle WHIP/WHEP exchange (RFC 9725): offer with every candidate, POST as application/sdp,
 * 201 with the answer and a Location, answer applied. Returns the session URL and the answer.
 */
async function exchange(pc: RTCPeerConnection, url: string): Promise<{ location: string; answer: string }> {
  await pc.setLocalDescription(await pc.createOffer());
  if (pc.iceGatheringState !== 'complete') {
    await Promise.race([
      new Promise<void>((resolve) =>
        pc.iceGatheringStateChange.subscribe((s) => s === 'complete' && resolve()),
      ),
      new Promise((r) => setTimeout(r, 5000)),
    ]);
  }
  const offer = pc.localDescription?.sdp ?? '';
  assert.match(offer, /a=candidate:\S+ 1 udp \d+ 127\.0\.0\.1 /i, 'the offer has a loopback candidate');
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/sdp' },
    body: offer,
  });
  const answer = await res.text();
  assert.equal(res.status, 201, `POST ${url}: ${answer}`);
  assert.equal(res.headers.get('content-type'), 'application/sdp');
  const location = res.headers.get('location') ?? '';
  await pc.setRemoteDescription({ type: 'answer', sdp: answer });
  return { location, answer };
}

/** Resolves when the peer connection is connected; rejects after `ms`. */
function connected(pc: RTCPeerConnection, ms: number): Promise<void> {
  if (pc.connectionState === 'connected') return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`still ${pc.connectionState} after ${ms} ms`)), ms);
    pc.connectionStateChange.subscribe((s) => {
      if (s === 'connected') {
        clearTimeout(timer);
        resolve();
      }
    });
  });
}

/** The codec name an answer gives a payload type (`a=rtpmap:PT NAME/...`). */
function codecOf(sdp: string, payloadType: number): string | undefined {
  return new RegExp(`a=rtpmap:${payloadType} ([^/\\s]+)/`).exec(sdp)?.[1]?.toUpperCase();
}

/** Length of the VP8 payload descriptor (RFC 7741 §4.2) at the start of a payload, with its S bit. */
function vp8Descriptor(p: Buffer): { size: number; start: boolean; partition: number } {
  const b0 = p[0] ?? 0;
  let size = 1;
  if (b0 & 0x80) {
    const x = p[1] ?? 0;
    size = 2;
    if (x & 0x80) size += (p[2] ?? 0) & 0x80 ? 2 : 1;
    if (x & 0x40) size += 1;
    if (x & 0x30) size += 1;
  }
  return { size, start: (b0 & 0x10) !== 0, partition: b0 & 0x07 };
}

/** True when a VP8 RTP payload starts a keyframe: S=1, partition 0, and the frame's P bit 0. */
function startsVp8Keyframe(p: Buffer): boolean {
  const d = vp8Descriptor(p);
  const first = p[d.size];
  return d.start && d.partition === 0 && first !== undefined && (first & 0x01) === 0;
}

/** True when an H.264 RTP payload (RFC 6184) carries an IDR: NAL type 5 alone, in a STAP-A, or a FU-A start. */
function carriesH264Idr(p: Buffer): boolean {
  const type = (p[0] ?? 0) & 0x1f;
  if (type === 5) return true;
  if (type === 24) {
    // STAP-A: 16-bit sizes, each followed by a NAL unit.
    for (let at = 1; at + 2 < p.length; ) {
      const size = p.readUInt16BE(at);
      if (((p[at + 2] ?? 0) & 0x1f) === 5) return true;
      at += 2 + size;
    }
    return false;
  }
  if (type === 28) return ((p[1] ?? 0) & 0x80) !== 0 && ((p[1] ?? 0) & 0x1f) === 5;
  return false;
}

/** What a werift WHEP player received. */
interface Received {
  videoPackets: number;
  /** Distinct RTP timestamps on the video track: frames. */
  videoFrames: number;
  videoPayloadTypes: Set<number>;
  /** Whether the first video frame (the packets of the first timestamp) is a keyframe; frames that are. */
  firstFrameKey: boolean | null;
  keyframes: number;
  audioPackets: number;
  audioPayloadTypes: Set<number>;
}

/**
 * Plays `url` with werift: recvonly video and audio transceivers, the offer POSTed, RTP counted until
 * `enough` says so or 20 s pass, then the session ended with DELETE (RFC 9725 §4.2) and the peer closed.
 * Returns what arrived, the answer, the session URL and the DELETE's status.
 */
async function playWhep(
  url: string,
  codec: 'VP8' | 'H264',
  enough: (r: Received) => boolean,
): Promise<{ received: Received; answer: string; location: string; deleteStatus: number }> {
  const pc = loopbackPeer();
  const received: Received = {
    videoPackets: 0,
    videoFrames: 0,
    videoPayloadTypes: new Set(),
    firstFrameKey: null,
    keyframes: 0,
    audioPackets: 0,
    audioPayloadTypes: new Set(),
  };
  try {
    pc.addTransceiver('video', { direction: 'recvonly' });
    pc.addTransceiver('audio', { direction: 'recvonly' });
    let firstTimestamp: number | null = null;
    let lastTimestamp: number | null = null;
    let keyCounted = false;
    pc.onTrack.subscribe((track: MediaStreamTrack) => {
      track.onReceiveRtp.subscribe((rtp) => {
        if (track.kind === 'audio') {
          received.audioPackets++;
          received.audioPayloadTypes.add(rtp.header.payloadType);
          return;
        }
        received.videoPackets++;
        received.videoPayloadTypes.add(rtp.header.payloadType);
        const { timestamp } = rtp.header;
        if (timestamp !== lastTimestamp) {
          lastTimestamp = timestamp;
          keyCounted = false;
          received.videoFrames++;
        }
        if (firstTimestamp === null) {
          firstTimestamp = timestamp;
          received.firstFrameKey = false;
        }
        // A frame's packets share a timestamp: an H.264 IDR may follow SPS and PPS packets, or span slices.
        const key = codec === 'VP8' ? startsVp8Keyframe(rtp.payload) : carriesH264Idr(rtp.payload);
        if (key && timestamp === firstTimestamp) received.firstFrameKey = true;
        if (key && !keyCounted) {
          keyCounted = true;
          received.keyframes++;
        }
      });
    });
    const { answer, location } = await exchange(pc, url);
    await connected(pc, 15_000);
    await poll(() => enough(received), 20_000, 'enough RTP').catch((err: Error) => {
      throw new Error(`${err.message}; received ${JSON.stringify(counts(received))}`);
    });
    const deleted = await fetch(new URL(location, url), { method: 'DELETE' });
    return { received, answer, location, deleteStatus: deleted.status };
  } finally {
    await pc.close();
  }
}

/** The numbers of {@link Received}, for messages. */
function counts(r: Received): Record<string, unknown> {
  return { ...r, videoPayloadTypes: [...r.videoPayloadTypes], audioPayloadTypes: [...r.audioPayloadTypes] };
}

describe('werift, a second WebRTC stack, publishes and plays (issue 19)', () => {
  let server: RelayServer;
  let h264: LivePublisher | null = null;
  let vp8: AudioPublisher | null = null;
  const clients: WireClient[] = [];
  const logs: string[] = [];

  before(async () => {
    server = await startServer({ tcpPort: 0, httpPort: 0, webrtcPort: 0, log: (l) => logs.push(l) });
  });

  after(async () => {
    if (process.env.FW_TEST_LOGS)
      console.log(logs.filter((l) => /whip|whep|webrtc|error/.test(l)).join('\n'));
    for (const c of clients) c.close();
    await h264?.stop();
    await vp8?.stop();
    await server?.close();
    // A UDP socket left open keeps this file's process alive after its tests pass, and CI waits on it
    // until its timeout: fail here instead, naming what is left.
    const udp = process.getActiveResourcesInfo().filter((r) => r === 'UDPWrap');
    assert.equal(udp.length, 0, `UDP sockets still open after every peer closed: ${udp.length}`);
  });

  it('WHEP: plays H.264 from a live publisher, starting at an IDR', { timeout: 60_000 }, async () => {
    h264 = await startLivePublisher(server.tcpPort, 'lab', 'h264cam', { codec: 'h264', fps: 30 });
    const { received, answer, location, deleteStatus } = await playWhep(
      `${server.httpUrl}/whep/lab/h264cam`,
      'H264',
      (r) => r.videoFrames >= 60,
    );
    assert.match(location, /^\/whep\/lab\/h264cam\/[0-9a-f]{32}$/);
    assert.deepEqual(
      [...received.videoPayloadTypes].map((pt) => codecOf(answer, pt)),
      ['H264'],
    );
    assert.equal(received.firstFrameKey, true, 'the first frame carries an IDR');
    assert.ok(received.keyframes >= 1);
    console.log(`werift whep h264: ${JSON.stringify(counts(received))}`);
    // The session ended with DELETE (werift's close sends no DTLS close_notify: without the DELETE the
    // server would keep the player until ICE consent expires, ~30 s): the player is gone at once.
    assert.equal(deleteStatus, 200);
    await poll(
      () => server.stats().streams.find((s) => s.name === 'h264cam')?.players === 0,
      5000,
      'the player gone',
    );
    await h264.stop();
    h264 = null;
  });

  it('WHEP: plays VP8 and Opus, keyframe first, sound arriving', { timeout: 60_000 }, async () => {
    vp8 = await startAudioPublisher(server.tcpPort, 'lab', 'vp8cam');
    const { received, answer, deleteStatus } = await playWhep(
      `${server.httpUrl}/whep/lab/vp8cam`,
      'VP8',
      (r) => r.videoFrames >= 60 && r.audioPackets >= 100,
    );
    assert.deepEqual(
      [...received.videoPayloadTypes].map((pt) => codecOf(answer, pt)),
      ['VP8'],
    );
    assert.deepEqual(
      [...received.audioPayloadTypes].map((pt) => codecOf(answer, pt)),
      ['OPUS'],
    );
    assert.equal(received.firstFrameKey, true, 'the first frame is a keyframe');
    // The clip's keyframe interval is 1 s: 60 frames hold at least two.
    assert.ok(received.keyframes >= 2, `keyframes ${received.keyframes}`);
    assert.equal(deleteStatus, 200);
    console.log(`werift whep vp8+opus: ${JSON.stringify(counts(received))}`);
    await vp8.stop();
    vp8 = null;
  });

  it('WHIP: publishes VP8 and Opus, a viewer gets a keyframe first, PLI is answered', {
    timeout: 90_000,
  }, async () => {
    const pc = loopbackPeer(true);
    const videoTrack = new MediaStreamTrack({ kind: 'video' });
    const audioTrack = new MediaStreamTrack({ kind: 'audio' });
    const write = (track: MediaStreamTrack, p: SourcePacket): void => {
      if (pc.connectionState !== 'connected') return;
      const header = new RtpHeader({
        sequenceNumber: p.sequenceNumber,
        timestamp: p.timestamp,
        marker: p.marker,
        payloadType: 0, // werift's sender puts the negotiated payload type and its SSRC in
      });
      track.writeRtp(new RtpPacket(header, p.payload));
    };
    const camera = new Vp8RtpCamera((p) => write(videoTrack, p));
    const mic = new OpusRtpMicrophone((p) => write(audioTrack, p));
    let plis = 0;
    let lastPliAt = 0;
    try {
      const video = pc.addTransceiver(videoTrack, { direction: 'sendonly' });
      pc.addTransceiver(audioTrack, { direction: 'sendonly' });
      // The server's keyframe requests arrive as RTCP on the video sender: a PLI (or FIR) restarts the encoder.
      video.sender.onRtcp.subscribe((rtcp) => {
        if (
          rtcp instanceof RtcpPayloadSpecificFeedback &&
          rtcp.feedback.count === PictureLossIndication.count
        ) {
          plis++;
          lastPliAt = performance.now();
          if (process.env.FW_TEST_LOGS) console.log(`PLI at frame ${camera.frames}`);
          camera.requestKeyframe();
        }
      });
      const { location, answer } = await exchange(pc, `${server.httpUrl}/whip/lab/werift`);
      assert.match(location, /^\/whip\/lab\/werift\/[0-9a-f]{32}$/);
      assert.match(answer, /a=rtpmap:96 VP8\/90000/);
      assert.match(answer, /a=rtpmap:111 opus\/48000\/2/i);
      await connected(pc, 15_000);
      camera.start();
      await mic.start();
      await poll(() => server.relay.findStream('lab', 'werift'), 10_000, 'the WHIP stream');

      const viewer = await WireClient.hello(server.tcpPort, 'viewer');
      clients.push(viewer);
      viewer.send({ type: 'subscribe', requestId: 1, room: 'lab', name: 'werift' });
      const added = await viewer.next((m) => m.type === 'stream-added', 15_000);
      assert.ok(added.type === 'stream-added');
      assert.equal(added.video?.codec, 'vp8');
      assert.equal(added.video?.codedWidth, 320);
      assert.equal(added.video?.codedHeight, 240);
      assert.equal(added.audio?.codec, 'opus');
      const frames = await viewer.until(() => {
        const all = viewer.frames() as FrameMsg[];
        const v = all.filter((f) => f.track !== 'audio');
        const a = all.filter((f) => f.track === 'audio');
        return v.length >= 60 && a.length >= 50 && { v, a };
      }, 20_000);
      assert.equal(camera.failure, null);
      assert.ok(frames.v[0]?.key, 'the first video frame is a keyframe');
      const span = (frames.v.at(-1)?.timestamp ?? 0) - (frames.v[0]?.timestamp ?? 0);
      assert.ok(span > 1_000_000, `60 frames at 30 fps span ${span} µs`);

      // Keyframes come every 600 frames (20 s) on their own: one within seconds of a request is the answer
      // to the PLI the relay's request became. The server sends at most one PLI a second (and the camera
      // restarts at most twice a second): the request goes once the last PLI is over a second old, so
      // neither limit swallows it.
      await poll(() => performance.now() - lastPliAt > 1100, 5000, 'a second without PLI');
      const keys = () => (viewer.frames() as FrameMsg[]).filter((f) => f.track !== 'audio' && f.key).length;
      const keysBefore = keys();
      const plisBefore = plis;
      const restartsBefore = camera.restarts;
      const stream = server.relay.findStream('lab', 'werift');
      assert.ok(stream);
      stream.requestKeyframe(0);
      await viewer.until(() => keys() > keysBefore, 10_000);
      assert.ok(plis > plisBefore, 'werift saw a PLI');
      assert.ok(camera.restarts > restartsBefore, 'the keyframe answers that PLI');

      const stats = (await (await fetch(`${server.httpUrl}${location}`)).json()) as {
        frames: number;
        keyframes: number;
        audioFrames: number;
      };
      console.log(
        `werift whip: sent ${camera.frames} frames (${camera.keyframes} key), ${mic.packets} opus; server ${JSON.stringify(stats)}; plis ${plis}`,
      );
      const deleted = await fetch(`${server.httpUrl}${location}`, { method: 'DELETE' });
      assert.equal(deleted.status, 200);
      await poll(() => server.relay.findStream('lab', 'werift') === undefined, 5000, 'stream ended');
    } finally {
      camera.stop();
      mic.stop();
      await pc.close();
    }
  });
});
