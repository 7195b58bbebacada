import { ByteQueue } from './byte-queue.js';
import { MediaError } from './errors.js';

/** Bytes in the IVF file header. */
export const IVF_FILE_HEADER_BYTES = 32;
/** Bytes in each IVF frame header (u32le size, u64le pts). */
export const IVF_FRAME_HEADER_BYTES = 12;
/** Default largest IVF frame accepted (16 MiB): a corrupt size field must not make us buffer forever. */
export const DEFAULT_MAX_IVF_FRAME_BYTES = 16 * 1024 * 1024;

/** The IVF file header: codec fourcc (e.g. `VP80`), picture size and the timebase of frame pts. */
export interface IvfHeader {
  fourcc: string;
  width: number;
  height: number;
  /** Timebase numerator: pts × num / den is seconds. */
  timebaseNum: number;
  timebaseDen: number;
  /** Frame count as written (0 or garbage when the writer could not seek back, e.g. a pipe). */
  frameCount: number;
}

/** One IVF frame: its pts in timebase units and its payload. */
export interface IvfFrame {
  pts: number;
  data: Uint8Array;
}

/** Streaming IVF reader: feed chunks with any boundaries; calls back once for the header, then per frame. */
export class IvfReader {
  private readonly queue = new ByteQueue();
  private header: IvfHeader | null = null;

  constructor(private readonly maxFrameBytes = DEFAULT_MAX_IVF_FRAME_BYTES) {}

  /** Bytes held for an incomplete header or frame. */
  get bufferedBytes(): number {
    return this.queue.length;
  }

  /** Feeds a chunk. Throws MediaError FW_FFMPEG_FAILED on a stream that is not IVF. */
  push(chunk: Uint8Array, onHeader: (header: IvfHeader) => void, onFrame: (frame: IvfFrame) => void): void {
    this.queue.push(chunk);
    if (this.header === null) {
      const bytes = this.queue.take(IVF_FILE_HEADER_BYTES);
      if (bytes === null) return;
      this.header = parseIvfHeader(bytes);
      onHeader(this.header);
    }
    for (;;) {
      const head = this.queue.peek(IVF_FRAME_HEADER_BYTES);
      if (head === null) return;
      const view = new DataView(head.buffer, head.byteOffset, head.byteLength);
      const size = view.getUint32(0, true);
      if (size > this.maxFrameBytes) {
        throw new MediaError('FW_FFMPEG_FAILED', `IVF frame of ${size} bytes exceeds ${this.maxFrameBytes}`);
      }
      if (this.queue.length < IVF_FRAME_HEADER_BYTES + size) return;
      // pts is u64; below 2^53 it is exact, which covers centuries of µs.
      const pts = view.getUint32(4, true) + view.getUint32(8, true) * 2 ** 32;
      this.queue.skip(IVF_FRAME_HEADER_BYTES);
      const data = this.queue.take(size) as Uint8Array;
      onFrame({ pts, data });
    }
  }
}

/** Parses the 32-byte IVF file header. Throws MediaError FW_FFMPEG_FAILED if the magic is wrong. */
export function parseIvfHeader(bytes: Uint8Array): IvfHeader {
  const ascii = (from: number) => String.fromCharCode(...bytes.subarray(from, from + 4));
  if (bytes.length < IVF_FILE_HEADER_BYTES || ascii(0) !== 'DKIF') {
    throw new MediaError('FW_FFMPEG_FAILED', 'expected an IVF stream (DKIF header) from ffmpeg');
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return {
    fourcc: ascii(8),
    width: view.getUint16(12, true),
    height: view.getUint16(14, true),
    // The field order is rate (denominator) then scale (numerator), as libvpx and ffmpeg write it.
    timebaseDen: view.getUint32(16, true),
    timebaseNum: view.getUint32(20, true),
    frameCount: view.getUint32(24, true),
  };
}

/** Serialises an IVF file header. */
export function writeIvfHeader(header: IvfHeader): Uint8Array {
  const out = new Uint8Array(IVF_FILE_HEADER_BYTES);
  const view = new DataView(out.buffer);
  out.set([0x44, 0x4b, 0x49, 0x46]); // DKIF
  view.setUint16(4, 0, true);
  view.setUint16(6, IVF_FILE_HEADER_BYTES, true);
  for (let i = 0; i < 4; i++) out[8 + i] = header.fourcc.charCodeAt(i) & 0xff;
  view.setUint16(12, header.width, true);
  view.setUint16(14, header.height, true);
  view.setUint32(16, header.timebaseDen, true);
  view.setUint32(20, header.timebaseNum, true);
  view.setUint32(24, header.frameCount, true);
  return out;
}

/** Serialises the 12-byte header that precedes a frame of `size` bytes with this pts. */
export function writeIvfFrameHeader(size: number, pts: number): Uint8Array {
  const out = new Uint8Array(IVF_FRAME_HEADER_BYTES);
  const view = new DataView(out.buffer);
  view.setUint32(0, size, true);
  view.setUint32(4, pts % 2 ** 32, true);
  view.setUint32(8, Math.floor(pts / 2 ** 32), true);
  return out;
}
