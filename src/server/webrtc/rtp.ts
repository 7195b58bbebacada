/** The fields of one RTP packet we use (RFC 3550 §5.1), and its payload as a view. */
export interface RtpPacket {
  payloadType: number;
  marker: boolean;
  sequence: number;
  timestamp: number;
  ssrc: number;
  payload: Uint8Array;
}

/**
 * Parses an RTP packet; null for anything that is not one (too short, wrong version, padding or
 * extensions running past the end). Input comes from the network: nothing here may throw.
 */
export function parseRtp(packet: Uint8Array): RtpPacket | null {
  if (packet.length < 12) return null;
  const b0 = packet[0] as number;
  const b1 = packet[1] as number;
  if (b0 >> 6 !== 2) return null;
  const view = new DataView(packet.buffer, packet.byteOffset, packet.byteLength);
  let offset = 12 + (b0 & 0x0f) * 4;
  if (b0 & 0x10) {
    if (offset + 4 > packet.length) return null;
    offset += 4 + view.getUint16(offset + 2) * 4;
  }
  let end = packet.length;
  if (b0 & 0x20) end -= packet[packet.length - 1] as number;
  if (offset > end) return null;
  return {
    payloadType: b1 & 0x7f,
    marker: (b1 & 0x80) !== 0,
    sequence: view.getUint16(2),
    timestamp: view.getUint32(4),
    ssrc: view.getUint32(8),
    payload: packet.subarray(offset, end),
  };
}

/** True for an RTCP packet (RFC 5761 §4: payload types 64–95 with the marker bit are RTCP's 192–223). */
export function isRtcp(packet: Uint8Array): boolean {
  const pt = packet[1];
  return packet.length >= 8 && pt !== undefined && pt >= 192 && pt <= 223;
}

/**
 * Whether a compound RTCP packet holds a picture loss indication or a full intra request (RFC 4585
 * §6.3.1, RFC 5104 §4.3.1): either means the receiver needs a keyframe.
 */
export function rtcpWantsKeyframe(packet: Uint8Array): boolean {
  let offset = 0;
  while (offset + 4 <= packet.length) {
    const b0 = packet[offset] as number;
    const pt = packet[offset + 1] as number;
    const words = ((packet[offset + 2] as number) << 8) | (packet[offset + 3] as number);
    const fmt = b0 & 0x1f;
    if (pt === 206 && (fmt === 1 || fmt === 4)) return true;
    offset += (words + 1) * 4;
  }
  return false;
}

/**
 * Turns a track's 32-bit RTP timestamps into microseconds from its first packet, across wraps. A packet
 * older than the latest (reordered) maps before it, never a wrap ahead.
 */
export class RtpClock {
  private first: number | null = null;
  private last = 0;
  /** Ticks from the first packet to the latest, unwrapped. */
  private ticks = 0;

  constructor(private readonly clockRate: number) {}

  /** µs of `timestamp` since the track's first packet. */
  micros(timestamp: number): number {
    if (this.first === null) {
      this.first = timestamp;
      this.last = timestamp;
      return 0;
    }
    // The signed 32-bit difference: forward steps and small reorders alike.
    const delta = (timestamp - this.last) | 0;
    this.last = timestamp;
    this.ticks += delta;
    return Math.round((this.ticks * 1_000_000) / this.clockRate);
  }
}
