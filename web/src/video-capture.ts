// The camera as VideoFrames, three ways, chosen by what the browser has (never by its name):
//   processor  MediaStreamTrackProcessor in the window (Chromium);
//   worker     MediaStreamTrackProcessor only inside a worker (Safari 18): the track is transferred to
//              video-capture-worker.ts, which posts the frames back;
//   element    neither (Firefox): the track plays in a hidden <video>, and each frame it presents
//              (requestVideoFrameCallback) is copied into a VideoFrame.

import { processorReader } from './track-processor.js';
import type { FromCaptureWorker, ToCaptureWorker } from './video-capture-worker.js';

/** Which way camera frames come (stats, tests). */
export type VideoCaptureKind = 'processor' | 'worker' | 'element';

/** A source of camera VideoFrames; `read` resolves null once the track has ended or {@link stop} ran. */
export interface VideoCapture {
  readonly kind: VideoCaptureKind;
  /** The next frame (the caller closes it); rejects if reading failed. */
  read(): Promise<VideoFrame | null>;
  stop(): void;
}

/** How long the worker may take to say whether it has MediaStreamTrackProcessor before we use the element. */
const PROBE_TIMEOUT_MS = 2000;

/** Whether a hidden <video> can hand over its frames: requestVideoFrameCallback and `new VideoFrame(video)`. */
export function canCaptureFromElement(): boolean {
  return (
    typeof HTMLVideoElement !== 'undefined' &&
    'requestVideoFrameCallback' in HTMLVideoElement.prototype &&
    typeof VideoFrame !== 'undefined'
  );
}

/**
 * Opens the capture for `track`: MediaStreamTrackProcessor in the window if there is one, else in a worker
 * if the worker has it, else a hidden <video>. `force` (a test hook, `?video-capture=worker|element`) takes
 * that path where it can work: in Chromium the worker path reads a window processor's frames in the worker.
 * Null when no path works here.
 */
export async function openVideoCapture(
  track: MediaStreamTrack,
  force: 'worker' | 'element' | null = null,
): Promise<VideoCapture | null> {
  const windowProcessor = typeof MediaStreamTrackProcessor !== 'undefined';
  if (windowProcessor && force === null) return processorCapture(track);
  if (force !== 'element') {
    const worker = await openWorkerCapture(track, windowProcessor);
    if (worker) return worker;
  }
  if (canCaptureFromElement()) return new ElementCapture(track);
  return windowProcessor ? processorCapture(track) : null;
}

/** MediaStreamTrackProcessor in the window. */
function processorCapture(track: MediaStreamTrack): VideoCapture {
  return { kind: 'processor', ...processorReader<VideoFrame>(track) };
}

/** Whether a worker of this page has MediaStreamTrackProcessor; asked once per page. */
let workerHasProcessor: boolean | null = null;

/**
 * Starts the capture worker. With a window processor, its readable is transferred; without, the track is,
 * if the worker says it has MediaStreamTrackProcessor. Null (worker ended) when that path cannot work here.
 */
async function openWorkerCapture(
  track: MediaStreamTrack,
  windowProcessor: boolean,
): Promise<VideoCapture | null> {
  if (typeof Worker === 'undefined' || (!windowProcessor && workerHasProcessor === false)) return null;
  let worker: Worker;
  try {
    worker = new Worker(new URL('./video-capture-worker.ts', import.meta.url), { type: 'module' });
  } catch {
    return null;
  }
  const send = (m: ToCaptureWorker, transfer: Transferable[] = []) => worker.postMessage(m, transfer);
  try {
    if (windowProcessor) {
      const readable = new MediaStreamTrackProcessor({ track }).readable;
      send({ type: 'readable', readable }, [readable]);
      return new WorkerCapture(worker);
    }
    workerHasProcessor ??= await probeWorker(worker);
    if (!workerHasProcessor) throw new Error('no MediaStreamTrackProcessor in workers');
    // TypeScript's DOM lib does not list MediaStreamTrack as Transferable (Safari and the spec do); where it
    // is not, postMessage throws before detaching the track, and the element path takes it.
    send({ type: 'track', track }, [track as unknown as Transferable]);
    return new WorkerCapture(worker);
  } catch {
    worker.terminate();
    return null;
  }
}

/** Asks a fresh capture worker whether it has MediaStreamTrackProcessor (false if it fails or is slow). */
function probeWorker(worker: Worker): Promise<boolean> {
  return new Promise((resolve) => {
    const done = (has: boolean) => {
      clearTimeout(timer);
      worker.onmessage = null;
      worker.onerror = null;
      resolve(has);
    };
    const timer = setTimeout(() => done(false), PROBE_TIMEOUT_MS);
    worker.onmessage = (e: MessageEvent<FromCaptureWorker>) => {
      if (e.data.type === 'probe') done(e.data.processor);
    };
    worker.onerror = () => done(false);
    worker.postMessage({ type: 'probe' } satisfies ToCaptureWorker);
  });
}

/** Frames keep arriving whether or not they are read; each waiting one holds a camera buffer. */
abstract class PushedFrames {
  private pending: VideoFrame | null = null;
  private waiter: { resolve(f: VideoFrame | null): void; reject(e: Error): void } | null = null;
  private error: Error | null = null;
  protected ended = false;

  read(): Promise<VideoFrame | null> {
    const next = this.pending;
    if (next) {
      this.pending = null;
      this.taken();
      return Promise.resolve(next);
    }
    if (this.error) return Promise.reject(this.error);
    if (this.ended) return Promise.resolve(null);
    return new Promise((resolve, reject) => {
      this.waiter = { resolve, reject };
    });
  }

  /** Called once a delivered frame has left our hands (read, or closed for a newer one). */
  protected taken(): void {}

  /** Hands `frame` to a waiting read, else keeps it as the one pending frame: an older one is closed. */
  protected deliver(frame: VideoFrame): void {
    if (this.ended) {
      frame.close();
      this.taken();
      return;
    }
    const w = this.waiter;
    if (w) {
      this.waiter = null;
      this.taken();
      w.resolve(frame);
      return;
    }
    if (this.pending) {
      // The encoder is behind: the newest picture is worth more than the one waiting.
      this.pending.close();
      this.taken();
    }
    this.pending = frame;
  }

  /** No more frames; `error` makes the waiting and later reads reject with it. */
  protected end(error: Error | null): void {
    if (this.ended) return;
    this.ended = true;
    this.error = error;
    this.pending?.close();
    this.pending = null;
    const w = this.waiter;
    this.waiter = null;
    if (w && error) w.reject(error);
    else w?.resolve(null);
  }
}

/** Frames read by video-capture-worker.ts and posted to the page. */
class WorkerCapture extends PushedFrames implements VideoCapture {
  readonly kind = 'worker';

  constructor(private readonly worker: Worker) {
    super();
    worker.onmessage = (e: MessageEvent<FromCaptureWorker>) => {
      const m = e.data;
      if (m.type === 'frame') this.deliver(m.frame);
      else if (m.type === 'end') this.end(m.error === null ? null : new Error(m.error));
    };
    worker.onerror = (e) => this.end(new Error(`capture worker failed: ${e.message}`));
  }

  protected override taken(): void {
    // Lets the worker post its next frame: it keeps at most two in flight.
    this.send({ type: 'took' });
  }

  stop(): void {
    if (this.ended) return;
    this.end(null);
    // The worker stops the track it holds and closes itself.
    this.send({ type: 'stop' });
  }

  private send(m: ToCaptureWorker): void {
    this.worker.postMessage(m);
  }
}

/** The track in a hidden <video>; each frame it presents becomes a VideoFrame. */
class ElementCapture extends PushedFrames implements VideoCapture {
  readonly kind = 'element';
  private readonly video = document.createElement('video');
  private lastTimestamp = Number.NEGATIVE_INFINITY;
  private readonly onEnded = () => this.stop();

  constructor(private readonly track: MediaStreamTrack) {
    super();
    const video = this.video;
    video.muted = true;
    video.playsInline = true;
    video.autoplay = true;
    video.setAttribute('aria-hidden', 'true');
    video.dataset.videoCapture = '';
    // In the document and laid out, but invisible: a video that is not rendered may present no frames,
    // and then no frame callback runs.
    Object.assign(video.style, {
      position: 'fixed',
      left: '0',
      top: '0',
      width: '2px',
      height: '2px',
      opacity: '0.01',
      pointerEvents: 'none',
    });
    video.srcObject = new MediaStream([track]);
    document.body.append(video);
    track.addEventListener('ended', this.onEnded);
    video.requestVideoFrameCallback(this.onFrame);
    video.play().catch(() => {}); // muted: allowed without a click; autoplay retries anyway
  }

  stop(): void {
    if (this.ended) return;
    this.end(null);
    this.track.removeEventListener('ended', this.onEnded);
    this.video.srcObject = null;
    this.video.remove();
  }

  private readonly onFrame = (now: number, meta: VideoFrameCallbackMetadata): void => {
    if (this.ended) return;
    this.video.requestVideoFrameCallback(this.onFrame);
    let frame: VideoFrame;
    try {
      frame = new VideoFrame(this.video, { timestamp: this.timestampFor(now, meta) });
    } catch {
      return; // no picture yet (the element was not ready): the next presented frame will do
    }
    this.deliver(frame);
  };

  /**
   * µs, strictly increasing: the camera's capture time where the browser gives it (Chromium), else when the
   * frame was presented (Firefox gives no capture time, and its `mediaTime` can repeat).
   */
  private timestampFor(now: number, meta: VideoFrameCallbackMetadata): number {
    let us = Math.round((meta.captureTime ?? now) * 1000);
    if (us <= this.lastTimestamp) us = this.lastTimestamp + 1;
    this.lastTimestamp = us;
    return us;
  }
}
