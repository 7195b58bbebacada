// What a WHEP bench player needs to tell which frame an RTP packet belongs to, with no decoder: the NAL
// bytes of each frame (RFC 6184 payloads measured the way the clip is), reassembled on the marker bit.
import { splitAnnexB } from '../../src/media/h264.js';

/** Bytes of the NAL units of an Annex B access unit, start codes excluded: what its RTP payloads carry. */
export function annexBNalBytes(frame: Uint8Array): number {
  return splitAnnexB(frame).reduce((n, nal) => n + nal.length, 0);
}

/** One frame put back together from its packets: its RTP timestamp, NAL bytes and whether it holds an IDR. */
export interface RtpFrame {
  rtpTimestamp: number;
  nalBytes: number;
  key: boolean;
}

/**
 * Sums the NAL bytes of H.264 RTP payloads (RFC 6184: single NAL unit §5.6, STAP-A §5.7.1, FU-A §5.8) per
 * frame and hands a frame over at its marker bit. A frame that lost a packet still completes (its size then
 * matches nothing, and the bench counts it unmatched).
 */
export class RtpFrameAssembler {
  private current: RtpFrame | null = null;

  /** Feeds one RTP payload; returns the frame it completes, or null. */
  push(payload: Uint8Array, rtpTimestamp: number, marker: boolean): RtpFrame | null {
    if (this.current === null || this.current.rtpTimestamp !== rtpTimestamp) {
      this.current = { rtpTimestamp, nalBytes: 0, key: false };
    }
    const f = this.current;
    const type = (payload[0] ?? 0) & 0x1f;
    if (type >= 1 && type <= 23) {
      f.nalBytes += payload.length;
      if (type === 5) f.key = true;
    } else if (type === 24) {
      for (let i = 1; i + 2 <= payload.length; ) {
        const size = ((payload[i] as number) << 8) | (payload[i + 1] as number);
        if (((payload[i + 2] ?? 0) & 0x1f) === 5) f.key = true;
        f.nalBytes += size;
        i += 2 + size;
      }
    } else if (type === 28 && payload.length >= 2) {
      const header = payload[1] as number;
      // The NAL header byte is split between the FU indicator and header; it counts once, at the start.
      f.nalBytes += payload.length - 2 + (header & 0x80 ? 1 : 0);
      if ((header & 0x1f) === 5) f.key = true;
    }
    if (!marker) return null;
    this.current = null;
    return f;
  }
}
