// The page's paint worker: every remote tile's canvas, transferred here, is drawn on this thread. Drawing a
// VideoFrame into a 2D canvas converts and copies the whole picture in software where there is no GPU: a
// 1080p60 screen took the page's main thread to ~40 paints a second, and with it every other tile's.
import { samplePixels } from './pixels.js';

/** Page → worker. */
export type ToPaintWorker =
  | { type: 'attach'; id: number; canvas: OffscreenCanvas }
  | { type: 'draw'; id: number; frame: VideoFrame }
  | { type: 'detach'; id: number }
  /** A sample of what the canvas shows, for tests: `channels` values every `1/count` of its bytes. */
  | { type: 'pixels'; id: number; request: number; count: number; channels: 1 | 3 };

/** Worker → page. */
export type FromPaintWorker =
  /** One frame of canvas `id` was drawn (or dropped): the page may send another. */
  { type: 'drawn'; id: number } | { type: 'pixels'; request: number; pixels: number[] };

/** DedicatedWorkerGlobalScope, as far as used here (the project's TypeScript lib is the DOM's). */
interface WorkerScope {
  onmessage: ((e: MessageEvent<ToPaintWorker>) => void) | null;
  postMessage(message: FromPaintWorker): void;
}

const scope = self as unknown as WorkerScope;
const canvases = new Map<
  number,
  { canvas: OffscreenCanvas; context: OffscreenCanvasRenderingContext2D | null }
>();

scope.onmessage = (e) => {
  const m = e.data;
  switch (m.type) {
    case 'attach':
      canvases.set(m.id, { canvas: m.canvas, context: m.canvas.getContext('2d', { alpha: false }) });
      return;
    case 'draw': {
      const target = canvases.get(m.id);
      if (target) draw(target.canvas, target.context, m.frame);
      m.frame.close();
      scope.postMessage({ type: 'drawn', id: m.id });
      return;
    }
    case 'detach':
      canvases.delete(m.id);
      return;
    case 'pixels': {
      const target = canvases.get(m.id);
      scope.postMessage({
        type: 'pixels',
        request: m.request,
        pixels: target ? sample(target, m.count, m.channels) : [],
      });
      return;
    }
  }
};

/** Draws `frame` at its own size, resizing the canvas when the picture's size changes. */
function draw(
  canvas: OffscreenCanvas,
  context: OffscreenCanvasRenderingContext2D | null,
  frame: VideoFrame,
): void {
  const { displayWidth: w, displayHeight: h } = frame;
  if (canvas.width !== w || canvas.height !== h) {
    canvas.width = w;
    canvas.height = h;
  }
  context?.drawImage(frame, 0, 0, w, h);
}

function sample(
  target: { canvas: OffscreenCanvas; context: OffscreenCanvasRenderingContext2D | null },
  count: number,
  channels: 1 | 3,
): number[] {
  const { canvas, context } = target;
  if (!context || canvas.width === 0) return [];
  return samplePixels(context.getImageData(0, 0, canvas.width, canvas.height).data, count, channels);
}
