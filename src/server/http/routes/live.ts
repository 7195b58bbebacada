import { AppendOnlyStreamTarget } from 'mediabunny';
import { CONTAINER_CODECS, type Container, createMuxer, muxRefusal } from '../../../media/muxer.js';
import { badName } from '../../../protocol/index.js';
import type { Relay } from '../../core/relay.js';
import { DEFAULT_AUDIO_BACKLOG_BYTES, MuxTap } from '../../recording/mux-tap.js';
import type { HttpGuard } from '../guard.js';
import { type HttpRequest, type HttpRoute, sendError, streamOr404 } from '../reply.js';

const CONTENT_TYPES: Record<Container, string> = {
  webm: 'video/webm',
  mkv: 'video/x-matroska',
  mp4: 'video/mp4',
};

/**
 * GET /live/<room>/<stream>.<webm|mkv|mp4>: the stream, live, in a standard container, for players that
 * speak no Framewire (ffplay, VLC, a plain `<video src>`), with both its tracks (video, audio or both). It
 * starts at the cached GOP's keyframe, so playback begins at once. Each response is a stream tap with the
 * viewer drop policy: a player that reads too slowly skips video to the next keyframe instead of growing
 * our buffer, while its audio goes on up to its own bound. In token mode it takes a token that may view the
 * room, and a revocation of that token ends the response.
 */
export function liveRoutes(relay: Relay, guard: HttpGuard): HttpRoute[] {
  return [
    { methods: ['GET', 'HEAD'], path: '/live/:room/:file', handle: (request) => play(relay, guard, request) },
  ];
}

async function play(relay: Relay, guard: HttpGuard, request: HttpRequest): Promise<void> {
  const { req, res, params } = request;
  const room = params.room as string;
  const file = params.file as string;
  const dot = file.lastIndexOf('.');
  const name = file.slice(0, dot);
  const container = file.slice(dot + 1) as Container;
  if (dot < 1 || !(container in CONTAINER_CODECS)) {
    sendError(res, 404, 'FW_NOT_FOUND', `${request.path}: ask for <stream>.webm, .mkv or .mp4`);
    return;
  }
  const bad = badName(name, 'stream name');
  if (bad) {
    sendError(res, 400, 'FW_BAD_NAME', bad);
    return;
  }
  const admitted = await guard.room(request, 'view', room, `stream ${name} in room ${room}`);
  if (!admitted) return;
  const stream = streamOr404(relay, res, room, name);
  if (!stream) return;
  const full = relay.viewerLimitRefusal(stream);
  if (full) {
    sendError(res, 503, full.code, full.message);
    return;
  }
  const refusal = muxRefusal(container, stream.tracks);
  if (refusal !== null) {
    // muxRefusal ends with the container to use (`use .mp4`): say it as the URL to ask for.
    sendError(
      res,
      415,
      'FW_UNSUPPORTED_CODEC',
      `stream ${name}: ${refusal.replace(/use \.(\w+)$/, `ask for ${name}.$1`)}`,
    );
    return;
  }
  res.writeHead(200, { 'content-type': CONTENT_TYPES[container], 'cache-control': 'no-store' });
  if (req.method === 'HEAD') {
    res.end();
    return;
  }
  const target = new AppendOnlyStreamTarget(
    new WritableStream<Uint8Array>({
      // Copied: the muxer may reuse its buffer once the write resolves, while the socket still holds it.
      write: (chunk) => void res.write(Buffer.from(chunk)),
    }),
  );
  const muxer = await createMuxer(container, stream.tracks, target, true);
  const fields = { room, name, container, remote: `${req.socket.remoteAddress}:${req.socket.remotePort}` };
  const started = Date.now();
  const tap = new MuxTap(
    muxer,
    {
      maxBacklogBytes: relay.config.viewerQueueBytes,
      maxGopBytes: relay.config.gopCacheBytes,
      maxAudioBacklogBytes: DEFAULT_AUDIO_BACKLOG_BYTES,
    },
    () => res.writableLength,
    (reason, error) => {
      res.end();
      relay.log.info('live-end', {
        ...fields,
        reason,
        frames: tap.framesWritten,
        dropped: tap.framesDropped,
        audioFrames: tap.audioFramesWritten,
        audioDropped: tap.audioFramesDropped,
        seconds: Math.round((Date.now() - started) / 1000),
        ...(error ? { error: String(error) } : {}),
      });
    },
  );
  // The player may have gone, or the stream ended, while the muxer started.
  if (res.destroyed) {
    tap.cancel('closed by viewer');
    return;
  }
  if (stream.closed) {
    tap.end('ended');
    return;
  }
  // A revoked token ends the response: the player sees the connection close, as when the server stops.
  const release = guard.hold(admitted.grant, () => res.destroy());
  res.on('close', () => {
    release();
    stream.removeTap(tap);
    tap.cancel('closed by viewer');
  });
  relay.log.info('live-start', fields);
  stream.addTap(tap);
}
