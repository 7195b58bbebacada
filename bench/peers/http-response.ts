/**
 * Incremental reader of one HTTP/1.1 response for a streaming GET: status line and headers, then the body
 * as slices (de-chunked when Transfer-Encoding is chunked). Pure byte code. We skip node:http for the
 * players because its per-read stream and IncomingMessage work is most of a player's cost at 500+ players.
 */

/** Thrown on a response we cannot read. */
export class HttpResponseError extends Error {
  readonly code = 'FW_BENCH_HTTP_RESPONSE';
}

/** Status line + headers may not exceed this: a streaming server sends a few hundred bytes. */
const MAX_HEAD = 16 * 1024;
/** A chunk-size line longer than this is not HTTP. */
const MAX_SIZE_LINE = 64;

enum State {
  Head,
  Identity,
  ChunkSize,
  ChunkData,
  ChunkDataEnd,
  Done,
}

/** Feed it reads with push(); onHead gets the status and headers once, onBody every body slice (a view). */
export class HttpResponseReader {
  private state = State.Head;
  private head = '';
  private sizeLine = '';
  private chunkLeft = 0;
  /** Bytes of the CRLF after chunk data still to skip. */
  private crlfLeft = 0;

  constructor(
    private readonly onHead: (status: number, headers: Map<string, string>) => void,
    private readonly onBody: (slice: Buffer) => void,
    private readonly onEnd: () => void,
  ) {}

  /** Feeds bytes in arrival order. */
  push(data: Buffer): void {
    let pos = 0;
    const len = data.length;
    while (pos < len) {
      switch (this.state) {
        case State.Head: {
          // latin1 keeps one char per byte, so string offsets are byte offsets.
          const prevLen = this.head.length;
          this.head += data.toString('latin1', pos, Math.min(len, pos + MAX_HEAD));
          const end = this.head.indexOf('\r\n\r\n');
          if (end < 0) {
            if (this.head.length >= MAX_HEAD) throw new HttpResponseError('response head too large');
            return;
          }
          pos += end + 4 - prevLen;
          this.parseHead(this.head.slice(0, end));
          this.head = '';
          break;
        }
        case State.Identity:
          this.onBody(data.subarray(pos));
          return;
        case State.ChunkSize: {
          const nl = data.indexOf(0x0a, pos);
          const stop = nl < 0 ? len : nl;
          this.sizeLine += data.toString('latin1', pos, stop);
          if (this.sizeLine.length > MAX_SIZE_LINE) throw new HttpResponseError('bad chunk size line');
          if (nl < 0) return;
          pos = nl + 1;
          const size = Number.parseInt(this.sizeLine, 16);
          this.sizeLine = '';
          if (!Number.isFinite(size) || size < 0) throw new HttpResponseError('bad chunk size');
          if (size === 0) {
            this.state = State.Done;
            this.onEnd();
            return;
          }
          this.chunkLeft = size;
          this.state = State.ChunkData;
          break;
        }
        case State.ChunkData: {
          const take = Math.min(this.chunkLeft, len - pos);
          this.onBody(data.subarray(pos, pos + take));
          pos += take;
          this.chunkLeft -= take;
          if (this.chunkLeft === 0) {
            this.crlfLeft = 2;
            this.state = State.ChunkDataEnd;
          }
          break;
        }
        case State.ChunkDataEnd: {
          const take = Math.min(this.crlfLeft, len - pos);
          pos += take;
          this.crlfLeft -= take;
          if (this.crlfLeft === 0) this.state = State.ChunkSize;
          break;
        }
        case State.Done:
          return;
      }
    }
  }

  private parseHead(head: string): void {
    const [statusLine = '', ...lines] = head.split('\r\n');
    const match = /^HTTP\/1\.[01] (\d{3})/.exec(statusLine);
    if (match === null) throw new HttpResponseError(`not an HTTP response: ${statusLine.slice(0, 80)}`);
    const headers = new Map<string, string>();
    for (const line of lines) {
      const colon = line.indexOf(':');
      if (colon > 0) headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
    }
    const chunked = headers.get('transfer-encoding')?.toLowerCase().includes('chunked') ?? false;
    this.state = chunked ? State.ChunkSize : State.Identity;
    this.onHead(Number(match[1]), headers);
  }
}
