// The dedicated worker of the camera's `worker` capture path (video-capture.ts). Where MediaStreamTrackProcessor
// exists only in a worker (Safari 18) the page transfers the camera track here and the processor is built
// here; where the page has the processor itself (Chromium, path forced for tests) it transfers the
// processor's readable instead. Either way this reads VideoFrames and posts each one to the page.

/** Page → worker. */
export type ToCaptureWorker =
  /** Is MediaStreamTrackProcessor defined here? Answered with `probe`. */
  | { type: 'probe' }
  /** Read this camera track (transferred). */
  | { type: 'track'; track: MediaStreamTrack }
  /** Read this processor's frames (transferred). */
  | { type: 'readable'; readable: ReadableStream<VideoFrame> }
  /** The page has taken (or closed) one frame we posted. */
  | { type: 'took' }
  /** Stop reading, stop the track if we hold it, and end the worker. */
  | { type: 'stop' };

/** Worker → page. */
export type FromCaptureWorker =
  | { type: 'probe'; processor: boolean }
  /** One camera frame (transferred: the page must close it). */
  | { type: 'frame'; frame: VideoFrame }
  /** No more frames: the track ended (`error` null) or reading failed. */
  | { type: 'end'; error: string | null };

/** DedicatedWorkerGlobalScope, as far as used here (the project's TypeScript lib is the DOM's). */
interface WorkerScope {
  onmessage: ((e: MessageEvent<ToCaptureWorker>) => void) | null;
  postMessage(message: FromCaptureWorker, transfer?: Transferable[]): void;
  close(): void;
}

/**
 * Frames posted and not yet taken by the page. Each one holds a camera buffer, and the camera has only a
 * few: a queue in the message port would stall the camera and add latency, so past this the newest frame
 * waits here, replacing (and closing) an older one.
 */
const MAX_IN_FLIGHT = 2;

const scope = self as unknown as WorkerScope;
let inFlight = 0;
let held: VideoFrame | null = null;
let reader: ReadableStreamDefaultReader<VideoFrame> | null = null;
let track: MediaStreamTrack | null = null;
let stopped = false;

scope.onmessage = (e) => {
  const m = e.data;
  switch (m.type) {
    case 'probe':
      scope.postMessage({ type: 'probe', processor: typeof MediaStreamTrackProcessor !== 'undefined' });
      return;
    case 'track':
      track = m.track;
      void pump(new MediaStreamTrackProcessor({ track: m.track }).readable);
      return;
    case 'readable':
      void pump(m.readable);
      return;
    case 'took':
      inFlight = Math.max(0, inFlight - 1);
      if (held) {
        const frame = held;
        held = null;
        post(frame);
      }
      return;
    case 'stop':
      stop();
      return;
  }
};

/** Reads frames as fast as the camera makes them, so the processor's own buffer never backs up. */
async function pump(readable: ReadableStream<VideoFrame>): Promise<void> {
  reader = readable.getReader();
  let error: string | null = null;
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done || stopped) {
        value?.close();
        break;
      }
      if (inFlight < MAX_IN_FLIGHT) post(value);
      else {
        held?.close();
        held = value;
      }
    }
  } catch (err) {
    error = String(err);
  }
  if (!stopped) scope.postMessage({ type: 'end', error });
}

function post(frame: VideoFrame): void {
  inFlight++;
  scope.postMessage({ type: 'frame', frame }, [frame]);
}

function stop(): void {
  stopped = true;
  reader?.cancel().catch(() => {});
  // A transferred track lives here now: only here can it be stopped (the camera light goes off).
  track?.stop();
  held?.close();
  held = null;
  scope.close();
}
