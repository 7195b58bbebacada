import type net from 'node:net';

/** Time between reads: small enough that the rate is smooth, large enough for a busy test machine. */
const SLICE_MS = 20;
/** Unused budget kept at most, ms of the rate: an idle moment must not turn into a burst later. */
const MAX_BURST_MS = 100;

/**
 * Reads `socket` at no more than `rateKbit` kbit/s, handing each slice to `onData`, as a viewer whose CPU or
 * player cannot keep up would: what it has not read stays in Node's buffer and the kernel's, and TCP's flow
 * control holds the sender back, so the sender sees a slow reader, not a slow network. Returns a stop
 * function (the socket is left paused).
 */
export function readThrottled(
  socket: net.Socket,
  rateKbit: number,
  onData: (chunk: Buffer) => void,
): () => void {
  const bytesPerMs = (rateKbit * 1000) / 8 / 1000;
  let budget = 0;
  let last = performance.now();
  // A 'readable' listener keeps the socket in paused mode: Node fills its buffer from the kernel up to
  // the high-water mark and no further, and only read() takes bytes out.
  socket.on('readable', () => {});
  const timer = setInterval(() => {
    const now = performance.now();
    budget = Math.min(budget + (now - last) * bytesPerMs, MAX_BURST_MS * bytesPerMs);
    last = now;
    while (budget >= 1 && socket.readableLength > 0) {
      const n = Math.min(Math.floor(budget), socket.readableLength);
      const chunk = socket.read(n) as Buffer | null;
      if (chunk === null) break;
      budget -= chunk.length;
      onData(chunk);
    }
  }, SLICE_MS);
  return () => clearInterval(timer);
}
