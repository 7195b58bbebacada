import { decodeMessage, type FrameMessage, type Message } from '../../src/protocol/index.js';
import type { Outgoing, Transport } from '../../src/server/core/transport.js';

/**
 * Mirrors TRANSPORT_HIGH_WATER in src/server/core/viewer-queue.ts (not exported): a transport holding
 * this many bytes takes no more straight writes, so tests use it to make a viewer "not draining".
 */
export const TRANSPORT_HIGH_WATER = 64 * 1024;

/**
 * A transport with no socket under it, for driving the viewer queue by hand. Writes land in `written`
 * and add to `bufferedBytes` as a socket's unsent bytes would; the test plays the kernel with
 * {@link drain} (or sets `bufferedBytes` directly) and then calls the queue's pump(), as the 'drain'
 * handler does.
 */
export class FakeTransport implements Transport {
  readonly kind = 'tcp';
  readonly remote = 'fake:1';
  readonly ip = '192.0.2.1';
  /** What the peer has not taken yet; tests set it to simulate a socket that is or is not draining. */
  bufferedBytes = 0;
  /** Every message written, in order. */
  readonly written: Outgoing[] = [];
  corks = 0;
  uncorks = 0;
  ended = false;
  destroyed = false;
  /** Messages written while corked; each uncork moves their count to {@link batches}. */
  private held = 0;
  private corked = false;
  /** How many messages each uncork released together: one entry per batch. */
  readonly batches: number[] = [];

  write(message: Outgoing): void {
    this.written.push(message);
    // A corked socket still counts held bytes in writableLength, so corking does not hide them.
    this.bufferedBytes += message.framed.length;
    if (this.corked) this.held++;
  }

  cork(): void {
    this.corks++;
    this.corked = true;
  }

  uncork(): void {
    this.uncorks++;
    if (this.corked) this.batches.push(this.held);
    this.corked = false;
    this.held = 0;
  }

  end(): void {
    this.ended = true;
  }

  destroy(): void {
    this.destroyed = true;
  }

  /** True between cork() and uncork(). */
  get isCorked(): boolean {
    return this.corked;
  }

  /** The peer reads `bytes` (default: everything buffered). */
  drain(bytes = Number.POSITIVE_INFINITY): void {
    this.bufferedBytes = Math.max(0, this.bufferedBytes - bytes);
  }

  /** Everything written, decoded. */
  messages(): Message[] {
    return this.written.map((m) => decodeMessage(m.body));
  }

  /** The frame messages written, decoded, in order. */
  frames(): FrameMessage[] {
    return this.messages().filter((m): m is FrameMessage => m.type === 'frame');
  }

  /** The control (non-frame) messages written, decoded, in order. */
  controls(): Message[] {
    return this.messages().filter((m) => m.type !== 'frame');
  }
}

/**
 * The peer reads everything, round after round, until `queue` has handed it all over (what a socket's
 * 'drain' handler calling pump() does). Each round moves at least one message, so a queue that is not
 * empty after this many rounds has lost count of its bytes: fail rather than spin.
 */
export function drainAll(transport: FakeTransport, queue: { pump(): void; readonly bytes: number }): void {
  for (let round = 0; round < 100_000; round++) {
    transport.drain();
    queue.pump();
    if (queue.bytes === 0) return;
  }
  throw new Error(`queue never empties: ${queue.bytes} bytes left`);
}
