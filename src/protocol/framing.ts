import { ProtocolError } from './errors.js';

/** Bytes of the length prefix in front of every message on a stream transport (TCP, TLS). */
export const LENGTH_PREFIX_BYTES = 4;

/** Default largest message accepted (4 MiB): above a 1080p keyframe at high bitrate, below harm. */
export const DEFAULT_MAX_MESSAGE_BYTES = 4 * 1024 * 1024;

/** The 4-byte big-endian length prefix for a message of `length` bytes. */
export function lengthPrefix(length: number): Uint8Array {
  const p = new Uint8Array(LENGTH_PREFIX_BYTES);
  new DataView(p.buffer).setUint32(0, length);
  return p;
}

/** A message with its length prefix, in one buffer (one copy; senders that can write two buffers need not). */
export function frameMessage(message: Uint8Array): Uint8Array {
  const out = new Uint8Array(LENGTH_PREFIX_BYTES + message.length);
  new DataView(out.buffer).setUint32(0, message.length);
  out.set(message, LENGTH_PREFIX_BYTES);
  return out;
}

/** Called once per complete message: `message` is the body, `framed` the same bytes with their prefix. */
export type MessageHandler = (message: Uint8Array, framed: Uint8Array) => void;

/**
 * Splits a byte stream into length-prefixed messages. Pure state machine: feed it chunks as they arrive.
 * A message that lies inside one chunk is handed out as a view (no copy); one split across chunks is
 * assembled once. The length is checked against the limit before any buffer is allocated for it.
 */
export class MessageDeframer {
  private header = new Uint8Array(LENGTH_PREFIX_BYTES);
  private headerFill = 0;
  /** The message being assembled across chunks, prefix included; null between messages. */
  private partial: Uint8Array | null = null;
  private partialFill = 0;

  constructor(private readonly maxMessageBytes = DEFAULT_MAX_MESSAGE_BYTES) {}

  /** Bytes held for a message not yet complete (what a slow sender costs us). */
  get bufferedBytes(): number {
    return this.partial ? this.partialFill : this.headerFill;
  }

  /** Feeds a chunk; calls `onMessage` for each message completed. Throws ProtocolError on a bad length. */
  push(chunk: Uint8Array, onMessage: MessageHandler): void {
    let pos = 0;
    while (pos < chunk.length) {
      if (this.partial) {
        const n = Math.min(this.partial.length - this.partialFill, chunk.length - pos);
        this.partial.set(chunk.subarray(pos, pos + n), this.partialFill);
        this.partialFill += n;
        pos += n;
        if (this.partialFill === this.partial.length) {
          const framed = this.partial;
          this.partial = null;
          this.partialFill = 0;
          onMessage(framed.subarray(LENGTH_PREFIX_BYTES), framed);
        }
        continue;
      }
      // Fast path: a whole prefix and message inside this chunk, handed out without copying.
      if (this.headerFill === 0 && chunk.length - pos >= LENGTH_PREFIX_BYTES) {
        const length = this.checkLength(
          ((chunk[pos] as number) << 24) |
            ((chunk[pos + 1] as number) << 16) |
            ((chunk[pos + 2] as number) << 8) |
            (chunk[pos + 3] as number),
        );
        const end = pos + LENGTH_PREFIX_BYTES + length;
        if (end <= chunk.length) {
          const framed = chunk.subarray(pos, end);
          pos = end;
          onMessage(framed.subarray(LENGTH_PREFIX_BYTES), framed);
          continue;
        }
        this.startPartial(length);
        continue; // the loop copies the prefix and body from `pos` onwards
      }
      // Slow path: the prefix itself is split across chunks.
      while (this.headerFill < LENGTH_PREFIX_BYTES && pos < chunk.length) {
        this.header[this.headerFill++] = chunk[pos++] as number;
      }
      if (this.headerFill === LENGTH_PREFIX_BYTES) {
        const length = this.checkLength(new DataView(this.header.buffer).getUint32(0));
        this.headerFill = 0;
        this.startPartial(length).set(this.header, 0);
        this.partialFill = LENGTH_PREFIX_BYTES;
      }
    }
  }

  private startPartial(length: number): Uint8Array {
    this.partial = new Uint8Array(LENGTH_PREFIX_BYTES + length);
    this.partialFill = 0;
    return this.partial;
  }

  private checkLength(raw: number): number {
    const length = raw >>> 0;
    if (length === 0) throw new ProtocolError('FW_BAD_MESSAGE', 'zero-length message');
    if (length > this.maxMessageBytes) {
      throw new ProtocolError(
        'FW_TOO_LARGE',
        `message of ${length} bytes exceeds the limit of ${this.maxMessageBytes}`,
      );
    }
    return length;
  }
}
