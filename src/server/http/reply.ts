import type http from 'node:http';
import type { Relay } from '../core/relay.js';
import type { Stream } from '../core/stream.js';

/** One request as a route sees it: the raw pair, the path, its decoded parameters and the query. */
export interface HttpRequest {
  req: http.IncomingMessage;
  res: http.ServerResponse;
  /** The request's path as sent (still percent-encoded, no query), for logs and messages. */
  path: string;
  /** Route parameters, decoded once; `room` and `name` are valid names (the router checked them). */
  params: Readonly<Record<string, string>>;
  query: URLSearchParams;
}

/** HTTP methods the routes answer. */
export type HttpMethod = 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

/**
 * One route: the methods and path (find-my-way syntax, `:room` and `:name` parameters) it answers, and
 * the handler. A handler may answer asynchronously; a throw or rejection becomes a 500 with its stack in
 * the log, and the server goes on.
 */
export interface HttpRoute {
  methods: readonly HttpMethod[];
  path: string;
  handle(request: HttpRequest): void | Promise<void>;
}

/** Sends `body` as JSON with `status`; never cached (everything we answer in JSON is live). */
export function sendJson(res: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
  });
  res.end(text);
}

/**
 * Sends our JSON error shape, `{ error: { code, message } }`. A refusal that comes before the request's
 * body was read also closes the connection: otherwise Node would read and discard the whole body to keep
 * the connection alive, and a body may be endless (a live ingest, or an attacker's).
 */
export function sendError(res: http.ServerResponse, status: number, code: string, message: string): void {
  const { req } = res;
  const hasBody = req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length']) > 0;
  if (hasBody && !req.complete) res.setHeader('connection', 'close');
  sendJson(res, status, { error: { code, message } });
}

/** 404 with FW_NOT_FOUND, naming what was not found. */
export function notFound(res: http.ServerResponse, what: string): void {
  sendError(res, 404, 'FW_NOT_FOUND', `${what} not found`);
}

/** The live stream `name` of `room`; or null, having answered 404 naming it. */
export function streamOr404(
  relay: Relay,
  res: http.ServerResponse,
  room: string,
  name: string,
): Stream | null {
  const stream = relay.findStream(room, name);
  if (!stream) notFound(res, `stream ${name} in room ${room}`);
  return stream ?? null;
}

/** The whole body, null once it passes `max` (the rest left unread), or 'gone' when the client hung up. */
export function readBody(req: http.IncomingMessage, max: number): Promise<Buffer | null | 'gone'> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > max) {
        req.off('data', onData);
        req.pause();
        resolve(null);
        return;
      }
      chunks.push(chunk);
    };
    req.on('data', onData);
    req.once('end', () => resolve(Buffer.concat(chunks)));
    req.once('close', () => resolve('gone'));
    req.once('error', () => resolve('gone'));
  });
}
