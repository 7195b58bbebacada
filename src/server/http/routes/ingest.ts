import { isValidName, NAME_RULE } from '../../../protocol/index.js';
import { CountMap } from '../../core/count-map.js';
import { runIngest } from '../../ingest/session.js';
import type { ServerRelay } from '../../ops/config.js';
import { authorizeHttp, type HttpRoute, pathSegments, refuseMethod, sendError } from '../reply.js';

/**
 * PUT or POST /ingest/<room>/<stream>: publishes the live MPEG-TS or WebM/Matroska body (plain ffmpeg, OBS's
 * custom FFmpeg output) as a stream, until the body ends. Answers at the end, with a JSON summary, or with
 * a JSON error as soon as the stream is refused.
 */
export function ingestRoute(relay: ServerRelay): HttpRoute {
  /** Ingests running per client address, for `maxIngestsPerIp`. */
  const perIp = new CountMap<string>();
  return async (request) => {
    const { req, res, url } = request;
    const parts = pathSegments(url.pathname);
    if (parts?.[0] !== 'ingest') return false;
    if (refuseMethod(request, ['PUT', 'POST'])) return true;
    // A refusal comes before the body is read: close the connection rather than drain a live stream.
    res.setHeader('connection', 'close');
    const [, room = '', name = ''] = parts;
    const refuse = (status: number, code: string, message: string) => {
      relay.log.warn('ingest-refused', { room, name, code, error: message });
      sendError(res, status, code, message);
    };
    if (parts.length !== 3 || !isValidName(room) || !isValidName(name)) {
      refuse(400, 'FW_BAD_NAME', `push to /ingest/<room>/<stream>, each name ${NAME_RULE}`);
      return true;
    }
    if (!(await authorizeHttp(relay, request, 'publish', room))) return true;
    if (relay.findStream(room, name)) {
      refuse(409, 'FW_STREAM_EXISTS', `room ${room} already has a stream named ${name}`);
      return true;
    }
    const ip = req.socket.remoteAddress ?? '';
    const running = perIp.get(ip);
    if (running >= relay.config.maxIngestsPerIp) {
      refuse(
        429,
        'FW_LIMIT',
        `${ip} already pushes ${running} streams (limit ${relay.config.maxIngestsPerIp})`,
      );
      return true;
    }
    res.removeHeader('connection');
    if (req.headers.expect?.toLowerCase() === '100-continue') res.writeContinue();
    perIp.add(ip);
    try {
      await runIngest(relay, request, room, name);
    } finally {
      perIp.remove(ip);
    }
    return true;
  };
}
