const EMPTY = new Uint8Array(0);

/**
 * A FIFO of received chunks read by exact byte counts, for container parsers fed arbitrary chunk
 * boundaries. Reads inside one chunk return views (no copy); reads spanning chunks copy once.
 */
export class ByteQueue {
  private chunks: Uint8Array[] = [];
  /** Index of the first unread chunk: advancing it instead of shift() keeps tiny-chunk input linear. */
  private first = 0;
  /** Read offset into chunks[first]. */
  private head = 0;
  private total = 0;

  /** Bytes queued and not yet taken. */
  get length(): number {
    return this.total;
  }

  /** Appends a chunk (kept by reference: the caller must not reuse it). */
  push(chunk: Uint8Array): void {
    if (chunk.length === 0) return;
    this.chunks.push(chunk);
    this.total += chunk.length;
  }

  /** The first `n` bytes without consuming them, or null when fewer are queued. */
  peek(n: number): Uint8Array | null {
    if (n > this.total) return null;
    const first = this.chunks[this.first];
    if (first === undefined) return new Uint8Array(0);
    if (first.length - this.head >= n) return first.subarray(this.head, this.head + n);
    const out = new Uint8Array(n);
    let filled = 0;
    let offset = this.head;
    for (let i = this.first; i < this.chunks.length; i++) {
      const chunk = this.chunks[i] as Uint8Array;
      const count = Math.min(n - filled, chunk.length - offset);
      out.set(chunk.subarray(offset, offset + count), filled);
      filled += count;
      offset = 0;
      if (filled === n) break;
    }
    return out;
  }

  /** Consumes `n` bytes (n must not exceed `length`). */
  skip(n: number): void {
    this.total -= n;
    while (n > 0) {
      const first = this.chunks[this.first];
      if (first === undefined) break;
      const left = first.length - this.head;
      if (n < left) {
        this.head += n;
        return;
      }
      n -= left;
      this.chunks[this.first++] = EMPTY; // release the chunk now, compact the array below
      this.head = 0;
    }
    if (this.total === 0) {
      this.chunks = [];
      this.first = 0;
    } else if (this.first > 64 && this.first * 2 > this.chunks.length) {
      this.chunks = this.chunks.slice(this.first);
      this.first = 0;
    }
  }

  /** The first `n` bytes, consumed, or null when fewer are queued. */
  take(n: number): Uint8Array | null {
    const out = this.peek(n);
    if (out !== null) this.skip(n);
    return out;
  }
}
