import { isIP } from 'node:net';
import { WebRtcError } from './errors.js';
import { type OfferedMedia, SDP_LIMITS } from './sdp-offer.js';

/** Largest trickle ICE PATCH body: a browser's whole gathering is under 2 KB, so 16 KB is ample. */
export const FRAGMENT_BYTES = 16 * 1024;

/** What a session's trickled fragments are checked against: its offer's ICE facts and candidates so far. */
export interface SessionIce {
  ufrag: string;
  mids: readonly string[];
  /** Candidates the session has had, from the offer and every PATCH: at most SDP_LIMITS.candidates. */
  candidates: number;
}

/** One remote candidate for libdatachannel: the line without `a=`, and its section's mid. */
export interface TrickledCandidate {
  candidate: string;
  mid: string;
}

/** The ICE facts of an offer parseOffer accepted (its first ufrag: browsers bundle, so there is one). */
export function offerIce(offer: string, media: readonly OfferedMedia[]): SessionIce {
  const ufrag = /^a=ice-ufrag:(\S+)$/m.exec(offer)?.[1] ?? '';
  const candidates = offer.match(/^a=candidate:/gm)?.length ?? 0;
  return { ufrag, mids: media.map((s) => s.mid), candidates };
}

/**
 * RFC 8839's candidate attribute: foundation, component, transport, priority, address, port, type, then
 * name/value pairs (raddr, rport, tcptype, generation, ufrag, network-id...).
 */
const CANDIDATE =
  /^candidate:[A-Za-z0-9+/]{1,32} \d{1,3} (?:udp|tcp) \d{1,10} (\S{1,253}) (\d{1,5}) typ (?:host|srflx|prflx|relay)((?: [A-Za-z0-9+/._:-]{1,64} [A-Za-z0-9+/._:-]{1,64}){0,10})$/i;

/**
 * An address we let libdatachannel use: an IP literal, or a browser's mDNS name (`<uuid>.local`). Other
 * host names are refused, or a stranger could have the server resolve any name through its DNS.
 */
function knownAddress(address: string): boolean {
  return isIP(address) !== 0 || /^[A-Za-z0-9-]{1,64}\.local$/.test(address);
}

/**
 * Parses and checks an `application/trickle-ice-sdpfrag` body (RFC 8840) against its session: printable
 * ASCII lines of <letter>=<value>, candidates in well-formed shape under an `a=mid` of the offer, and no
 * more than SDP_LIMITS.candidates in the session. Returns the candidates to add (and counts them in `ice`);
 * throws {@link WebRtcError} FW_BAD_SDP naming the first problem, or FW_ICE_RESTART for another ufrag.
 */
export function parseFragment(fragment: string, ice: SessionIce): TrickledCandidate[] {
  const bad = (why: string): never => {
    throw new WebRtcError('FW_BAD_SDP', `the trickle ICE fragment ${why}`);
  };
  const restart = (): never => {
    throw new WebRtcError(
      'FW_ICE_RESTART',
      'the fragment has another ice-ufrag than the offer: ICE restarts are not supported, POST a new offer',
    );
  };
  if (Buffer.byteLength(fragment) > FRAGMENT_BYTES) bad(`is over ${FRAGMENT_BYTES} bytes`);
  if (/[^\t\r\n\x20-\x7e]/.test(fragment)) bad('holds bytes outside printable ASCII');
  const found: TrickledCandidate[] = [];
  let mid: string | null = null;
  for (const line of fragment.split(/\r?\n/)) {
    if (line === '') continue;
    if (line.length > SDP_LIMITS.lineChars) bad(`has a line over ${SDP_LIMITS.lineChars} characters`);
    if (!/^[a-z]=/.test(line))
      bad(`has a line that is not <letter>=<value>: ${JSON.stringify(line.slice(0, 40))}`);
    if (line.startsWith('a=ice-ufrag:')) {
      const ufrag = line.slice(12);
      if (!/^[A-Za-z0-9+/]{4,256}$/.test(ufrag)) bad('has a malformed ice-ufrag');
      if (ufrag !== ice.ufrag) restart();
    } else if (line.startsWith('a=ice-pwd:')) {
      if (!/^a=ice-pwd:[A-Za-z0-9+/]{22,256}$/.test(line)) bad('has a malformed ice-pwd');
    } else if (line.startsWith('m=')) {
      // A new section: its candidates wait for its own a=mid.
      mid = null;
    } else if (line.startsWith('a=mid:')) {
      mid = line.slice(6);
      if (!ice.mids.includes(mid))
        bad(`names mid ${JSON.stringify(mid.slice(0, 32))}, not one of the offer's`);
    } else if (line.startsWith('a=candidate:')) {
      if (mid === null) bad('has a candidate before any a=mid');
      if (ice.candidates + found.length >= SDP_LIMITS.candidates)
        bad(`would bring the session over ${SDP_LIMITS.candidates} candidates`);
      const candidate = line.slice(2);
      const m = CANDIDATE.exec(candidate);
      if (!m || Number(m[2]) > 65535 || !knownAddress(m[1] as string))
        bad(`has a malformed candidate: ${JSON.stringify(candidate.slice(0, 80))}`);
      // Chromium names the generation's ufrag in each candidate: another one is a restart too.
      const ufrag = / ufrag (\S+)/.exec((m as RegExpExecArray)[3] ?? '')?.[1];
      if (ufrag !== undefined && ufrag !== ice.ufrag) restart();
      found.push({ candidate, mid: mid as string });
    }
    // Anything else well-shaped (a=ice-options, a=end-of-candidates, c=...) is taken and not passed on.
  }
  ice.candidates += found.length;
  return found;
}
