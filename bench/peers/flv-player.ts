/** HTTP-FLV player for benchmarks (node-media-server's GET /app/key.flv). */
import net from 'node:net';
import { FlvReader, type FlvTag, FlvTagType } from '../../src/media/flv.js';
import { HttpResponseReader } from './http-response.js';
import type { VideoHandler } from './rtmp-player.js';
import { sharedRead } from './shared-read.js';

/** Failure to start or keep an HTTP-FLV stream. */
export class HttpFlvError extends Error {
  constructor(
    readonly code: 'FW_BENCH_FLV_URL' | 'FW_BENCH_FLV_HTTP' | 'FW_BENCH_FLV_CLOSED',
    message: string,
  ) {
    super(message);
  }
}

/** How long the server may take to answer the GET with headers. */
const CONNECT_TIMEOUT_MS = 10_000;
/** A live tag larger than this means we lost sync; it bounds what a broken stream makes us allocate. */
const MAX_TAG_BYTES = 64 * 1024 * 1024;

/**
 * Plays one stream over HTTP-FLV and reports each video tag. A raw socket with a hand-written GET, not
 * node:http: see http-response.ts for why.
 */
export class HttpFlvPlayer {
  /** Resolves when the connection has closed: with the error, or null after close(). */
  readonly closed: Promise<Error | null>;
  private closedByUs = false;
  private failure: Error | null = null;

  private constructor(private readonly socket: net.Socket) {
    socket.on('error', (err) => {
      this.failure ??= err;
    });
    this.closed = new Promise((resolve) => {
      socket.once('close', () => {
        resolve(
          this.failure ??
            (this.closedByUs ? null : new HttpFlvError('FW_BENCH_FLV_CLOSED', 'server ended the stream')),
        );
      });
    });
  }

  /** GETs the URL and resolves once the response headers say 200. */
  static connect(url: string, onVideo: VideoHandler): Promise<HttpFlvPlayer> {
    const u = new URL(url);
    if (u.protocol !== 'http:') {
      return Promise.reject(
        new HttpFlvError('FW_BENCH_FLV_URL', `expected http://host:port/app/key.flv, got ${url}`),
      );
    }
    return new Promise((resolve, reject) => {
      // Reads arrive in the process-wide shared buffer (shared-read.ts): the reader copies what it keeps,
      // and reusing one body buffer keeps hundreds of players from allocating per tag.
      const flv = new FlvReader({ maxTagBytes: MAX_TAG_BYTES, reuseBodies: true });
      const onTag = (tag: FlvTag): void => {
        if (tag.type === FlvTagType.video) onVideo(tag.timestamp, tag.data.length, tag.data);
      };
      const response = new HttpResponseReader(
        (status) => {
          clearTimeout(timer);
          if (status === 200) {
            resolve(player);
            return;
          }
          const err = new HttpFlvError('FW_BENCH_FLV_HTTP', `GET ${url} answered ${status}`);
          player.fail(err);
          reject(err);
        },
        (slice) => flv.push(slice, onTag),
        () => socket.end(),
      );
      const socket = net.connect({
        host: u.hostname,
        port: u.port === '' ? 80 : Number(u.port),
        noDelay: true,
        onread: sharedRead((data) => {
          try {
            response.push(data);
          } catch (err) {
            player.fail(err as Error);
          }
        }),
      });
      const player = new HttpFlvPlayer(socket);
      socket.once('connect', () => {
        socket.write(`GET ${u.pathname}${u.search} HTTP/1.1\r\nHost: ${u.host}\r\nConnection: close\r\n\r\n`);
      });
      const timer = setTimeout(() => {
        player.fail(new HttpFlvError('FW_BENCH_FLV_HTTP', `GET ${url} timed out`));
      }, CONNECT_TIMEOUT_MS);
      player.closed.then((err) => {
        clearTimeout(timer);
        reject(err ?? new HttpFlvError('FW_BENCH_FLV_CLOSED', `GET ${url}: connection closed`));
      });
    });
  }

  /** Closes the connection at once. */
  close(): void {
    this.closedByUs = true;
    this.socket.destroy();
  }

  private fail(err: Error): void {
    this.failure ??= err;
    this.socket.destroy();
  }
}
