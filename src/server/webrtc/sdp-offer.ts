import { WebRtcError } from './errors.js';

/**
 * Limits of an SDP offer, checked before any of it reaches libdatachannel (whose parser runs native code
 * that aborts the process on some inputs). Real offers are 3–8 KB with under 20 candidates.
 */
export const SDP_LIMITS = {
  bytes: 32 * 1024,
  lines: 1000,
  lineChars: 2048,
  mediaSections: 8,
  candidates: 32,
  payloadTypes: 64,
} as const;

/** One codec a media section offers (`a=rtpmap` and its `a=fmtp`). */
export interface OfferedCodec {
  payloadType: number;
  /** Upper case, e.g. `H264`, `VP8`, `OPUS`. */
  name: string;
  clockRate: number;
  fmtp: string;
}

/** One `m=` section of an offer. */
export interface OfferedMedia {
  kind: 'audio' | 'video';
  mid: string;
  /** `sendrecv`, `sendonly`, `recvonly` or `inactive`, as the offerer sees it. */
  direction: string;
  codecs: OfferedCodec[];
}

/** What a track of a session carries: its section's mid, the payload type and the codec. */
export interface ChosenTrack {
  mid: string;
  payloadType: number;
  codec: 'H264' | 'VP8' | 'OPUS';
  fmtp: string;
}

/**
 * Parses and checks an SDP offer as client input: size, line shape, printable ASCII, `v=0` first, ICE
 * credentials and a DTLS fingerprint, 1–8 audio or video sections each with a unique `mid`, bounded
 * candidates and payload types. Throws {@link WebRtcError} FW_BAD_SDP naming the first problem.
 */
export function parseOffer(sdp: string): OfferedMedia[] {
  const bad = (why: string): never => {
    throw new WebRtcError('FW_BAD_SDP', `the SDP offer ${why}`);
  };
  if (Buffer.byteLength(sdp) > SDP_LIMITS.bytes) bad(`is over ${SDP_LIMITS.bytes} bytes`);
  // Printable ASCII, tabs and line ends only: nothing else belongs in the fields we pass on.
  if (/[^\t\r\n\x20-\x7e]/.test(sdp)) bad('holds bytes outside printable ASCII');
  const lines = sdp.split(/\r?\n/).filter((l) => l.length > 0);
  if (lines.length > SDP_LIMITS.lines) bad(`has over ${SDP_LIMITS.lines} lines`);
  if (lines[0] !== 'v=0') bad('does not start with v=0');
  const media: OfferedMedia[] = [];
  let current: OfferedMedia | null = null;
  let candidates = 0;
  let ufrag = false;
  let pwd = false;
  let fingerprint = false;
  const fmtps = new Map<OfferedMedia, Map<number, string>>();
  for (const line of lines) {
    if (line.length > SDP_LIMITS.lineChars) bad(`has a line over ${SDP_LIMITS.lineChars} characters`);
    if (!/^[a-z]=/.test(line))
      bad(`has a line that is not <letter>=<value>: ${JSON.stringify(line.slice(0, 40))}`);
    if (line.startsWith('m=')) {
      const m = /^m=(\w+) \d+ [A-Z/]+((?: \d{1,3})+)$/.exec(line);
      if (!m) bad(`has a malformed m= line: ${JSON.stringify(line.slice(0, 60))}`);
      const kind = (m as RegExpExecArray)[1];
      if (kind !== 'audio' && kind !== 'video') bad(`has a ${kind} section: only audio and video are taken`);
      if (media.length >= SDP_LIMITS.mediaSections)
        bad(`has over ${SDP_LIMITS.mediaSections} media sections`);
      const pts = ((m as RegExpExecArray)[2] as string).trim().split(' ');
      if (pts.length > SDP_LIMITS.payloadTypes) bad(`offers over ${SDP_LIMITS.payloadTypes} payload types`);
      current = { kind: kind as 'audio' | 'video', mid: '', direction: 'sendrecv', codecs: [] };
      fmtps.set(current, new Map());
      media.push(current);
      continue;
    }
    if (line.startsWith('a=candidate:') && ++candidates > SDP_LIMITS.candidates)
      bad(`has over ${SDP_LIMITS.candidates} candidates`);
    if (line.startsWith('a=ice-ufrag:'))
      ufrag = /^a=ice-ufrag:[A-Za-z0-9+/]{4,256}$/.test(line) || bad('has a malformed ice-ufrag');
    if (line.startsWith('a=ice-pwd:'))
      pwd = /^a=ice-pwd:[A-Za-z0-9+/]{22,256}$/.test(line) || bad('has a malformed ice-pwd');
    if (line.startsWith('a=fingerprint:'))
      fingerprint =
        /^a=fingerprint:[a-zA-Z0-9-]+ [0-9A-Fa-f:]+$/.test(line) || bad('has a malformed fingerprint');
    if (!current) continue;
    if (line.startsWith('a=mid:')) {
      const mid = line.slice(6);
      if (!/^[A-Za-z0-9_-]{1,32}$/.test(mid)) bad('has a mid that is not 1-32 letters, digits, - or _');
      if (media.some((s) => s.mid === mid)) bad(`repeats mid ${mid}`);
      current.mid = mid;
    } else if (/^a=(sendrecv|sendonly|recvonly|inactive)$/.test(line)) {
      current.direction = line.slice(2);
    } else if (line.startsWith('a=rtpmap:')) {
      const r = /^a=rtpmap:(\d{1,3}) ([A-Za-z0-9_-]{1,32})\/(\d{1,6})(?:\/\d{1,2})?$/.exec(line);
      if (!r || Number(r[1]) > 127) bad(`has a malformed rtpmap: ${JSON.stringify(line.slice(0, 60))}`);
      const [, pt, name, clock] = r as RegExpExecArray;
      current.codecs.push({
        payloadType: Number(pt),
        name: (name as string).toUpperCase(),
        clockRate: Number(clock),
        fmtp: '',
      });
    } else if (line.startsWith('a=fmtp:')) {
      const f = /^a=fmtp:(\d{1,3}) (\S{1,512})$/.exec(line);
      if (f) fmtps.get(current)?.set(Number(f[1]), f[2] as string);
    }
  }
  if (media.length === 0) bad('has no audio or video section');
  if (!ufrag || !pwd) bad('has no ICE credentials (a=ice-ufrag, a=ice-pwd)');
  if (!fingerprint) bad('has no DTLS fingerprint (a=fingerprint)');
  for (const section of media) {
    if (section.mid === '') bad(`has a ${section.kind} section without a=mid`);
    for (const codec of section.codecs) codec.fmtp = fmtps.get(section)?.get(codec.payloadType) ?? '';
  }
  return media;
}

/** An fmtp parameter's value (`packetization-mode`, `profile-level-id`), lower case, or ''. */
function fmtpParam(fmtp: string, key: string): string {
  for (const part of fmtp.split(';')) {
    const [k, v] = part.split('=');
    if (k?.trim().toLowerCase() === key) return (v ?? '').trim().toLowerCase();
  }
  return '';
}

/**
 * The H.264 codec of `section` we use: packetization-mode 1 (the one our packetizer and depacketizer
 * speak), preferring the profile `profileHex` (e.g. `42`, `64`) and then constrained baseline; null when
 * none is offered.
 */
export function chooseH264(section: OfferedMedia, profileHex = '42'): OfferedCodec | null {
  const mode1 = section.codecs.filter(
    (c) => c.name === 'H264' && c.clockRate === 90000 && fmtpParam(c.fmtp, 'packetization-mode') === '1',
  );
  const profile = (c: OfferedCodec) => fmtpParam(c.fmtp, 'profile-level-id');
  return (
    mode1.find((c) => profile(c).startsWith(profileHex)) ??
    mode1.find((c) => profile(c).startsWith('42e0')) ??
    mode1[0] ??
    null
  );
}

/** The first codec named `name` at `clockRate` in `section`, or null. */
export function chooseCodec(section: OfferedMedia, name: string, clockRate: number): OfferedCodec | null {
  return section.codecs.find((c) => c.name === name && c.clockRate === clockRate) ?? null;
}

/** `codec` of `section` as the track a session sets up. */
export function chosen(section: OfferedMedia, codec: OfferedCodec, as: ChosenTrack['codec']): ChosenTrack {
  return { mid: section.mid, payloadType: codec.payloadType, codec: as, fmtp: codec.fmtp };
}
