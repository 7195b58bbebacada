import { isVp8Keyframe } from '../../media/vp8.js';
import { concat, type DepacketizedFrame, MAX_FRAME_BYTES } from './h264-depacketizer.js';

/**
 * The length of a VP8 payload descriptor (RFC 7741 §4.2) at the start of `payload`, and its S bit;
 * null when it runs past the end.
 */
export function vp8Descriptor(
  payload: Uint8Array,
): { size: number; start: boolean; partition: number } | null {
  const b0 = payload[0];
  if (b0 === undefined) return null;
  let size = 1;
  if (b0 & 0x80) {
    const x = payload[1];
    if (x === undefined) return null;
    size = 2;
    if (x & 0x80) {
      // PictureID: one byte, or two when its M bit is set.
      const pid = payload[size];
      if (pid === undefined) return null;
      size += pid & 0x80 ? 2 : 1;
    }
    if (x & 0x40) size += 1; // TL0PICIDX
    if (x & 0x30) size += 1; // TID/Y/KEYIDX
  }
  if (size > payload.length) return null;
  return { size, start: (b0 & 0x10) !== 0, partition: b0 & 0x07 };
}

/**
 * RTP VP8 (RFC 7741) back into frames: a frame begins at a packet with S=1 and partition 0 and ends at the
 * marker bit (or a timestamp change). A sequence gap drops the frame it hit and everything up to the next
 * keyframe, as for H.264.
 */
export class Vp8Depacketizer {
  private parts: Uint8Array[] = [];
  private bytes = 0;
  private timestamp: number | null = null;
  private lastSeq: number | null = null;
  private damaged = false;
  private started = false;
  /** True from a loss until the next keyframe. */
  needsKeyframe = true;

  /** Takes one packet's payload; returns the frames it completed. */
  push(payload: Uint8Array, sequence: number, timestamp: number, marker: boolean): DepacketizedFrame[] {
    const out: DepacketizedFrame[] = [];
    // A gap at a frame boundary may have taken the old frame's end or the new one's start: both are damaged.
    const gap = this.lastSeq !== null && ((sequence - this.lastSeq) & 0xffff) !== 1;
    this.lastSeq = sequence;
    if (gap) this.damaged = true;
    if (this.timestamp !== null && timestamp !== this.timestamp) this.flush(out);
    if (gap) this.damaged = true;
    this.timestamp = timestamp;
    const d = vp8Descriptor(payload);
    if (d === null) {
      this.damaged = true;
    } else {
      if (d.start && d.partition === 0) {
        // A new frame's first packet: anything held (a frame whose end was lost) is dropped.
        if (this.parts.length > 0) this.damaged = true;
        this.parts = [];
        this.bytes = 0;
        this.started = true;
      } else if (!this.started) {
        this.damaged = true;
      }
      const data = payload.subarray(d.size);
      this.bytes += data.length;
      if (this.bytes > MAX_FRAME_BYTES) this.damaged = true;
      else this.parts.push(data);
    }
    if (marker) this.flush(out);
    return out;
  }

  private flush(out: DepacketizedFrame[]): void {
    const parts = this.parts;
    const damaged = this.damaged || !this.started;
    this.parts = [];
    this.bytes = 0;
    this.damaged = false;
    this.started = false;
    if (parts.length === 0) return;
    if (damaged) {
      this.needsKeyframe = true;
      return;
    }
    const data = concat(parts);
    const key = isVp8Keyframe(data);
    if (this.needsKeyframe && !key) return;
    this.needsKeyframe = false;
    out.push({ data, key, timestamp: this.timestamp ?? 0 });
  }
}

/** The picture size in a VP8 keyframe's header (RFC 6386 §9.1), or null when it is not a keyframe. */
export function vp8KeyframeSize(frame: Uint8Array): { width: number; height: number } | null {
  if (frame.length < 10 || !isVp8Keyframe(frame)) return null;
  if (frame[3] !== 0x9d || frame[4] !== 0x01 || frame[5] !== 0x2a) return null;
  const width = ((frame[6] as number) | ((frame[7] as number) << 8)) & 0x3fff;
  const height = ((frame[8] as number) | ((frame[9] as number) << 8)) & 0x3fff;
  return { width, height };
}
