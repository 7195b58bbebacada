// Where remote tiles are drawn: in the page's one paint worker (paint-worker.ts) when the browser can hand
// a canvas to a worker, else on the page's own thread, as before.
import type { FromPaintWorker, ToPaintWorker } from './paint-worker.js';
import { samplePixels } from './pixels.js';

/**
 * Frames sent to the worker and not yet drawn, per canvas. Each holds a decoder buffer; past this the
 * worker is behind, and the frame is not painted (the next due one will be): never a queue in the port.
 */
const MAX_IN_FLIGHT = 2;

/** One tile's canvas, drawn wherever the painter chose. */
export interface PaintTarget {
  /** Draws `frame` (and closes it); false when the worker is behind and it was not drawn. */
  draw(frame: VideoFrame): boolean;
  /** A sample of what the canvas shows (see pixels.ts). */
  pixels(count: number, channels: 1 | 3): Promise<number[]>;
  /** The tile is gone. */
  detach(): void;
}

let worker: Worker | null | undefined;
let nextId = 1;
let nextRequest = 1;
const inFlight = new Map<number, number>();
const pending = new Map<number, (pixels: number[]) => void>();

/** The paint target of `canvas`: the worker's when it can take it, else the page's own. */
export function paintTarget(canvas: HTMLCanvasElement): PaintTarget {
  const w = paintWorker();
  if (w === null || typeof canvas.transferControlToOffscreen !== 'function') return pageTarget(canvas);
  let offscreen: OffscreenCanvas;
  try {
    offscreen = canvas.transferControlToOffscreen();
  } catch {
    return pageTarget(canvas);
  }
  const id = nextId++;
  const send = (m: ToPaintWorker, transfer: Transferable[] = []) => w.postMessage(m, transfer);
  send({ type: 'attach', id, canvas: offscreen }, [offscreen]);
  inFlight.set(id, 0);
  return {
    draw(frame) {
      const n = inFlight.get(id) ?? 0;
      if (n >= MAX_IN_FLIGHT) {
        frame.close();
        return false;
      }
      inFlight.set(id, n + 1);
      send({ type: 'draw', id, frame }, [frame]);
      return true;
    },
    pixels(count, channels) {
      const request = nextRequest++;
      return new Promise((resolve) => {
        pending.set(request, resolve);
        send({ type: 'pixels', id, request, count, channels });
      });
    },
    detach() {
      inFlight.delete(id);
      send({ type: 'detach', id });
    },
  };
}

/** The page's one paint worker, started on first need; null where workers cannot be started. */
function paintWorker(): Worker | null {
  if (worker !== undefined) return worker;
  try {
    worker = new Worker(new URL('./paint-worker.ts', import.meta.url), { type: 'module' });
  } catch {
    worker = null;
    return null;
  }
  worker.onmessage = (e: MessageEvent<FromPaintWorker>) => {
    const m = e.data;
    if (m.type === 'drawn') {
      const n = inFlight.get(m.id);
      if (n !== undefined) inFlight.set(m.id, Math.max(0, n - 1));
    } else {
      pending.get(m.request)?.(m.pixels);
      pending.delete(m.request);
    }
  };
  return worker;
}

/** Drawing on the page's own thread, where a canvas cannot go to a worker. */
function pageTarget(canvas: HTMLCanvasElement): PaintTarget {
  const context = canvas.getContext('2d', { alpha: false });
  return {
    draw(frame) {
      const { displayWidth: w, displayHeight: h } = frame;
      if (canvas.width !== w || canvas.height !== h) {
        canvas.width = w;
        canvas.height = h;
      }
      context?.drawImage(frame, 0, 0, w, h);
      frame.close();
      return true;
    },
    async pixels(count, channels) {
      if (!context || canvas.width === 0) return [];
      return samplePixels(context.getImageData(0, 0, canvas.width, canvas.height).data, count, channels);
    },
    detach() {},
  };
}
