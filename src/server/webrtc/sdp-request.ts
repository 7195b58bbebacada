import type http from 'node:http';
import { type HttpRequest, sendError } from '../http/reply.js';
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

/** The whole body, null once it passes `max` (the rest left unread), or 'gone' when the client hung up. */
function readBody(req: http.IncomingMessage, max: number): Promise<Buffer | null | 'gone'> {
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
