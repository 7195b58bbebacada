import type http from 'node:http';
import { type HttpRequest, notFound, readBody, sendError, sendJson } from '../http/reply.js';
import { WebRtcError, type WebRtcErrorCode } from './errors.js';
import { SDP_LIMITS } from './sdp-offer.js';

/** HTTP status of each WebRTC refusal. */
const STATUS: Record<WebRtcErrorCode, number> = {
  FW_BAD_SDP: 400,
  FW_UNSUPPORTED_CODEC: 415,
  FW_LIMIT: 503,
  FW_WEBRTC_FAILED: 500,
  FW_TIMEOUT: 504,
};

/**
 * The SDP offer a WHIP or WHEP POST carries, or null having answered: 415 unless `application/sdp`, 413 past
 * {@link SDP_LIMITS}.bytes (the rest left unread), 400 when not UTF-8 text.
 */
export async function readOffer(request: HttpRequest): Promise<string | null> {
  const { req, res } = request;
  const type = (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase();
  if (type !== 'application/sdp') {
    sendError(res, 415, 'FW_BAD_SDP', 'send the SDP offer with Content-Type: application/sdp');
    return null;
  }
  const body = await readBody(req, SDP_LIMITS.bytes);
  if (body === 'gone') return null;
  if (body === null) {
    sendError(res, 413, 'FW_BAD_SDP', `the SDP offer is over ${SDP_LIMITS.bytes} bytes`);
    return null;
  }
  return body.toString('latin1');
}

/** Answers a refusal from the WebRTC side with its status and code. */
export function sendWebRtcError(res: http.ServerResponse, err: unknown): void {
  if (!(err instanceof WebRtcError)) throw err;
  if (!res.headersSent) sendError(res, STATUS[err.code], err.code, err.message);
}

/** Answers 201 with the SDP answer and the session's URL. */
export function sendAnswer(res: http.ServerResponse, location: string, answer: string): void {
  res.writeHead(201, {
    'content-type': 'application/sdp',
    location,
    'cache-control': 'no-store',
    'content-length': Buffer.byteLength(answer),
  });
  res.end(answer);
}

/** A WHIP or WHEP session as its URL serves it. */
interface SessionResource {
  close(reason: string): void;
  stats(): object;
}

/**
 * GET on a session's URL reads its counters, DELETE ends it (for `reason`) and answers 200; 404 when
 * `session` is null (no such `kind` session at this URL).
 */
export function answerSession(
  request: HttpRequest,
  kind: 'WHIP' | 'WHEP',
  session: SessionResource | null,
  reason: string,
): void {
  const { req, res } = request;
  if (!session) {
    notFound(res, `${kind} session ${request.path}`);
    return;
  }
  if (req.method === 'DELETE') {
    session.close(reason);
    res.writeHead(200, { 'content-length': 0 });
    res.end();
    return;
  }
  sendJson(res, 200, session.stats());
}
