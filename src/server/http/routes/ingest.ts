import { NAME_RULE } from '../../../protocol/index.js';
import { CountMap } from '../../core/count-map.js';
import { runIngest } from '../../ingest/session.js';
import type { ServerRelay } from '../../ops/config.js';
import type { HttpGuard } from '../guard.js';
import { type HttpRequest, type HttpRoute, sendError } from '../reply.js';

/**
 * PUT or POST /ingest/<room>/<stream>: publishes the live MPEG-TS or WebM/Matroska body (plain ffmpeg, OBS's
 * custom FFmpeg output) as a stream, until the body ends. Answers at the end, with a JSON summary, or with
 * a JSON error as soon as the stream is refused (sendError then closes the connection rather than read the
 * rest of a live body). In token mode it takes a token that may publish in the room, and a revocation of
 * that token cuts the push.
 */
export function ingestRoutes(relay: ServerRelay, guard: HttpGuard): HttpRoute[] {
  /** Ingests running per client address, for `maxIngestsPerIp`. */
  const perIp = new CountMap<string>();

  const ingest = async (request: HttpRequest): Promise<void> => {
    const { req, res, params } = request;
    const { room, name } = params as { room: string; name: string };
    const refuse = (status: number, code: string, message: string) => {
      relay.log.warn('ingest-refused', { room, name, code, error: message });
      sendError(res, status, code, message);
    };
    const admitted = await guard.room(request, 'publish', room, `room ${room}`);
    if (!admitted) return;
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
    // Cut like a publisher that went away: the ingest ends its stream and logs it as disconnected.
    const release = guard.hold(admitted.grant, () => req.destroy());
    try {
      await runIngest(relay, request, room, name);
    } finally {
      release();
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
