/**
 * AMF0, the encoding of RTMP command messages (connect, createStream, publish, play, onStatus).
 * Only the command path uses it, so clarity wins over speed here; media never goes through AMF.
 */

/** A decoded AMF0 value: the subset RTMP servers send in command replies. */
export type Amf0Value = number | boolean | string | null | undefined | Amf0Object | Amf0Value[];
/** An AMF0 object or ECMA array, as a plain record. */
export interface Amf0Object {
  [key: string]: Amf0Value;
}

const NUMBER = 0x00;
const BOOLEAN = 0x01;
const STRING = 0x02;
const OBJECT = 0x03;
const NULL = 0x05;
const UNDEFINED = 0x06;
const ECMA_ARRAY = 0x08;
const OBJECT_END = 0x09;
const STRICT_ARRAY = 0x0a;
const DATE = 0x0b;
const LONG_STRING = 0x0c;

/** Thrown when a command message holds AMF0 we cannot read; the connection is then unusable. */
export class Amf0Error extends Error {
  readonly code = 'FW_BENCH_AMF0';
}

/** Encodes values one after another, as a command message body wants them. */
export function encodeAmf0(values: readonly Amf0Value[]): Buffer {
  const parts: Buffer[] = [];
  for (const v of values) encodeValue(v, parts);
  return Buffer.concat(parts);
}

function encodeValue(v: Amf0Value, out: Buffer[]): void {
  if (v === null) {
    out.push(Buffer.of(NULL));
  } else if (v === undefined) {
    out.push(Buffer.of(UNDEFINED));
  } else if (typeof v === 'number') {
    const b = Buffer.allocUnsafe(9);
    b[0] = NUMBER;
    b.writeDoubleBE(v, 1);
    out.push(b);
  } else if (typeof v === 'boolean') {
    out.push(Buffer.of(BOOLEAN, v ? 1 : 0));
  } else if (typeof v === 'string') {
    const s = Buffer.from(v, 'utf8');
    const h = Buffer.allocUnsafe(s.length > 0xffff ? 5 : 3);
    if (s.length > 0xffff) {
      h[0] = LONG_STRING;
      h.writeUInt32BE(s.length, 1);
    } else {
      h[0] = STRING;
      h.writeUInt16BE(s.length, 1);
    }
    out.push(h, s);
  } else if (Array.isArray(v)) {
    const h = Buffer.allocUnsafe(5);
    h[0] = STRICT_ARRAY;
    h.writeUInt32BE(v.length, 1);
    out.push(h);
    for (const item of v) encodeValue(item, out);
  } else {
    out.push(Buffer.of(OBJECT));
    for (const [key, item] of Object.entries(v)) {
      out.push(shortString(key));
      encodeValue(item, out);
    }
    out.push(Buffer.of(0, 0, OBJECT_END));
  }
}

function shortString(s: string): Buffer {
  const b = Buffer.from(s, 'utf8');
  const h = Buffer.allocUnsafe(2);
  h.writeUInt16BE(b.length, 0);
  return Buffer.concat([h, b]);
}

/** Decodes every value in a command message body. */
export function decodeAmf0(body: Uint8Array): Amf0Value[] {
  const buf = Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  const reader = { buf, pos: 0 };
  const values: Amf0Value[] = [];
  while (reader.pos < buf.length) values.push(decodeValue(reader));
  return values;
}

interface Reader {
  buf: Buffer;
  pos: number;
}

function need(r: Reader, n: number): void {
  if (r.pos + n > r.buf.length) throw new Amf0Error(`AMF0 value truncated at byte ${r.pos}`);
}

function readShortString(r: Reader): string {
  need(r, 2);
  const len = r.buf.readUInt16BE(r.pos);
  need(r, 2 + len);
  const s = r.buf.toString('utf8', r.pos + 2, r.pos + 2 + len);
  r.pos += 2 + len;
  return s;
}

function readProperties(r: Reader): Amf0Object {
  const obj: Amf0Object = {};
  for (;;) {
    need(r, 3);
    if (r.buf.readUInt16BE(r.pos) === 0 && r.buf[r.pos + 2] === OBJECT_END) {
      r.pos += 3;
      return obj;
    }
    const key = readShortString(r);
    obj[key] = decodeValue(r);
  }
}

function decodeValue(r: Reader): Amf0Value {
  need(r, 1);
  const marker = r.buf[r.pos++];
  switch (marker) {
    case NUMBER: {
      need(r, 8);
      const n = r.buf.readDoubleBE(r.pos);
      r.pos += 8;
      return n;
    }
    case BOOLEAN:
      need(r, 1);
      return r.buf[r.pos++] !== 0;
    case STRING:
      return readShortString(r);
    case LONG_STRING: {
      need(r, 4);
      const len = r.buf.readUInt32BE(r.pos);
      need(r, 4 + len);
      const s = r.buf.toString('utf8', r.pos + 4, r.pos + 4 + len);
      r.pos += 4 + len;
      return s;
    }
    case OBJECT:
      return readProperties(r);
    case ECMA_ARRAY:
      // The count is a hint only; the array ends with the same marker as an object.
      need(r, 4);
      r.pos += 4;
      return readProperties(r);
    case STRICT_ARRAY: {
      need(r, 4);
      const count = r.buf.readUInt32BE(r.pos);
      r.pos += 4;
      const arr: Amf0Value[] = [];
      for (let i = 0; i < count; i++) arr.push(decodeValue(r));
      return arr;
    }
    case DATE: {
      need(r, 10);
      const ms = r.buf.readDoubleBE(r.pos);
      r.pos += 10;
      return ms;
    }
    case NULL:
      return null;
    case UNDEFINED:
      return undefined;
    default:
      throw new Amf0Error(`unsupported AMF0 marker 0x${(marker ?? 0).toString(16)} at byte ${r.pos - 1}`);
  }
}
