/**
 * The RTMP "simple" handshake (no digest): C0+C1 out, S0+S1+S2 in, C2 = S1 echoed.
 * nginx-rtmp and node-media-server both accept it when C1's version field is zero.
 */

const SIZE = 1536;
const VERSION = 3;

/** Thrown when the server's handshake is not RTMP version 3. */
export class RtmpHandshakeError extends Error {
  readonly code = 'FW_BENCH_RTMP_HANDSHAKE';
}

/** C0 + C1: version 3, time 0, zero version field (selects the simple handshake), random filler. */
export function clientHello(): Buffer {
  const out = Buffer.alloc(1 + SIZE);
  out[0] = VERSION;
  // Bytes 1..8 (time, zero) stay zero; the rest only has to be unique-ish, not secure.
  for (let i = 9; i < out.length; i += 4) out.writeUInt32LE((Math.random() * 0x100000000) >>> 0, i);
  return out;
}

/** Collects S0+S1+S2 from socket reads; done() gives C2 and any bytes that followed S2. */
export class HandshakeReader {
  private readonly parts: Buffer[] = [];
  private received = 0;

  /** Feeds a read (copied: reads are views of a shared buffer); returns true once S0+S1+S2 are all in. */
  push(data: Buffer): boolean {
    this.parts.push(Buffer.from(data));
    this.received += data.length;
    return this.received >= 1 + 2 * SIZE;
  }

  /** C2 (the echo of S1) and the bytes after S2, which already belong to the chunk stream. */
  done(): { c2: Buffer; rest: Buffer } {
    const all = Buffer.concat(this.parts);
    if (all[0] !== VERSION) throw new RtmpHandshakeError(`server sent RTMP version ${all[0]}, expected 3`);
    return { c2: Buffer.from(all.subarray(1, 1 + SIZE)), rest: all.subarray(1 + 2 * SIZE) };
  }
}
