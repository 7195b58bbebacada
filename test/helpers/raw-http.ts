import { createHash, randomBytes } from 'node:crypto';
import net from 'node:net';

/** What one raw exchange got back: every byte the server sent, and how the connection ended. */
export interface RawResult {
  bytes: Buffer;
  /** The server closed (or reset) the connection before we gave up on it. */
  closedByServer: boolean;
  /** Our deadline passed first and we destroyed the socket. */
  timedOut: boolean;
  /** A socket error (ECONNRESET after the server cut us off, EPIPE while still writing). */
  error: string | null;
}

/** Options of {@link rawExchange}. */
export interface RawOptions {
  /** Give up and destroy the socket after this long (ms); default 1000. */
  ms?: number;
  /** Pause between chunks (ms), for a slow client; default 0, everything written at once. */
  gapMs?: number;
  /** Half-close (send FIN) once everything is written. */
  end?: boolean;
  /** Resolves early (destroying the socket) once this says what has arrived is all we wait for. */
  done?: (bytes: Buffer) => boolean;
}

/** Sockets of exchanges still running, so a test can destroy every one of them in `after`. */
export const openSockets = new Set<net.Socket>();

/** Writes `chunks` (strings are sent byte for byte, latin1) on a fresh connection and collects the answer. */
export function rawExchange(
  port: number,
  chunks: readonly (string | Uint8Array)[],
  o: RawOptions = {},
): Promise<RawResult> {
  const { ms = 1000, gapMs = 0, end = false, done } = o;
  const data = chunks.map((c) => (typeof c === 'string' ? Buffer.from(c, 'latin1') : Buffer.from(c)));
  return new Promise((resolve) => {
    const received: Buffer[] = [];
    let timedOut = false;
    let finished = false;
    let error: string | null = null;
    const s = net.connect(port, '127.0.0.1');
    openSockets.add(s);
    const timer = setTimeout(() => {
      timedOut = true;
      s.destroy();
    }, ms);
    const writeFrom = (i: number): void => {
      if (s.destroyed || !s.writable) return;
      if (i >= data.length) {
        if (end) s.end();
        return;
      }
      s.write(data[i] as Buffer);
      if (gapMs > 0) setTimeout(() => writeFrom(i + 1), gapMs);
      else writeFrom(i + 1);
    };
    s.on('connect', () => writeFrom(0));
    s.on('data', (chunk: Buffer) => {
      received.push(chunk);
      if (done?.(Buffer.concat(received))) {
        finished = true;
        s.destroy();
      }
    });
    s.on('error', (err: NodeJS.ErrnoException) => {
      error = err.code ?? err.message;
    });
    s.on('close', () => {
      clearTimeout(timer);
      openSockets.delete(s);
      resolve({ bytes: Buffer.concat(received), closedByServer: !timedOut && !finished, timedOut, error });
    });
  });
}

/** One HTTP response as read off the wire; `status` is -1 when the bytes are not an HTTP/1.x status line. */
export interface RawResponse {
  status: number;
  statusLine: string;
  /** Lower-cased names, in order, repeats kept. */
  headers: [string, string][];
  body: Buffer;
  /** The whole body arrived (by Content-Length or the last chunk; a close-delimited body never is). */
  complete: boolean;
}

/** The first value of header `name` (lower case), or undefined. */
export function header(r: RawResponse, name: string): string | undefined {
  return r.headers.find(([n]) => n === name)?.[1];
}

/**
 * Splits what a server sent into responses. `methods` are those of the requests in the order sent, so a
 * response to HEAD is read without a body; 1xx responses other than 101 are skipped; after a 101 the rest
 * is the upgraded protocol's, returned as that response's body.
 */
export function parseResponses(bytes: Buffer, methods: readonly string[] = []): RawResponse[] {
  const out: RawResponse[] = [];
  let pos = 0;
  let index = 0;
  while (pos < bytes.length) {
    const headEnd = bytes.indexOf('\r\n\r\n', pos, 'latin1');
    if (headEnd < 0) {
      // A head that never finished: keep it visible to the caller as a broken response.
      out.push({
        status: -1,
        statusLine: bytes.subarray(pos, pos + 80).toString('latin1'),
        headers: [],
        body: bytes.subarray(pos),
        complete: false,
      });
      break;
    }
    const lines = bytes.subarray(pos, headEnd).toString('latin1').split('\r\n');
    const statusLine = lines[0] ?? '';
    const m = /^HTTP\/1\.[01] (\d{3})(?: .*)?$/.exec(statusLine);
    const headers = lines.slice(1).map((l): [string, string] => {
      const colon = l.indexOf(':');
      return colon < 0 ? [l.toLowerCase(), ''] : [l.slice(0, colon).toLowerCase(), l.slice(colon + 1).trim()];
    });
    pos = headEnd + 4;
    const status = m ? Number(m[1]) : -1;
    const r: RawResponse = { status, statusLine, headers, body: Buffer.alloc(0), complete: true };
    if (status === -1) {
      r.body = bytes.subarray(pos);
      r.complete = false;
      out.push(r);
      break;
    }
    if (status === 101) {
      r.body = bytes.subarray(pos);
      out.push(r);
      break;
    }
    if (status >= 100 && status < 200) continue;
    const method = (methods[index++] ?? 'GET').toUpperCase();
    const length = header(r, 'content-length');
    const chunked = /chunked/i.test(header(r, 'transfer-encoding') ?? '');
    if (method === 'HEAD' || status === 204 || status === 304) {
      // No body, whatever the headers say.
    } else if (chunked) {
      const parsed = readChunked(bytes, pos);
      r.body = parsed.body;
      r.complete = parsed.complete;
      pos = parsed.end;
    } else if (length !== undefined) {
      const n = Number(length);
      r.body = bytes.subarray(pos, pos + n);
      r.complete = r.body.length === n;
      pos += r.body.length;
    } else {
      r.body = bytes.subarray(pos);
      r.complete = false;
      pos = bytes.length;
    }
    out.push(r);
  }
  return out;
}

function readChunked(bytes: Buffer, from: number): { body: Buffer; complete: boolean; end: number } {
  const parts: Buffer[] = [];
  let pos = from;
  for (;;) {
    const lineEnd = bytes.indexOf('\r\n', pos, 'latin1');
    if (lineEnd < 0) return { body: Buffer.concat(parts), complete: false, end: bytes.length };
    const size = Number.parseInt(bytes.subarray(pos, lineEnd).toString('latin1'), 16);
    if (!Number.isFinite(size)) return { body: Buffer.concat(parts), complete: false, end: bytes.length };
    pos = lineEnd + 2;
    if (size === 0) {
      // The last chunk, then (no trailers from our server) the empty line.
      const trailerEnd = bytes.indexOf('\r\n', pos, 'latin1');
      return {
        body: Buffer.concat(parts),
        complete: trailerEnd >= 0,
        end: trailerEnd < 0 ? bytes.length : trailerEnd + 2,
      };
    }
    parts.push(bytes.subarray(pos, pos + size));
    if (pos + size + 2 > bytes.length)
      return { body: Buffer.concat(parts), complete: false, end: bytes.length };
    pos += size + 2;
  }
}

/** A `done` predicate for {@link rawExchange}: `count` whole final responses (or a 101) have arrived. */
export function responsesComplete(
  count: number,
  methods: readonly string[] = [],
): (bytes: Buffer) => boolean {
  return (bytes) => {
    const rs = parseResponses(bytes, methods);
    if (rs.some((r) => r.status === 101 || r.status === -1)) return false;
    return rs.filter((r) => r.complete).length >= count;
  };
}

/** A fresh Sec-WebSocket-Key (16 random bytes, base64) and the Sec-WebSocket-Accept a server must answer. */
export function wsKey(): { key: string; accept: string } {
  const key = randomBytes(16).toString('base64');
  const accept = createHash('sha1').update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
  return { key, accept };
}

/** The parts of a raw WebSocket frame (RFC 6455 §5.2), including the ones a well-behaved client never sends. */
export interface RawWsFrame {
  fin?: boolean;
  /** The three RSV bits, 0-7. */
  rsv?: number;
  opcode: number;
  /** Client frames must be masked; false sends one unmasked. */
  masked?: boolean;
  payload?: Uint8Array;
  /** The length to announce instead of the payload's (a lie: huge, or longer than what follows). */
  announced?: bigint;
}

/** One frame a server sent after a 101, as read back; `masked` is a protocol error from a server. */
export interface ServerWsFrame {
  fin: boolean;
  opcode: number;
  masked: boolean;
  payload: Buffer;
}

/** Reads the whole frames in `bytes` (what followed a 101); a trailing partial frame is left out. */
export function parseWsFrames(bytes: Buffer): ServerWsFrame[] {
  const out: ServerWsFrame[] = [];
  let pos = 0;
  while (pos + 2 <= bytes.length) {
    const b0 = bytes[pos] as number;
    const b1 = bytes[pos + 1] as number;
    let n = b1 & 0x7f;
    let at = pos + 2;
    if (n === 126) {
      if (at + 2 > bytes.length) break;
      n = bytes.readUInt16BE(at);
      at += 2;
    } else if (n === 127) {
      if (at + 8 > bytes.length) break;
      n = Number(bytes.readBigUInt64BE(at));
      at += 8;
    }
    const masked = (b1 & 0x80) !== 0;
    if (masked) at += 4;
    if (at + n > bytes.length) break;
    out.push({ fin: (b0 & 0x80) !== 0, opcode: b0 & 0x0f, masked, payload: bytes.subarray(at, at + n) });
    pos = at + n;
  }
  return out;
}

/** Encodes a WebSocket frame byte for byte as described, masking the payload when `masked`. */
export function wsFrame(f: RawWsFrame): Buffer {
  const payload = Buffer.from(f.payload ?? new Uint8Array(0));
  const masked = f.masked ?? true;
  const n = f.announced ?? BigInt(payload.length);
  const head: number[] = [((f.fin ?? true) ? 0x80 : 0) | (((f.rsv ?? 0) & 7) << 4) | (f.opcode & 0x0f)];
  const maskBit = masked ? 0x80 : 0;
  let ext = Buffer.alloc(0);
  if (n < 126n) {
    head.push(maskBit | Number(n));
  } else if (n < 0x10000n) {
    head.push(maskBit | 126);
    ext = Buffer.alloc(2);
    ext.writeUInt16BE(Number(n));
  } else {
    head.push(maskBit | 127);
    ext = Buffer.alloc(8);
    ext.writeBigUInt64BE(BigInt.asUintN(64, n));
  }
  if (!masked) return Buffer.concat([Buffer.from(head), ext, payload]);
  const mask = randomBytes(4);
  const body = Buffer.from(payload);
  for (let i = 0; i < body.length; i++) body[i] = (body[i] as number) ^ (mask[i % 4] as number);
  return Buffer.concat([Buffer.from(head), ext, mask, body]);
}
