import { ByteQueue } from './byte-queue.js';
import { MediaError } from './errors.js';

/** FLV tag types (the first byte of a tag header). */
export const FlvTagType = { audio: 8, video: 9, script: 18 } as const;
/** The FLV video codec id for H.264/AVC. */
export const FLV_CODEC_AVC = 7;
/** Default largest FLV tag accepted (16 MiB): a corrupt size field must not make us buffer forever. */
export const DEFAULT_MAX_FLV_TAG_BYTES = 16 * 1024 * 1024;

const TAG_HEADER_BYTES = 11;
const PREVIOUS_TAG_SIZE_BYTES = 4;

/** One FLV tag: its type, decode timestamp in milliseconds and body. */
export interface FlvTag {
  type: number;
  /** Decode timestamp, ms (24 bits plus the extension byte). */
  timestamp: number;
  data: Uint8Array;
}

/** The parsed head of a video tag body. AVC fields are present only when codecId is 7. */
export interface FlvVideoTag {
  /** 1 = keyframe, 2 = inter frame, 5 = video info/command. */
  frameType: number;
  codecId: number;
  /** 0 = sequence header (avcC), 1 = NAL units, 2 = end of sequence. */
  avcPacketType: number;
  /** Presentation minus decode time, ms (signed 24-bit). */
  compositionTime: number;
  /** avcC for a sequence header, length-prefixed NAL units for a frame. */
  body: Uint8Array;
}

/** Streaming FLV reader: feed chunks with any boundaries; calls back once per complete tag. */
export class FlvReader {
  private readonly queue = new ByteQueue();
  /** Whether the 9-byte file header and PreviousTagSize0 have been consumed. */
  private headerDone = false;

  constructor(private readonly maxTagBytes = DEFAULT_MAX_FLV_TAG_BYTES) {}

  /** Bytes held for an incomplete header or tag. */
  get bufferedBytes(): number {
    return this.queue.length;
  }

  /** Feeds a chunk. Throws MediaError FW_FFMPEG_FAILED on a stream that is not FLV. */
  push(chunk: Uint8Array, onTag: (tag: FlvTag) => void): void {
    this.queue.push(chunk);
    if (!this.headerDone) {
      const head = this.queue.peek(9);
      if (head === null) return;
      if (head[0] !== 0x46 || head[1] !== 0x4c || head[2] !== 0x56) {
        throw new MediaError('FW_FFMPEG_FAILED', 'expected an FLV stream from ffmpeg');
      }
      const headerSize = readU32(head, 5);
      if (this.queue.length < headerSize + PREVIOUS_TAG_SIZE_BYTES) return;
      this.queue.skip(headerSize + PREVIOUS_TAG_SIZE_BYTES);
      this.headerDone = true;
    }
    for (;;) {
      const head = this.queue.peek(TAG_HEADER_BYTES);
      if (head === null) return;
      const size = readU24(head, 1);
      if (size > this.maxTagBytes) {
        throw new MediaError('FW_FFMPEG_FAILED', `FLV tag of ${size} bytes exceeds ${this.maxTagBytes}`);
      }
      if (this.queue.length < TAG_HEADER_BYTES + size + PREVIOUS_TAG_SIZE_BYTES) return;
      const type = (head[0] as number) & 0x1f; // the upper bits are reserved/filter flags
      const timestamp = readU24(head, 4) + (head[7] as number) * 2 ** 24;
      this.queue.skip(TAG_HEADER_BYTES);
      const data = this.queue.take(size) as Uint8Array;
      this.queue.skip(PREVIOUS_TAG_SIZE_BYTES);
      onTag({ type, timestamp, data });
    }
  }
}

/** Parses the head of a video tag body. Throws MediaError FW_FFMPEG_FAILED if it is too short. */
export function parseFlvVideoTag(data: Uint8Array): FlvVideoTag {
  const first = data[0];
  if (first === undefined) throw new MediaError('FW_FFMPEG_FAILED', 'empty FLV video tag');
  const frameType = first >> 4;
  const codecId = first & 0x0f;
  if (codecId !== FLV_CODEC_AVC) {
    return { frameType, codecId, avcPacketType: -1, compositionTime: 0, body: data.subarray(1) };
  }
  if (data.length < 5) throw new MediaError('FW_FFMPEG_FAILED', 'truncated FLV AVC video tag');
  const raw = readU24(data, 2);
  const compositionTime = raw & 0x800000 ? raw - 0x1000000 : raw;
  return { frameType, codecId, avcPacketType: data[1] as number, compositionTime, body: data.subarray(5) };
}

function readU24(b: Uint8Array, at: number): number {
  return ((b[at] as number) << 16) | ((b[at + 1] as number) << 8) | (b[at + 2] as number);
}

function readU32(b: Uint8Array, at: number): number {
  return readU24(b, at) * 256 + (b[at + 3] as number);
}
