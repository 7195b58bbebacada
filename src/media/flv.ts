import { MediaError } from './errors.js';

/** FLV tag types (the first byte of a tag header). */
export const FlvTagType = { audio: 8, video: 9, script: 18 } as const;
/** The FLV video codec id for H.264/AVC. */
export const FLV_CODEC_AVC = 7;
/** Default largest FLV tag accepted (16 MiB): a corrupt size field must not make us buffer forever. */
export const DEFAULT_MAX_FLV_TAG_BYTES = 16 * 1024 * 1024;

const FILE_HEADER_BYTES = 9;
const TAG_HEADER_BYTES = 11;
const PREVIOUS_TAG_SIZE_BYTES = 4;
/** With reuseBodies, spanning bodies up to this size share one buffer (bounded memory per reader). */
const REUSE_LIMIT = 256 * 1024;

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

/** Options of an {@link FlvReader}. */
export interface FlvReaderOptions {
  /** Largest tag accepted; a larger size field means a broken stream (default 16 MiB). */
  maxTagBytes?: number;
  /**
   * Reuse one buffer for the bodies of tags that span chunks, so that hundreds of readers in one process
   * (the bench's players) do not each allocate per tag. A tag's data is then valid only during the callback.
   */
  reuseBodies?: boolean;
}

/**
 * Streaming FLV reader: feed chunks with any boundaries; calls back once per complete tag. It keeps no
 * reference to a chunk after push() returns (callers may reuse their read buffer): a tag whose body lies
 * in one chunk is handed out as a view of it, and one that spans chunks is copied once.
 */
export class FlvReader {
  private readonly maxTagBytes: number;
  private readonly reuseBodies: boolean;
  /** Whether the 9-byte file header has been read. */
  private headerDone = false;
  /** Bytes to pass over before the next tag header: file header padding, PreviousTagSize fields. */
  private skip = 0;
  /** The file header or a tag header, gathered across chunks. */
  private readonly head = new Uint8Array(TAG_HEADER_BYTES);
  private headFill = 0;
  private inBody = false;
  private tagType = 0;
  private tagTime = 0;
  private tagSize = 0;
  /** The body of the tag being read when it spans chunks, and how much of it has arrived. */
  private body: Uint8Array | null = null;
  private bodyFill = 0;
  private spare: Uint8Array | null = null;

  constructor(options: FlvReaderOptions = {}) {
    this.maxTagBytes = options.maxTagBytes ?? DEFAULT_MAX_FLV_TAG_BYTES;
    this.reuseBodies = options.reuseBodies ?? false;
  }

  /** Bytes held for an incomplete header or tag. */
  get bufferedBytes(): number {
    return this.headFill + this.bodyFill;
  }

  /** Feeds a chunk. Throws MediaError FW_FFMPEG_FAILED on a stream that is not FLV. */
  push(chunk: Uint8Array, onTag: (tag: FlvTag) => void): void {
    let pos = 0;
    const len = chunk.length;
    while (pos < len) {
      if (this.skip > 0) {
        const n = Math.min(this.skip, len - pos);
        this.skip -= n;
        pos += n;
      } else if (!this.headerDone) {
        pos = this.fillHead(chunk, pos, FILE_HEADER_BYTES);
        if (this.headFill < FILE_HEADER_BYTES) return;
        const h = this.head;
        if (h[0] !== 0x46 || h[1] !== 0x4c || h[2] !== 0x56) {
          throw new MediaError('FW_FFMPEG_FAILED', 'expected an FLV stream from ffmpeg');
        }
        this.headerDone = true;
        this.headFill = 0;
        // The data offset says where PreviousTagSize0 starts: any extra header bytes come first.
        this.skip = Math.max(0, readU32(h, 5) - FILE_HEADER_BYTES) + PREVIOUS_TAG_SIZE_BYTES;
      } else if (!this.inBody) {
        if (this.headFill === 0 && len - pos >= TAG_HEADER_BYTES) {
          this.readTagHeader(chunk, pos);
          pos += TAG_HEADER_BYTES;
        } else {
          pos = this.fillHead(chunk, pos, TAG_HEADER_BYTES);
          if (this.headFill < TAG_HEADER_BYTES) return;
          this.headFill = 0;
          this.readTagHeader(this.head, 0);
        }
        if (this.tagSize === 0) this.finishTag(chunk.subarray(pos, pos), onTag);
      } else {
        const take = Math.min(this.tagSize - this.bodyFill, len - pos);
        pos += take;
        if (this.body === null && take === this.tagSize) {
          this.finishTag(chunk.subarray(pos - take, pos), onTag);
          continue;
        }
        this.body ??= this.bodyBuffer(this.tagSize);
        this.body.set(chunk.subarray(pos - take, pos), this.bodyFill);
        this.bodyFill += take;
        if (this.bodyFill === this.tagSize) this.finishTag(this.body, onTag);
      }
    }
  }

  private fillHead(chunk: Uint8Array, pos: number, need: number): number {
    const take = Math.min(need - this.headFill, chunk.length - pos);
    this.head.set(chunk.subarray(pos, pos + take), this.headFill);
    this.headFill += take;
    return pos + take;
  }

  private readTagHeader(b: Uint8Array, at: number): void {
    const size = readU24(b, at + 1);
    if (size > this.maxTagBytes) {
      throw new MediaError('FW_FFMPEG_FAILED', `FLV tag of ${size} bytes exceeds ${this.maxTagBytes}`);
    }
    this.tagType = (b[at] as number) & 0x1f; // the upper bits are reserved/filter flags
    this.tagTime = readU24(b, at + 4) + (b[at + 7] as number) * 2 ** 24; // 24 bits plus an extension byte
    this.tagSize = size;
    this.inBody = true;
  }

  private bodyBuffer(size: number): Uint8Array {
    if (!this.reuseBodies) return new Uint8Array(size);
    if (this.spare !== null && this.spare.length >= size) return this.spare.subarray(0, size);
    const body = new Uint8Array(size);
    this.spare = size <= REUSE_LIMIT ? body : null;
    return body;
  }

  private finishTag(data: Uint8Array, onTag: (tag: FlvTag) => void): void {
    // Reset before calling back, so a callback that throws leaves the reader at the next tag.
    this.inBody = false;
    this.body = null;
    this.bodyFill = 0;
    this.skip = PREVIOUS_TAG_SIZE_BYTES;
    onTag({ type: this.tagType, timestamp: this.tagTime, data });
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
