import {
  AUDIO_FRAME_HEADER_BYTES,
  FRAME_FLAG_AUDIO,
  FRAME_FLAG_KEY,
  FRAME_HEADER_BYTES,
  LENGTH_PREFIX_BYTES,
  MessageType,
} from '../../src/protocol/index.js';

/**
 * Bytes read of a frame: length prefix, type, streamId, flags, seq (timestamps, an audio frame's level byte
 * and the payload are skipped).
 */
const FRAME_PEEK_BYTES = LENGTH_PREFIX_BYTES + 1 + 4 + 1 + 4;

/**
 * Called once a frame's last byte has arrived. `audio` is the frame's audio flag (protocol v2): its seq is
 * the audio track's own counter, and its header is one byte longer (AUDIO_FRAME_HEADER_BYTES).
 */
export type SkimFrameHandler = (
  streamId: number,
  seq: number,
  key: boolean,
  payloadBytes: number,
  audio: boolean,
) => void;

/**
 * Reads a Framewire TCP byte stream the cheapest way a viewer can: for a frame it reads the length
 * prefix and the first header fields, then skips the rest without copying or decoding it. Control
 * messages (rare) are assembled whole for the caller to decode. Like MessageDeframer, but a frame split
 * across reads is never assembled: this is a load generator and must cost as little as possible.
 */
export class FrameSkimmer {
  private readonly head = new Uint8Array(FRAME_PEEK_BYTES);
  private headFill = 0;
  /** Payload bytes of the current frame still to skip. */
  private skip = 0;
  private streamId = 0;
  private seq = 0;
  private key = false;
  private audio = false;
  private length = 0;
  /** A control message being assembled, and how much of it is filled. */
  private control: Uint8Array | null = null;
  private controlFill = 0;

  constructor(
    private readonly onFrame: SkimFrameHandler,
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
        if (this.controlFill === this.control.length) {
          const body = this.control;
          this.control = null;
          this.onControl(body);
        }
        continue;
      }
      this.head[this.headFill++] = chunk[pos++] as number;
      if (this.headFill === LENGTH_PREFIX_BYTES + 1) {
        const h = this.head;
        this.length =
          (((h[0] as number) << 24) |
            ((h[1] as number) << 16) |
            ((h[2] as number) << 8) |
            (h[3] as number)) >>>
          0;
        if (this.length === 0 || this.length > this.maxMessageBytes) {
          throw new Error(`bad message length ${this.length} from the server`);
        }
        if (h[4] !== MessageType.frame) {
          this.headFill = 0;
          this.control = new Uint8Array(this.length);
          this.control[0] = h[4] as number;
          this.controlFill = 1;
          if (this.length === 1) {
            const body = this.control;
            this.control = null;
            this.onControl(body);
          }
        }
      } else if (this.headFill === FRAME_PEEK_BYTES) {
        const h = this.head;
        this.streamId =
          (((h[5] as number) << 24) |
            ((h[6] as number) << 16) |
            ((h[7] as number) << 8) |
            (h[8] as number)) >>>
          0;
        this.key = ((h[9] as number) & FRAME_FLAG_KEY) !== 0;
        this.audio = ((h[9] as number) & FRAME_FLAG_AUDIO) !== 0;
        this.seq =
          (((h[10] as number) << 24) |
            ((h[11] as number) << 16) |
            ((h[12] as number) << 8) |
            (h[13] as number)) >>>
          0;
        this.headFill = 0;
        this.skip = this.length - (FRAME_PEEK_BYTES - LENGTH_PREFIX_BYTES);
        if (this.skip === 0) this.frameDone();
      }
    }
  }

  private frameDone(): void {
    const header = this.audio ? AUDIO_FRAME_HEADER_BYTES : FRAME_HEADER_BYTES;
    this.onFrame(this.streamId, this.seq, this.key, this.length - header, this.audio);
  }
}
