import ndc from 'node-datachannel';
import { orderCandidates } from './answer-candidates.js';
import type { ChildOptions, FromChild, ToChild } from './child-messages.js';
import { H264Depacketizer } from './h264-depacketizer.js';
import { isRtcp, parseRtp, RtpClock, rtcpWantsKeyframe } from './rtp.js';
import type { ChosenTrack } from './sdp-offer.js';
import { Vp8Depacketizer } from './vp8-depacketizer.js';
import { Vp8Packetizer } from './vp8-packetizer.js';

/**
 * The WebRTC side of the server, in its own process: libdatachannel (node-datachannel) runs here, because
 * a call it does not expect in the current state throws a C++ exception that aborts the whole process. A
 * crash here costs the WebRTC sessions, which the server ends and whose clients reconnect; never the relay.
 * Offers arrive already checked (sdp-offer.ts); every native call is still wrapped.
 */

const options = JSON.parse(process.env.FW_WEBRTC_OPTIONS ?? '{}') as ChildOptions;
/** How long candidate gathering may take before the answer goes out with what was found. */
const GATHER_MS = 2000;
/** PLIs we send a WHIP publisher after a loss: at most one a second. */
const PLI_INTERVAL_MS = 1000;
/** RTP packets kept per track to answer NACKs from. */
const NACK_PACKETS = 512;

const post = (m: FromChild): void => {
  if (process.connected) process.send?.(m);
};

/** One peer connection and its tracks. */
interface Session {
  pc: ndc.PeerConnection;
  video: SendTrack | RecvTrack | null;
  audio: SendTrack | RecvTrack | null;
  closed: boolean;
}

/** A track we send (WHEP): frames in, RTP out through node-datachannel's packetizers. */
interface SendTrack {
  kind: 'send';
  track: ndc.Track;
  config: ndc.RtpPacketizationConfig;
  clockRate: number;
  codec: ChosenTrack['codec'];
  vp8: Vp8Packetizer | null;
}

/** A track we receive (WHIP): RTP in, frames out through our depacketizers. */
interface RecvTrack {
  kind: 'recv';
  track: ndc.Track;
  lastPli: number;
}

const sessions = new Map<string, Session>();
let nextSsrc = (Math.random() * 0x7fffffff) >>> 0;

function rtcConfig(): ndc.RtcConfig {
  return {
    iceServers: [],
    disableAutoNegotiation: true,
    enableIceUdpMux: true,
    portRangeBegin: options.port,
    portRangeEnd: options.port,
    bindAddress: options.bindAddress,
  };
}

function open(m: Extract<ToChild, { type: 'open' }>): void {
  const pc = new ndc.PeerConnection(m.id, rtcConfig());
  const session: Session = { pc, video: null, audio: null, closed: false };
  sessions.set(m.id, session);
  pc.onStateChange((state) => {
    if (state === 'connected') post({ type: 'connected', id: m.id });
    else if (state === 'failed' || state === 'closed' || state === 'disconnected') close(m.id, state);
  });
  pc.setRemoteDescription(m.offer, 'offer');
  if (m.role === 'whep') {
    if (m.video) session.video = sendTrack(pc, m.id, m.video, 'video');
    if (m.audio) session.audio = sendTrack(pc, m.id, m.audio, 'audio');
  } else {
    if (m.video) session.video = recvTrack(pc, m.id, m.video, false);
    if (m.audio) session.audio = recvTrack(pc, m.id, m.audio, true);
  }
  let answered = false;
  const answer = () => {
    if (answered || session.closed) return;
    answered = true;
    const local = pc.localDescription();
    if (!local) {
      post({ type: 'failed', id: m.id, message: 'no local description' });
      close(m.id, 'failed');
      return;
    }
    post({ type: 'answer', id: m.id, sdp: orderCandidates(local.sdp, options.publicIp) });
  };
  pc.onGatheringStateChange((state) => {
    if (state === 'complete') setImmediate(answer);
  });
  pc.setLocalDescription('answer');
  if (pc.gatheringState() === 'complete') setImmediate(answer);
  setTimeout(answer, GATHER_MS);
}

function sendTrack(
  pc: ndc.PeerConnection,
  id: string,
  chosen: ChosenTrack,
  kind: 'video' | 'audio',
): SendTrack {
  const ssrc = nextSsrc++ >>> 0;
  const clockRate = kind === 'video' ? 90000 : 48000;
  const media =
    kind === 'video' ? new ndc.Video(chosen.mid, 'SendOnly') : new ndc.Audio(chosen.mid, 'SendOnly');
  if (media instanceof ndc.Video) {
    if (chosen.codec === 'H264') media.addH264Codec(chosen.payloadType, chosen.fmtp);
    else media.addVP8Codec(chosen.payloadType);
  } else {
    media.addOpusCodec(chosen.payloadType);
  }
  media.addSSRC(ssrc, 'framewire', 'framewire', kind);
  const track = pc.addTrack(media);
  const config = new ndc.RtpPacketizationConfig(ssrc, 'framewire', chosen.payloadType, clockRate);
  const reporter = new ndc.RtcpSrReporter(config);
  reporter.addToChain(new ndc.RtcpNackResponder(NACK_PACKETS));
  let vp8: Vp8Packetizer | null = null;
  if (chosen.codec === 'H264') {
    // StartSequence: x264 mixes 3- and 4-byte start codes (GUIDE §5: LongStartSequence broke decoding).
    const packetizer = new ndc.H264RtpPacketizer('StartSequence', config);
    packetizer.addToChain(reporter);
    track.setMediaHandler(packetizer);
  } else if (chosen.codec === 'OPUS') {
    const packetizer = new ndc.RtpPacketizer(config);
    packetizer.addToChain(reporter);
    track.setMediaHandler(packetizer);
  } else {
    // VP8: node-datachannel has no VP8 packetizer; ours writes whole RTP packets through the reporter.
    vp8 = new Vp8Packetizer(ssrc, chosen.payloadType);
    track.setMediaHandler(reporter);
  }
  // The player's RTCP reaches us here: a PLI or FIR asks the publisher for a keyframe.
  track.onMessage((msg) => {
    if (isRtcp(msg) && rtcpWantsKeyframe(msg)) post({ type: 'keyframe-request', id });
  });
  return { kind: 'send', track, config, clockRate, codec: chosen.codec, vp8 };
}

function recvTrack(pc: ndc.PeerConnection, id: string, chosen: ChosenTrack, audio: boolean): RecvTrack {
  const media = audio ? new ndc.Audio(chosen.mid, 'RecvOnly') : new ndc.Video(chosen.mid, 'RecvOnly');
  if (media instanceof ndc.Video) {
    if (chosen.codec === 'H264') media.addH264Codec(chosen.payloadType, chosen.fmtp);
    else media.addVP8Codec(chosen.payloadType);
  } else {
    media.addOpusCodec(chosen.payloadType);
  }
  const track = pc.addTrack(media);
  // Sends receiver reports and REMB, and lets requestKeyframe() send a PLI.
  track.setMediaHandler(new ndc.RtcpReceivingSession());
  const recv: RecvTrack = { kind: 'recv', track, lastPli: 0 };
  const clock = new RtpClock(audio ? 48000 : 90000);
  const depacketizer = audio
    ? null
    : chosen.codec === 'H264'
      ? new H264Depacketizer()
      : new Vp8Depacketizer();
  const started = performance.now();
  let base: number | null = null;
  track.onMessage((msg) => {
    if (isRtcp(msg)) return;
    const rtp = parseRtp(msg);
    if (!rtp || rtp.payloadType !== chosen.payloadType) return;
    // Both tracks on one clock: each starts at its first packet's arrival since the session began.
    base ??= Math.round((performance.now() - started) * 1000);
    if (!depacketizer) {
      if (rtp.payload.length === 0) return;
      const timestamp = base + clock.micros(rtp.timestamp);
      post({ type: 'frame', id, audio: true, key: true, timestamp, data: rtp.payload });
      return;
    }
    for (const frame of depacketizer.push(rtp.payload, rtp.sequence, rtp.timestamp, rtp.marker)) {
      const timestamp = base + clock.micros(frame.timestamp);
      post({ type: 'frame', id, audio: false, key: frame.key, timestamp, data: frame.data });
    }
    if (depacketizer.needsKeyframe) requestPli(recv);
  });
  return recv;
}

/** Sends the WHIP publisher a PLI, at most once per PLI_INTERVAL_MS. */
function requestPli(recv: RecvTrack): void {
  const now = performance.now();
  if (now - recv.lastPli < PLI_INTERVAL_MS || !recv.track.isOpen()) return;
  recv.lastPli = now;
  recv.track.requestKeyframe();
}

function sendFrame(m: Extract<ToChild, { type: 'frame' }>): void {
  const session = sessions.get(m.id);
  const t = m.audio ? session?.audio : session?.video;
  if (!session || session.closed || !t || t.kind !== 'send') return;
  if (t.track.isOpen()) {
    const rtpTime = Math.round((m.timestamp * t.clockRate) / 1_000_000) >>> 0;
    if (t.vp8) {
      for (const packet of t.vp8.packetize(m.data, rtpTime))
        t.track.sendMessageBinary(Buffer.from(packet.buffer));
    } else {
      t.config.timestamp = rtpTime;
      t.track.sendMessageBinary(Buffer.from(m.data.buffer, m.data.byteOffset, m.data.byteLength));
    }
  }
  post({ type: 'sent', id: m.id, bytes: m.data.byteLength, captureTime: m.captureTime });
}

/** Adds trickled remote candidates; a refusal throws, and the message handler ends that session only. */
function addCandidates(m: Extract<ToChild, { type: 'candidates' }>): void {
  const session = sessions.get(m.id);
  if (!session || session.closed) return;
  for (const c of m.candidates) session.pc.addRemoteCandidate(c.candidate, c.mid);
}

function close(id: string, reason: string): void {
  const session = sessions.get(id);
  if (!session || session.closed) return;
  session.closed = true;
  sessions.delete(id);
  // Closed on a later turn: from inside one of its own callbacks, libdatachannel would wait on itself.
  setImmediate(() => {
    try {
      session.pc.close();
    } catch {}
  });
  post({ type: 'closed', id, reason });
}

process.on('message', (m: ToChild) => {
  try {
    switch (m.type) {
      case 'open':
        open(m);
        return;
      case 'frame':
        sendFrame(m);
        return;
      case 'keyframe': {
        const video = sessions.get(m.id)?.video;
        if (video?.kind === 'recv') requestPli({ ...video, lastPli: 0 });
        return;
      }
      case 'candidates':
        addCandidates(m);
        return;
      case 'close':
        close(m.id, 'closed');
        return;
    }
  } catch (err) {
    // A JavaScript-level refusal by node-datachannel ends that session only.
    post({ type: 'failed', id: m.id, message: String(err) });
    close(m.id, 'failed');
  }
});

post({ type: 'ready', id: '' });

// The server went away: nothing is left to serve.
process.on('disconnect', () => {
  for (const id of [...sessions.keys()]) close(id, 'server-gone');
  ndc.cleanup();
  process.exit(0);
});
