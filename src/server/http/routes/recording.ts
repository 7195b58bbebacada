import type { Relay } from '../../core/relay.js';
import type { Stream } from '../../core/stream.js';
import { Recording } from '../../recording/recording.js';
import type { RecordingRefusal, Recordings } from '../../recording/recordings.js';
import type { HttpGuard } from '../guard.js';
import { type HttpRequest, type HttpRoute, sendError, sendJson, streamOr404 } from '../reply.js';

/** HTTP status of each refusal to start: a conflict with the server's or the stream's state, or a codec. */
const REFUSAL_STATUS: Record<RecordingRefusal['code'], number> = {
  FW_RECORDING_OFF: 409,
  FW_ALREADY_RECORDING: 409,
  FW_UNSUPPORTED_CODEC: 415,
  FW_BAD_NAME: 400,
  FW_SHUTDOWN: 503,
};

/**
 * `/api/rooms/:room/streams/:name/recording`: GET says whether the stream records and to which file; POST
 * starts a recording (201 `{ file }`); DELETE stops it and answers once the file is finalised (200
 * `{ file, frames, seconds }`). In token mode GET needs a token that may view the room, POST and DELETE an
 * admin token.
 */
export function recordingRoutes(relay: Relay, recordings: Recordings, guard: HttpGuard): HttpRoute[] {
  const path = '/api/rooms/:room/streams/:name/recording';
  /** The stream the request names, once the request may act on it; null when answered already. */
  const streamOf = async (request: HttpRequest, action: 'view' | 'control'): Promise<Stream | null> => {
    const { room, name } = request.params as { room: string; name: string };
    // Recording writes to the server's disk, for as long as the stream lives: the operator's decision,
    // not a publisher's.
    const admitted =
      action === 'control'
        ? await guard.admin(request)
        : await guard.room(request, 'view', room, `stream ${name} in room ${room}`);
    if (!admitted) return null;
    return streamOr404(relay, request.res, room, name);
  };
  return [
    {
      methods: ['GET'],
      path,
      handle: async (request) => {
        const stream = await streamOf(request, 'view');
        if (!stream) return;
        const recording = recordings.get(stream);
        sendJson(
          request.res,
          200,
          recording
            ? {
                recording: true,
                file: recording.file,
                startedAt: recording.startedAt,
                frames: recording.frames,
                dropped: recording.tap.framesDropped,
              }
            : { recording: false },
        );
      },
    },
    {
      methods: ['POST'],
      path,
      handle: async (request) => {
        const stream = await streamOf(request, 'control');
        if (stream) await startRecording(request, recordings.start(stream));
      },
    },
    {
      methods: ['DELETE'],
      path,
      handle: async (request) => {
        const stream = await streamOf(request, 'control');
        if (stream) await stopRecording(request, recordings, stream);
      },
    },
  ];
}

async function startRecording({ res }: HttpRequest, started: Recording | RecordingRefusal): Promise<void> {
  if (!(started instanceof Recording)) {
    sendError(res, REFUSAL_STATUS[started.code], started.code, started.message);
    return;
  }
  try {
    // Answer once the file is open, so a folder we may not write is an error here, not a silent log line.
    await started.ready;
  } catch (err) {
    // The recording has stopped itself, and its record-end line logs the error.
    const message = `cannot write ${started.file}: ${err instanceof Error ? err.message : String(err)}`;
    sendError(res, 500, 'FW_RECORDING_FAILED', message);
    return;
  }
  sendJson(res, 201, { file: started.file });
}

async function stopRecording({ res }: HttpRequest, recordings: Recordings, stream: Stream): Promise<void> {
  const stopping = recordings.stop(stream);
  if (!stopping) {
    sendError(
      res,
      409,
      'FW_NOT_RECORDING',
      `stream ${stream.name} in room ${stream.room.name} is not recording`,
    );
    return;
  }
  const result = await stopping;
  if (result.error !== undefined) {
    sendError(res, 500, 'FW_RECORDING_FAILED', `${result.file}: ${result.error}`);
    return;
  }
  sendJson(res, 200, {
    file: result.kept ? result.file : null,
    frames: result.frames,
    dropped: result.dropped,
    seconds: result.seconds,
  });
}
