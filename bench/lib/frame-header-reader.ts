import {
  FRAME_FLAG_KEY,
  FRAME_HEADER_BYTES,
  LENGTH_PREFIX_BYTES,
  MessageType,
} from '../../src/protocol/index.js';

/**
 * Called once a frame's last byte has arrived, with its header (captureTime in µs since the epoch, the media
 * timestamp in µs) and its payload's length.
 */
export type TimedFrameHandler = (
  streamId: number,
  seq: number,
  key: boolean,
  captureTimeUs: number,
  timestampUs: number,
  payloadBytes: number,
) => void;

/** Length prefix plus the whole frame header: the capture time is its last field. */
const HEAD_BYTES = LENGTH_PREFIX_BYTES + FRAME_HEADER_BYTES;

/**
 * Reads a Framewire TCP byte stream as a latency-measuring viewer needs it: a frame's whole header (the
 * capture time included, which bench/framewire/skim.ts skips), then its payload skipped without a copy.
 * Control messages (rare) are assembled whole for the caller to decode.
 */
export class FrameHeaderReader {
  private readonly head = new Uint8Array(HEAD_BYTES);
  private readonly view = new DataView(this.head.buffer);
  private headFill = 0;
  private length = 0;
  /** Payload bytes of the current frame still to skip. */
  private skip = 0;
  private control: Uint8Array | null = null;
  private controlFill = 0;

  constructor(
    private readonly onFrame: TimedFrameHandler,
    private readonly onControl: (body: Uint8Array) => void,
    private readonly maxMessageBytes = 16 * 1024 * 1024,
  ) {}

  /** Feeds the first `n` bytes of `chunk` (a reused read buffer: nothing is kept that points into it). */
  push(chunk: Uint8Array, n = chunk.length): void {
    let pos = 0;
    while (pos < n) {
      if (this.skip > 0) {
        const k = Math.min(this.skip, n - pos);
        this.skip -= k;
        pos += k;
        if (this.skip === 0) this.frameDone();
        continue;
      }
      if (this.control) {
        const k = Math.min(this.control.length - this.controlFill, n - pos);
        this.control.set(chunk.subarray(pos, pos + k), this.controlFill);
        this.controlFill += k;
        pos += k;
        if (this.controlFill === this.control.length) this.controlDone();
        continue;
      }
      this.head[this.headFill++] = chunk[pos++] as number;
      if (this.headFill === LENGTH_PREFIX_BYTES + 1) {
        this.length = this.view.getUint32(0);
        if (this.length === 0 || this.length > this.maxMessageBytes) {
          throw new Error(`bad message length ${this.length} from the server`);
        }
        if (this.head[LENGTH_PREFIX_BYTES] !== MessageType.frame) {
          this.headFill = 0;
          this.control = new Uint8Array(this.length);
          this.control[0] = this.head[LENGTH_PREFIX_BYTES] as number;
          this.controlFill = 1;
          if (this.length === 1) this.controlDone();
        } else if (this.length < FRAME_HEADER_BYTES) {
          throw new Error(`frame of ${this.length} bytes is shorter than its header`);
        }
      } else if (this.headFill === HEAD_BYTES) {
        this.headFill = 0;
        this.skip = this.length - FRAME_HEADER_BYTES;
        if (this.skip === 0) this.frameDone();
      }
    }
  }

  private frameDone(): void {
    // Header layout after the prefix: type u8, streamId u32, flags u8, seq u32, timestamp f64, captureTime f64.
    const p = LENGTH_PREFIX_BYTES;
    this.onFrame(
      this.view.getUint32(p + 1),
      this.view.getUint32(p + 6),
      ((this.head[p + 5] as number) & FRAME_FLAG_KEY) !== 0,
      this.view.getFloat64(p + 18),
      this.view.getFloat64(p + 10),
      this.length - FRAME_HEADER_BYTES,
    );
  }

  private controlDone(): void {
    const body = this.control as Uint8Array;
    this.control = null;
    this.onControl(body);
  }
}
