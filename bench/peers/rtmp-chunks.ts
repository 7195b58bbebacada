/**
 * RTMP chunk stream: the reader reassembles messages from chunks, the writer splits messages into chunks.
 * Pure byte code, no sockets. The reader is on the hot path of up to 1000 players in one process, so it
 * copies payload bytes only when a message really spans chunks or reads, and hands out views otherwise.
 */

/** Called once per complete message. `body` is a view valid only during the call: copy what you keep. */
export type MessageHandler = (type: number, streamId: number, timestampMs: number, body: Buffer) => void;

/** Thrown on a chunk stream we cannot follow (e.g. a message bigger than the limit). */
export class RtmpChunkError extends Error {
  readonly code = 'FW_BENCH_RTMP_CHUNK';
}

/** Per chunk-stream-id header state, as the spec's header compression requires. */
interface ChunkStream {
  timestamp: number;
  /** Delta that a type-3 header starting a new message adds (0 after a type-0 header, as nginx does). */
  delta: number;
  length: number;
  type: number;
  streamId: number;
  /** The last type 0/1/2 header used an extended timestamp, so type-3 chunks carry one too. */
  extended: boolean;
  /** Partial message being assembled, or null between messages. */
  body: Buffer | null;
  filled: number;
  /** Assembly buffer kept between messages (see REUSE_LIMIT), so steady video does not allocate. */
  spare: Buffer | null;
}

/** The longest chunk header: 3-byte basic header + 11-byte message header + 4-byte extended timestamp. */
const MAX_HEADER = 18;
const MESSAGE_HEADER_SIZE = [11, 7, 3, 0] as const;
/** Servers never send us more than a big keyframe; this bounds what a broken peer can make us allocate. */
const DEFAULT_MAX_MESSAGE = 64 * 1024 * 1024;
/**
 * Assembly buffers up to this size are reused for the next message on the chunk stream: 1000 players x
 * 256 KiB bounds what we keep, and bigger (rare) messages get a buffer of their own.
 */
const REUSE_LIMIT = 256 * 1024;

/** A buffer of at least `size` bytes for assembling a message, reusing the stream's spare when it fits. */
function assemblyBuffer(cs: ChunkStream, size: number): Buffer {
  if (cs.spare !== null && cs.spare.length >= size) return cs.spare.subarray(0, size);
  const buf = Buffer.allocUnsafe(size);
  cs.spare = size <= REUSE_LIMIT ? buf : null;
  return buf;
}

/** Incremental chunk reader: push() socket data as it comes; messages come out through the handler. */
export class ChunkReader {
  /** The peer's chunk size, changed by its Set Chunk Size message (the owner applies it). */
  chunkSize = 128;
  private readonly streams = new Map<number, ChunkStream>();
  /** Header bytes left over from the previous push (at most MAX_HEADER - 1). */
  private leftover: Buffer | null = null;
  /** Chunk stream whose chunk payload is being read, or null when a chunk header is expected next. */
  private current: ChunkStream | null = null;
  private chunkRemaining = 0;

  constructor(
    private readonly onMessage: MessageHandler,
    private readonly maxMessage = DEFAULT_MAX_MESSAGE,
  ) {}

  /** Feeds bytes in arrival order. */
  push(data: Buffer): void {
    let pos = 0;
    if (this.leftover !== null) {
      // A header straddled two reads: join only the few bytes a header can need, never the payload.
      const head = this.leftover;
      const joined = Buffer.concat([head, data.subarray(0, MAX_HEADER - head.length)]);
      const end = this.parseHeader(joined, 0);
      if (end < 0) {
        this.leftover = joined;
        return;
      }
      this.leftover = null;
      pos = end - head.length;
      this.afterHeader();
    }
    while (pos < data.length) {
      const cs = this.current;
      if (cs === null) {
        const end = this.parseHeader(data, pos);
        if (end < 0) {
          this.leftover = Buffer.from(data.subarray(pos));
          return;
        }
        pos = end;
        this.afterHeader();
        continue;
      }
      const take = Math.min(this.chunkRemaining, data.length - pos);
      if (cs.body === null && take === cs.length) {
        // Whole message in one chunk and one read: no copy.
        this.current = null;
        this.chunkRemaining = 0;
        this.onMessage(cs.type, cs.streamId, cs.timestamp, data.subarray(pos, pos + take));
        pos += take;
        continue;
      }
      if (cs.body === null) {
        cs.body = assemblyBuffer(cs, cs.length);
        cs.filled = 0;
      }
      data.copy(cs.body, cs.filled, pos, pos + take);
      cs.filled += take;
      pos += take;
      this.chunkRemaining -= take;
      if (this.chunkRemaining === 0) {
        this.current = null;
        if (cs.filled === cs.length) {
          const body = cs.body;
          cs.body = null;
          this.onMessage(cs.type, cs.streamId, cs.timestamp, body);
        }
      }
    }
  }

  /** Zero-length messages have no payload to wait for. */
  private afterHeader(): void {
    const cs = this.current;
    if (cs !== null && cs.length === 0) {
      this.current = null;
      this.onMessage(cs.type, cs.streamId, cs.timestamp, Buffer.alloc(0));
    }
  }

  /**
   * Parses one chunk header at pos. Returns the position after it, or -1 if more bytes are needed
   * (state is left untouched in that case, so the same bytes can be parsed again).
   */
  private parseHeader(buf: Buffer, pos: number): number {
    const len = buf.length;
    let p = pos;
    if (p >= len) return -1;
    const b0 = buf[p++] as number;
    const fmt = b0 >> 6;
    let csid = b0 & 0x3f;
    if (csid === 0) {
      if (p + 1 > len) return -1;
      csid = 64 + (buf[p++] as number);
    } else if (csid === 1) {
      if (p + 2 > len) return -1;
      csid = 64 + (buf[p] as number) + (buf[p + 1] as number) * 256;
      p += 2;
    }
    const hlen = MESSAGE_HEADER_SIZE[fmt] as number;
    if (p + hlen > len) return -1;
    let cs = this.streams.get(csid);
    if (cs === undefined && fmt !== 0) {
      throw new RtmpChunkError(`chunk type ${fmt} on unknown chunk stream ${csid}`);
    }
    let tsField = 0;
    let length = cs?.length ?? 0;
    let type = cs?.type ?? 0;
    let streamId = cs?.streamId ?? 0;
    if (fmt <= 2) tsField = buf.readUIntBE(p, 3);
    if (fmt <= 1) {
      length = buf.readUIntBE(p + 3, 3);
      type = buf[p + 6] as number;
    }
    if (fmt === 0) streamId = buf.readUInt32LE(p + 7);
    p += hlen;
    const extended = fmt <= 2 ? tsField === 0xffffff : (cs?.extended ?? false);
    if (extended) {
      if (p + 4 > len) return -1;
      tsField = buf.readUInt32BE(p);
      p += 4;
    }
    if (cs === undefined) {
      cs = {
        timestamp: 0,
        delta: 0,
        length: 0,
        type: 0,
        streamId: 0,
        extended: false,
        body: null,
        filled: 0,
        spare: null,
      };
      this.streams.set(csid, cs);
    }
    const midMessage = cs.body !== null && fmt === 3;
    if (!midMessage) {
      // A new message; a 0/1/2 header in the middle of one abandons it, as servers do.
      cs.body = null;
      cs.filled = 0;
      if (fmt === 0) {
        cs.timestamp = tsField;
        cs.delta = 0;
      } else if (fmt <= 2) {
        cs.delta = tsField;
        cs.timestamp = (cs.timestamp + tsField) >>> 0;
      } else {
        cs.timestamp = (cs.timestamp + cs.delta) >>> 0;
      }
      if (fmt <= 2) cs.extended = extended;
      if (length > this.maxMessage) {
        throw new RtmpChunkError(`message of ${length} bytes exceeds the ${this.maxMessage}-byte limit`);
      }
      cs.length = length;
      cs.type = type;
      cs.streamId = streamId;
    }
    this.current = cs;
    this.chunkRemaining = Math.min(this.chunkSize, cs.length - cs.filled);
    return p;
  }
}

/**
 * Splits one message into chunks: a type-0 header, then type-3 headers every chunkSize bytes.
 * Returns the pieces for a writev-style write so the payload itself is never copied.
 * Always type 0 for the first chunk: 11 bytes per message is nothing next to a video frame, and it keeps
 * the writer stateless.
 */
export function encodeChunks(
  csid: number,
  type: number,
  streamId: number,
  timestampMs: number,
  payload: Uint8Array,
  chunkSize: number,
): Uint8Array[] {
  const ts = timestampMs >>> 0;
  const extended = ts >= 0xffffff;
  const basic = csid < 64 ? 1 : csid < 320 ? 2 : 3;
  const first = Buffer.allocUnsafe(basic + 11 + (extended ? 4 : 0));
  writeBasicHeader(first, 0, 0, csid);
  first.writeUIntBE(extended ? 0xffffff : ts, basic, 3);
  first.writeUIntBE(payload.length, basic + 3, 3);
  first[basic + 6] = type;
  first.writeUInt32LE(streamId, basic + 7);
  if (extended) first.writeUInt32BE(ts, basic + 11);
  if (payload.length <= chunkSize) return [first, payload];
  const pieces: Uint8Array[] = [first, payload.subarray(0, chunkSize)];
  const cont = Buffer.allocUnsafe(basic + (extended ? 4 : 0));
  writeBasicHeader(cont, 0, 3, csid);
  if (extended) cont.writeUInt32BE(ts, basic);
  for (let off = chunkSize; off < payload.length; off += chunkSize) {
    pieces.push(cont, payload.subarray(off, Math.min(off + chunkSize, payload.length)));
  }
  return pieces;
}

function writeBasicHeader(buf: Buffer, pos: number, fmt: number, csid: number): void {
  if (csid < 64) {
    buf[pos] = (fmt << 6) | csid;
  } else if (csid < 320) {
    buf[pos] = fmt << 6;
    buf[pos + 1] = csid - 64;
  } else {
    buf[pos] = (fmt << 6) | 1;
    buf[pos + 1] = (csid - 64) & 0xff;
    buf[pos + 2] = (csid - 64) >> 8;
  }
}
