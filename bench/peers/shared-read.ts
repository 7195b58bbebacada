/**
 * One read buffer shared by every client socket in the process (net's `onread` option).
 * Reads then skip the stream machinery and the per-read Buffer allocation, which is most of a player's
 * cost once 500+ of them share a process. Sharing is safe because a read is handed over synchronously:
 * parsers copy what they keep, and views given to callers are valid only during the callback.
 */

/** 256 KiB: a whole keyframe's worth of pending bytes comes out of the kernel in one read. */
const SHARED = Buffer.allocUnsafe(256 * 1024);

/** The `onread` option for net.connect, delivering each read as a view of the shared buffer. */
export function sharedRead(onData: (data: Buffer) => void): {
  buffer: Buffer;
  callback: (n: number, buf: Buffer) => boolean;
} {
  return {
    buffer: SHARED,
    callback: (n, buf) => {
      onData(buf.subarray(0, n));
      return true;
    },
  };
}
