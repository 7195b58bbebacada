import type http from 'node:http';
import { type HttpMethod, type HttpRequest, notFound, readBody, sendError, sendJson } from '../http/reply.js';
import { WebRtcError, type WebRtcErrorCode } from './errors.js';
import { FRAGMENT_BYTES } from './sdp-fragment.js';
import { SDP_LIMITS } from './sdp-offer.js';
import type { WebRtcService } from './service.js';

/** The media type of a trickle ICE PATCH body (RFC 8840). */
const TRICKLE_TYPE = 'application/trickle-ice-sdpfrag';

/** What a WHIP or WHEP session's URL answers (PATCH: trickle ICE). */
export const SESSION_METHODS: readonly HttpMethod[] = ['GET', 'DELETE', 'PATCH'];

/** HTTP status of each WebRTC refusal. */
const STATUS: Record<WebRtcErrorCode, number> = {
  FW_BAD_SDP: 400,
  FW_UNSUPPORTED_CODEC: 415,
  FW_LIMIT: 503,
  FW_WEBRTC_FAILED: 500,
  FW_TIMEOUT: 504,
  // RFC 9725 §4.3.1: a server with trickle ICE but no ICE restarts answers a restart with 422.
  FW_ICE_RESTART: 422,
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
    // RFC 9725: the session URL takes trickle ICE fragments by PATCH.
    'accept-patch': TRICKLE_TYPE,
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

/**
 * PATCH on a session's URL (trickle ICE, RFC 9725 §4.3.1): 404 when `session` is null or ends meanwhile,
 * 415 unless `application/trickle-ice-sdpfrag`, 413 past {@link FRAGMENT_BYTES}, 400 or 422 when the
 * fragment is refused, else its candidates go to the session and the answer is 204.
 */
export async function trickleSession(
  request: HttpRequest,
  kind: 'WHIP' | 'WHEP',
  session: { id: string } | null,
  webrtc: WebRtcService,
): Promise<void> {
  const { req, res } = request;
  if (!session) {
    notFound(res, `${kind} session ${request.path}`);
    return;
  }
  const type = (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase();
  if (type !== TRICKLE_TYPE) {
    sendError(res, 415, 'FW_BAD_SDP', `send trickle ICE candidates with Content-Type: ${TRICKLE_TYPE}`);
    return;
  }
  const body = await readBody(req, FRAGMENT_BYTES);
  if (body === 'gone') return;
  if (body === null) {
    sendError(res, 413, 'FW_BAD_SDP', `the trickle ICE fragment is over ${FRAGMENT_BYTES} bytes`);
    return;
  }
  try {
    if (!webrtc.trickle(session.id, body.toString('latin1'))) {
      notFound(res, `${kind} session ${request.path}`);
      return;
    }
  } catch (err) {
    sendWebRtcError(res, err);
    return;
  }
  res.writeHead(204);
  res.end();
}
