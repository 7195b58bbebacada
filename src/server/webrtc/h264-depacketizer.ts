import { NalType, nalType, splitAnnexB } from '../../media/h264.js';

/** One access unit put back together: Annex B (4-byte start codes), with its RTP timestamp. */
export interface DepacketizedFrame {
  data: Uint8Array;
  /** An IDR (H.264) or key frame (VP8): decoding may start here. */
  key: boolean;
  timestamp: number;
}

/** Bytes one frame may grow to before it is dropped as malformed (a 4K keyframe is a few hundred KB). */
export const MAX_FRAME_BYTES = 4 * 1024 * 1024;

const START_CODE = new Uint8Array([0, 0, 0, 1]);
const STAP_A = 24;
const FU_A = 28;

/**
 * RTP H.264 (RFC 6184, packetization-mode 1) back into access units: single NAL units, STAP-A aggregates and
 * FU-A fragments become Annex B; a frame ends at the marker bit or when the timestamp changes. A lost
 * packet (a sequence gap) drops the frame it was in, and the depacketizer then waits for the next IDR, since
 * what follows a damaged frame does not decode. It also says so ({@link needsKeyframe}), for a PLI.
 */
export class H264Depacketizer {
  private nals: Uint8Array[] = [];
  private bytes = 0;
  private timestamp: number | null = null;
  private lastSeq: number | null = null;
  private damaged = false;
  private fragment: Uint8Array[] | null = null;
  /** True from a loss until the next IDR: frames in between are dropped. */
  needsKeyframe = true;

  /** Takes one packet's payload; returns the frames it completed (0, 1 or, on a timestamp change, 2). */
  push(payload: Uint8Array, sequence: number, timestamp: number, marker: boolean): DepacketizedFrame[] {
    const out: DepacketizedFrame[] = [];
    // A gap at a frame boundary may have taken the old frame's end or the new one's start: both are damaged.
    const gap = this.lastSeq !== null && ((sequence - this.lastSeq) & 0xffff) !== 1;
    this.lastSeq = sequence;
    if (gap) this.lost();
    if (this.timestamp !== null && timestamp !== this.timestamp) this.flush(out);
    if (gap) this.lost();
    this.timestamp = timestamp;
    this.take(payload);
    if (marker) this.flush(out);
    return out;
  }

  private lost(): void {
    this.damaged = true;
    this.fragment = null;
  }

  private take(payload: Uint8Array): void {
    if (payload.length < 1) return;
    const type = (payload[0] as number) & 0x1f;
    if (type >= 1 && type <= 23) {
      this.add(payload);
    } else if (type === STAP_A) {
      let offset = 1;
      while (offset + 2 <= payload.length) {
        const size = ((payload[offset] as number) << 8) | (payload[offset + 1] as number);
        offset += 2;
        if (size === 0 || offset + size > payload.length) {
          this.damaged = true;
          return;
        }
        this.add(payload.subarray(offset, offset + size));
        offset += size;
      }
    } else if (type === FU_A) {
      if (payload.length < 3) {
        this.damaged = true;
        return;
      }
      const header = payload[1] as number;
      const start = (header & 0x80) !== 0;
      const end = (header & 0x40) !== 0;
      if (start) {
        // The NAL header is rebuilt from the indicator's F/NRI bits and the FU header's type.
        const nalHeader = ((payload[0] as number) & 0xe0) | (header & 0x1f);
        this.fragment = [new Uint8Array([nalHeader]), payload.subarray(2)];
      } else if (this.fragment) {
        this.fragment.push(payload.subarray(2));
      } else {
        // A middle or end without its start: its start was lost.
        this.damaged = true;
        return;
      }
      if (end && this.fragment) {
        this.add(concat(this.fragment));
        this.fragment = null;
      }
    }
    // Other types (STAP-B, MTAP, FU-B) belong to packetization-mode 2, which we never answer with.
  }

  private add(nal: Uint8Array): void {
    this.bytes += nal.length + 4;
    if (this.bytes > MAX_FRAME_BYTES) {
      this.damaged = true;
      this.nals = [];
      return;
    }
    this.nals.push(nal);
  }

  private flush(out: DepacketizedFrame[]): void {
    const nals = this.nals;
    const timestamp = this.timestamp ?? 0;
    const damaged = this.damaged || this.fragment !== null;
    this.nals = [];
    this.bytes = 0;
    this.damaged = false;
    this.fragment = null;
    if (nals.length === 0) return;
    if (damaged) {
      this.needsKeyframe = true;
      return;
    }
    const key = nals.some((n) => ((n[0] as number) & 0x1f) === NalType.idr);
    if (this.needsKeyframe && !key) return;
    this.needsKeyframe = false;
    const parts: Uint8Array[] = [];
    for (const nal of nals) parts.push(START_CODE, nal);
    out.push({ data: concat(parts), key, timestamp });
  }
}

/** The SPS NAL unit (header byte included) of an Annex B access unit, or null. */
export function findSps(annexB: Uint8Array): Uint8Array | null {
  return splitAnnexB(annexB).find((nal) => nalType(nal) === NalType.sps) ?? null;
}

/** The parts, end to end, in one new array. */
export function concat(parts: Uint8Array[]): Uint8Array {
  let size = 0;
  for (const p of parts) size += p.length;
  const out = new Uint8Array(size);
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}
