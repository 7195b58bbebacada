import { NAME_RULE } from '../../../protocol/index.js';
import { CountMap } from '../../core/count-map.js';
import { runIngest } from '../../ingest/session.js';
import type { ServerRelay } from '../../ops/config.js';
import { authorizeHttp, type HttpRequest, type HttpRoute, sendError } from '../reply.js';

/**
 * PUT or POST /ingest/<room>/<stream>: publishes the live MPEG-TS or WebM/Matroska body (plain ffmpeg, OBS's
 * custom FFmpeg output) as a stream, until the body ends. Answers at the end, with a JSON summary, or with
 * a JSON error as soon as the stream is refused (sendError then closes the connection rather than read the
 * rest of a live body).
 */
export function ingestRoutes(relay: ServerRelay): HttpRoute[] {
  /** Ingests running per client address, for `maxIngestsPerIp`. */
  const perIp = new CountMap<string>();

  const ingest = async (request: HttpRequest): Promise<void> => {
    const { req, res, params } = request;
    const { room, name } = params as { room: string; name: string };
    const refuse = (status: number, code: string, message: string) => {
      relay.log.warn('ingest-refused', { room, name, code, error: message });
      sendError(res, status, code, message);
    };
    if (!(await authorizeHttp(relay, request, 'publish', room))) return;
    const taken = relay.nameTaken(room, name);
    if (taken) {
      refuse(409, taken.code, taken.message);
      return;
    }
    const ip = req.socket.remoteAddress ?? '';
    const running = perIp.get(ip);
    if (running >= relay.config.maxIngestsPerIp) {
      refuse(
        429,
        'FW_LIMIT',
        `${ip} already pushes ${running} streams (limit ${relay.config.maxIngestsPerIp})`,
      );
      return;
    }
    if (req.headers.expect?.toLowerCase() === '100-continue') res.writeContinue();
    perIp.add(ip);
    try {
      await runIngest(relay, request, room, name);
    } finally {
      perIp.remove(ip);
    }
  };

  return [
    { methods: ['PUT', 'POST'], path: '/ingest/:room/:name', handle: ingest },
    {
      // Any other shape under /ingest/ is a push to the wrong address: say which one is right.
      methods: ['PUT', 'POST'],
      path: '/ingest/*',
      handle: ({ res }) => {
        sendError(res, 400, 'FW_BAD_NAME', `push to /ingest/<room>/<stream>, each name ${NAME_RULE}`);
      },
    },
  ];
}
