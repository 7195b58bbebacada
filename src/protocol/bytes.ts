import { ProtocolError } from './errors.js';

const utf8Encoder = new TextEncoder();
// fatal: malformed UTF-8 is a malformed message, not a string with replacement characters.
// ignoreBOM: a leading U+FEFF is part of the string, not a byte-order mark to strip.
const utf8Decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** Longest string field, in UTF-8 bytes: strings carry a u16 length. */
export const MAX_STRING_BYTES = 0xffff;

/** UTF-8 bytes of `s`, checked against the u16 length field that will carry them. */
export function utf8(s: string): Uint8Array {
  const bytes = utf8Encoder.encode(s);
  if (bytes.length > MAX_STRING_BYTES) {
    throw new ProtocolError('FW_TOO_LARGE', `string of ${bytes.length} bytes exceeds ${MAX_STRING_BYTES}`);
  }
  return bytes;
}

/** Refuses to encode a value its field would silently wrap or truncate. */
function checkRange(v: number, max: number, field: string): void {
  if (!Number.isInteger(v) || v < 0 || v > max) {
    throw new ProtocolError('FW_BAD_MESSAGE', `${v} does not fit a ${field} field`);
  }
}

/** Writes big-endian fields into a buffer sized up front (so encoding allocates exactly once). */
export class ByteWriter {
  readonly bytes: Uint8Array;
  private readonly view: DataView;
  private pos = 0;

  constructor(size: number) {
    this.bytes = new Uint8Array(size);
    this.view = new DataView(this.bytes.buffer);
  }

  u8(v: number): this {
    checkRange(v, 0xff, 'u8');
    this.view.setUint8(this.pos, v);
    this.pos += 1;
    return this;
  }

  u16(v: number): this {
    checkRange(v, 0xffff, 'u16');
    this.view.setUint16(this.pos, v);
    this.pos += 2;
    return this;
  }

  u32(v: number): this {
    checkRange(v, 0xffffffff, 'u32');
    this.view.setUint32(this.pos, v);
    this.pos += 4;
    return this;
  }

  f64(v: number): this {
    if (!Number.isFinite(v)) throw new ProtocolError('FW_BAD_MESSAGE', `${v} is not a finite time`);
    this.view.setFloat64(this.pos, v);
    this.pos += 8;
    return this;
  }

  /** A string as u16 length + UTF-8 bytes, already encoded by {@link utf8}. */
  str(encoded: Uint8Array): this {
    this.u16(encoded.length);
    return this.raw(encoded);
  }

  raw(b: Uint8Array): this {
    this.bytes.set(b, this.pos);
    this.pos += b.length;
    return this;
  }

  /** The finished message; throws if the size computed up front was wrong (a bug, not bad input). */
  done(): Uint8Array {
    if (this.pos !== this.bytes.length) {
      throw new Error(`ByteWriter: wrote ${this.pos} of ${this.bytes.length} bytes`);
    }
    return this.bytes;
  }
}

/** Reads big-endian fields, turning every overrun into a typed FW_TRUNCATED error. */
export class ByteReader {
  private readonly view: DataView;
  private pos: number;

  constructor(
    private readonly bytes: Uint8Array,
    start = 0,
  ) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.pos = start;
  }

  private need(n: number, what: string): void {
    if (this.pos + n > this.bytes.length) {
      throw new ProtocolError('FW_TRUNCATED', `message ends inside ${what}`);
    }
  }

  u8(what: string): number {
    this.need(1, what);
    const v = this.view.getUint8(this.pos);
    this.pos += 1;
    return v;
  }

  u16(what: string): number {
    this.need(2, what);
    const v = this.view.getUint16(this.pos);
    this.pos += 2;
    return v;
  }

  u32(what: string): number {
    this.need(4, what);
    const v = this.view.getUint32(this.pos);
    this.pos += 4;
    return v;
  }

  f64(what: string): number {
    this.need(8, what);
    const v = this.view.getFloat64(this.pos);
    this.pos += 8;
    return v;
  }

  str(what: string): string {
    const len = this.u16(`${what} length`);
    this.need(len, what);
    const slice = this.bytes.subarray(this.pos, this.pos + len);
    this.pos += len;
    try {
      return utf8Decoder.decode(slice);
    } catch {
      throw new ProtocolError('FW_BAD_MESSAGE', `${what} is not valid UTF-8`);
    }
  }

  /** `n` bytes as a view into the message (no copy). */
  bytesOf(n: number, what: string): Uint8Array {
    this.need(n, what);
    const slice = this.bytes.subarray(this.pos, this.pos + n);
    this.pos += n;
    return slice;
  }

  /** Everything left, as a view (no copy). */
  rest(): Uint8Array {
    const slice = this.bytes.subarray(this.pos);
    this.pos = this.bytes.length;
    return slice;
  }

  /** Rejects trailing bytes: a message is exactly as long as its fields. */
  end(type: string): void {
    if (this.pos !== this.bytes.length) {
      throw new ProtocolError(
        'FW_BAD_MESSAGE',
        `${this.bytes.length - this.pos} trailing bytes after ${type}`,
      );
    }
  }
}
