import { AppendOnlyStreamTarget } from 'mediabunny';
import {
  CONTAINER_CODECS,
  type Container,
  canHold,
  createMuxer,
  preferredContainer,
} from '../../../media/muxer.js';
import type { Relay } from '../../core/relay.js';
import { MuxTap } from '../../recording/mux-tap.js';
import {
  authorizeHttp,
  type HttpRoute,
  pathSegments,
  refuseMethod,
  sendError,
  streamOr404,
} from '../reply.js';

const CONTENT_TYPES: Record<Container, string> = {
  webm: 'video/webm',
  mkv: 'video/x-matroska',
  mp4: 'video/mp4',
};

/**
 * GET /live/<room>/<stream>.<webm|mkv|mp4>: the stream, live, in a standard container, for players that
 * speak no Framewire (ffplay, VLC, a plain `<video src>`). It starts at the cached GOP's keyframe, so
 * playback begins at once. Each response is a stream tap with the viewer drop policy: a player that
 * reads too slowly skips to the next keyframe instead of growing our buffer.
 */
export function liveRoute(relay: Relay): HttpRoute {
  return async (request) => {
    const { req, res, url } = request;
    const parts = pathSegments(url.pathname);
    if (parts?.[0] !== 'live' || parts.length !== 3) return false;
    if (refuseMethod(request, ['GET', 'HEAD'])) return true;
    const [, room, file] = parts as [string, string, string];
    const dot = file.lastIndexOf('.');
    const name = file.slice(0, dot);
    const container = file.slice(dot + 1) as Container;
    if (dot < 1 || !(container in CONTAINER_CODECS)) {
      sendError(res, 404, 'FW_NOT_FOUND', `${url.pathname}: ask for <stream>.webm, .mkv or .mp4`);
      return true;
    }
    if (!(await authorizeHttp(relay, request, 'view', room))) return true;
    const stream = streamOr404(relay, res, room, name);
    if (!stream) return true;
    if (stream.viewerCount >= relay.config.maxViewersPerStream) {
      const limit = relay.config.maxViewersPerStream;
      sendError(res, 503, 'FW_LIMIT', `stream ${name} has its maximum of ${limit} viewers`);
      return true;
    }
    if (!canHold(container, stream.config.codec)) {
      const better = preferredContainer(stream.config.codec);
      const hint = better ? `; ask for ${name}.${better}` : '';
      sendError(res, 415, 'FW_UNSUPPORTED_CODEC', `.${container} cannot hold ${stream.config.codec}${hint}`);
      return true;
    }
    res.writeHead(200, { 'content-type': CONTENT_TYPES[container], 'cache-control': 'no-store' });
    if (req.method === 'HEAD') {
      res.end();
      return true;
    }
    const target = new AppendOnlyStreamTarget(
      new WritableStream<Uint8Array>({
        // Copied: the muxer may reuse its buffer once the write resolves, while the socket still holds it.
        write: (chunk) => void res.write(Buffer.from(chunk)),
      }),
    );
    const muxer = await createMuxer(container, stream.config, target, true);
    const fields = { room, name, container, remote: `${req.socket.remoteAddress}:${req.socket.remotePort}` };
    const started = Date.now();
    const tap = new MuxTap(
      muxer,
      { maxBacklogBytes: relay.config.viewerQueueBytes, maxGopBytes: relay.config.gopCacheBytes },
      () => res.writableLength,
      (reason, error) => {
        res.end();
        relay.log.info('live-end', {
          ...fields,
          reason,
          frames: tap.framesWritten,
          dropped: tap.framesDropped,
          seconds: Math.round((Date.now() - started) / 1000),
          ...(error ? { error: String(error) } : {}),
        });
      },
    );
    res.on('close', () => {
      stream.taps.delete(tap);
      tap.cancel('closed by viewer');
    });
    // The stream may have ended while the muxer started.
    if (!relay.streams.has(stream.id)) {
      tap.end('ended');
      return true;
    }
    relay.log.info('live-start', fields);
    stream.addTap(tap);
    return true;
  };
}
