import type http from 'node:http';
import { AuthError, allows } from '../core/access.js';
import type { Relay } from '../core/relay.js';
import type { Stream } from '../core/stream.js';

/** One request as a route sees it: the parsed URL (path and query) next to the raw pair. */
export interface HttpRequest {
  req: http.IncomingMessage;
  res: http.ServerResponse;
  url: URL;
}

/**
 * Answers a request it owns and returns true, or returns false to let the next route try. A route may
 * answer asynchronously; a rejection becomes a 500 (and an error in the log).
 */
export type HttpRoute = (request: HttpRequest) => boolean | Promise<boolean>;

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

/** Sends our JSON error shape, `{ error: { code, message } }`. */
export function sendError(res: http.ServerResponse, status: number, code: string, message: string): void {
  sendJson(res, status, { error: { code, message } });
}

/** 404 with FW_NOT_FOUND, naming what was not found. */
export function notFound(res: http.ServerResponse, what: string): void {
  sendError(res, 404, 'FW_NOT_FOUND', `${what} not found`);
}

/** 405 listing what the path allows; returns false when `method` is allowed, so routes can guard with it. */
export function refuseMethod(request: HttpRequest, allowed: readonly string[]): boolean {
  if (allowed.includes(request.req.method ?? 'GET')) return false;
  request.res.writeHead(405, { allow: allowed.join(', ') }).end();
  return true;
}

/** Splits a path into decoded segments: `/api/rooms/a%20b` → ['api', 'rooms', 'a b']; null if badly encoded. */
export function pathSegments(pathname: string): string[] | null {
  try {
    return pathname.split('/').filter(Boolean).map(decodeURIComponent);
  } catch {
    return null;
  }
}

/** Room and stream of `/api/rooms/:room/streams/:name/<leaf>`; null for any other path. */
export function streamResource(pathname: string, leaf: string): { room: string; name: string } | null {
  const parts = pathSegments(pathname);
  if (parts?.length !== 6 || parts[0] !== 'api' || parts[1] !== 'rooms' || parts[3] !== 'streams')
    return null;
  if (parts[5] !== leaf) return null;
  return { room: parts[2] as string, name: parts[4] as string };
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

/**
 * In token mode, checks the request's token (`Authorization: Bearer …` or `?token=`) for `action` in
 * `room`, and answers 401 when it fails; true when the request may go on. Open mode allows everything.
 */
export async function authorizeHttp(
  relay: Relay,
  request: HttpRequest,
  action: 'publish' | 'view',
  room: string,
): Promise<boolean> {
  const { verifier } = relay;
  if (verifier === null) return true;
  const header = request.req.headers.authorization;
  const token = header?.startsWith('Bearer ')
    ? header.slice(7)
    : (request.url.searchParams.get('token') ?? '');
  let refusal: AuthError | null;
  try {
    refusal = allows(await verifier(token), action, room);
  } catch (err) {
    if (!(err instanceof AuthError)) throw err;
    refusal = err;
  }
  if (!refusal) return true;
  relay.log.warn('http-unauthorized', { path: request.url.pathname, reason: refusal.reason });
  sendError(request.res, 401, refusal.code, refusal.message);
  return false;
}
