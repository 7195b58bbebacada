/**
 * Incremental FLV stream parser: 9-byte header, then (previous tag size, tag) pairs.
 * Pure byte code. Like the chunk reader it serves hundreds of players in one process, so a tag body is a
 * view of the read that holds it whole, and is copied once only when it spans reads.
 */

/** Called once per complete tag: type (8 audio, 9 video, 18 script), timestamp in ms, body view valid during the call. */
export type TagHandler = (type: number, timestampMs: number, body: Buffer) => void;

/** Thrown on bytes that are not an FLV stream. */
export class FlvError extends Error {
  readonly code = 'FW_BENCH_FLV';
}

const FILE_HEADER = 9;
const PREV_SIZE = 4;
const TAG_HEADER = 11;
/** A live tag larger than this means we lost sync; it bounds what a broken stream makes us allocate. */
const MAX_TAG = 64 * 1024 * 1024;
/** Tag buffers up to this size are reused for the next tag that spans reads (bounded memory per player). */
const REUSE_LIMIT = 256 * 1024;

/** Feed it bytes with push(); tags come out through the handler. */
export class FlvReader {
  private headerDone = false;
  /** Fixed-size bytes (file header, or prev-size + tag header) gathered across reads. */
  private readonly head = Buffer.allocUnsafe(PREV_SIZE + TAG_HEADER);
  private headFill = 0;
  /** Body of the tag being read when it spans reads. */
  private body: Buffer | null = null;
  private spare: Buffer | null = null;
  private bodyFill = 0;
  private tagType = 0;
  private tagTime = 0;
  private tagSize = 0;
  private inBody = false;

  constructor(private readonly onTag: TagHandler) {}

  /** Feeds bytes in arrival order. */
  push(data: Buffer): void {
    let pos = 0;
    const len = data.length;
    while (pos < len) {
      if (!this.headerDone) {
        pos = this.fillHead(data, pos, FILE_HEADER);
        if (this.headFill < FILE_HEADER) return;
        if (this.head[0] !== 0x46 || this.head[1] !== 0x4c || this.head[2] !== 0x56) {
          throw new FlvError('stream does not start with an FLV header');
        }
        // The data offset field says where the first PreviousTagSize starts; skip any extra header bytes.
        const extra = this.head.readUInt32BE(5) - FILE_HEADER;
        this.headerDone = true;
        this.headFill = 0;
        if (extra > 0) {
          this.tagType = -1;
          this.tagSize = extra;
          this.inBody = true;
        }
        continue;
      }
      if (!this.inBody) {
        const need = PREV_SIZE + TAG_HEADER;
        if (this.headFill === 0 && len - pos >= need) {
          this.readTagHeader(data, pos + PREV_SIZE);
          pos += need;
        } else {
          pos = this.fillHead(data, pos, need);
          if (this.headFill < need) return;
          this.readTagHeader(this.head, PREV_SIZE);
          this.headFill = 0;
        }
        this.inBody = true;
        if (this.tagSize === 0) this.finishTag(Buffer.alloc(0));
        continue;
      }
      const remaining = this.tagSize - this.bodyFill;
      const take = Math.min(remaining, len - pos);
      if (this.body === null && take === this.tagSize) {
        this.finishTag(data.subarray(pos, pos + take));
        pos += take;
        continue;
      }
      if (this.body === null) {
        if (this.spare !== null && this.spare.length >= this.tagSize) {
          this.body = this.spare.subarray(0, this.tagSize);
        } else {
          this.body = Buffer.allocUnsafe(this.tagSize);
          this.spare = this.tagSize <= REUSE_LIMIT ? this.body : null;
        }
        this.bodyFill = 0;
      }
      data.copy(this.body, this.bodyFill, pos, pos + take);
      this.bodyFill += take;
      pos += take;
      if (this.bodyFill === this.tagSize) {
        const body = this.body;
        this.body = null;
        this.bodyFill = 0;
        this.finishTag(body);
      }
    }
  }

  private fillHead(data: Buffer, pos: number, need: number): number {
    const take = Math.min(need - this.headFill, data.length - pos);
    data.copy(this.head, this.headFill, pos, pos + take);
    this.headFill += take;
    return pos + take;
  }

  private readTagHeader(buf: Buffer, p: number): void {
    // Bit 5 of the type byte is the "filter" (encrypted) flag; the low 5 bits are the type.
    this.tagType = (buf[p] as number) & 0x1f;
    this.tagSize = buf.readUIntBE(p + 1, 3);
    // The 24-bit timestamp is extended by a fourth, most significant byte.
    this.tagTime = (buf.readUIntBE(p + 4, 3) | ((buf[p + 7] as number) << 24)) >>> 0;
    if (this.tagSize > MAX_TAG) throw new FlvError(`FLV tag of ${this.tagSize} bytes: stream out of sync`);
  }

  private finishTag(body: Buffer): void {
    this.inBody = false;
    if (this.tagType >= 0) this.onTag(this.tagType, this.tagTime, body);
  }
}
