import type { Relay } from '../../core/relay.js';
import type { Stream } from '../../core/stream.js';
import { Recording } from '../../recording/recording.js';
import type { RecordingRefusal, Recordings } from '../../recording/recordings.js';
import {
  authorizeHttp,
  type HttpRequest,
  type HttpRoute,
  refuseMethod,
  sendError,
  sendJson,
  streamOr404,
  streamResource,
} from '../reply.js';

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
 * `{ file, frames, seconds }`). In token mode POST and DELETE need a token that may publish in the room.
 */
export function recordingRoute(relay: Relay, recordings: Recordings): HttpRoute {
  return async (request) => {
    const path = streamResource(request.url.pathname, 'recording');
    if (!path) return false;
    if (refuseMethod(request, ['GET', 'POST', 'DELETE'])) return true;
    const { room, name } = path;
    const method = request.req.method ?? 'GET';
    // Recording writes to the server's disk: the same right as putting a stream into the room.
    if (method !== 'GET' && !(await authorizeHttp(relay, request, 'publish', room))) return true;
    const stream = streamOr404(relay, request.res, room, name);
    if (!stream) return true;
    if (method === 'POST') await startRecording(request, recordings.start(stream));
    else if (method === 'DELETE') await stopRecording(request, recordings, stream);
    else {
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
    }
    return true;
  };
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
