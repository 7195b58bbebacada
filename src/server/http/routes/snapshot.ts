import { MediaError } from '../../../media/errors.js';
import type { Relay } from '../../core/relay.js';
import { Snapshots } from '../../recording/snapshots.js';
import type { HttpGuard } from '../guard.js';
import { type HttpRequest, type HttpRoute, sendError, streamOr404 } from '../reply.js';

/** HTTP status of each way decoding can fail. */
const FAILURE_STATUS: Partial<Record<MediaError['code'], number>> = {
  FW_FFMPEG_MISSING: 503,
  FW_FFMPEG_TIMEOUT: 504,
  FW_UNSUPPORTED_CODEC: 415,
  // The publisher's keyframe does not decode: bad data from upstream, not a fault of the server or the asker.
  FW_FFMPEG_FAILED: 502,
};

/**
 * `GET /api/rooms/:room/streams/:name/snapshot.jpg`: one JPEG of the stream's latest keyframe. In token
 * mode it needs a token that may view the room.
 */
export function snapshotRoutes(relay: Relay, guard: HttpGuard, snapshots = new Snapshots()): HttpRoute[] {
  const handle = async (request: HttpRequest): Promise<void> => {
    const { res, params } = request;
    const { room, name } = params as { room: string; name: string };
    if (!(await guard.room(request, 'view', room, `stream ${name} in room ${room}`))) return;
    const stream = streamOr404(relay, res, room, name);
    if (!stream) return;
    const taken = snapshots.take(stream);
    if (taken === 'no-video') {
      sendError(
        res,
        415,
        'FW_NO_VIDEO',
        `stream ${name} has no video track (it carries only sound): no picture to take`,
      );
      return;
    }
    if (taken === 'no-keyframe' || taken === 'busy') {
      res.setHeader('retry-after', '1');
      if (taken === 'busy')
        sendError(res, 503, 'FW_BUSY', 'the server is decoding other snapshots: retry in a moment');
      else sendError(res, 503, 'FW_NO_KEYFRAME', `stream ${name} has no keyframe yet: retry in a moment`);
      return;
    }
    let jpeg: Uint8Array;
    try {
      jpeg = await taken;
    } catch (err) {
      if (!(err instanceof MediaError)) throw err;
      const status = FAILURE_STATUS[err.code] ?? 500;
      relay.log.warn('snapshot-failed', { room, name, code: err.code, error: err.message });
      sendError(res, status, err.code, err.message);
      return;
    }
    res.writeHead(200, {
      'content-type': 'image/jpeg',
      'content-length': jpeg.byteLength,
      'cache-control': 'no-store',
    });
    res.end(jpeg);
  };
  // GET only: a HEAD would cost the same ffmpeg decode for nothing.
  return [{ methods: ['GET'], path: '/api/rooms/:room/streams/:name/snapshot.jpg', handle }];
}
