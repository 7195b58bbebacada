import { parentPort, workerData } from 'node:worker_threads';
import { DemuxError, type DemuxErrorCode, type DemuxLimits, demuxVideo } from '../../media/demux.js';
import {
  type DecoderConfig,
  encodeMessage,
  frameMessage,
  LENGTH_PREFIX_BYTES,
} from '../../protocol/index.js';

/**
 * The demuxer of one pushed stream, in a worker thread: mediabunny runs here so that input which sends it
 * into a loop (it has one on corrupt Matroska) burns this thread, which the server then terminates, and
 * never stalls the relay's own event loop.
 */

/** What the server gives the worker at start. */
export interface IngestWorkerData extends DemuxLimits {
  maxMessageBytes: number;
}

/** Server → worker. */
export type ToDemuxer =
  | { type: 'chunk'; data: Uint8Array }
  | { type: 'end' }
  | { type: 'start'; streamId: number }
  | { type: 'ping' };

/** Worker → server. Frames arrive as whole wire messages, length prefix included, ready to relay. */
export type FromDemuxer =
  | { type: 'consumed'; bytes: number }
  | { type: 'pong' }
  | { type: 'config'; container: string; config: DecoderConfig }
  | { type: 'frame'; key: boolean; framed: Uint8Array }
  | { type: 'done' }
  | { type: 'failed'; code: DemuxErrorCode; message: string };

const port = parentPort;
if (!port) throw new Error('ingest-worker runs as a worker thread');
const limits = workerData as IngestWorkerData;
const post = (m: FromDemuxer, transfer: ArrayBuffer[] = []) => port.postMessage(m, transfer);

/** Body chunks sent by the server and not yet read by the demuxer (at most the server's high-water mark). */
const queued: Uint8Array[] = [];
let bodyEnded = false;
let wake: (() => void) | null = null;
let started: ((streamId: number) => void) | null = null;
port.on('message', (m: ToDemuxer) => {
  if (m.type === 'ping') post({ type: 'pong' });
  else if (m.type === 'start') started?.(m.streamId);
  else {
    if (m.type === 'chunk') queued.push(m.data);
    else bodyEnded = true;
    wake?.();
  }
});

// The demuxer reads the body as it needs it; each chunk it takes is reported, so the server reads on.
const body = new ReadableStream<Uint8Array>(
  {
    async pull(controller) {
      while (queued.length === 0 && !bodyEnded) {
        await new Promise<void>((resolve) => {
          wake = resolve;
        });
      }
      const chunk = queued.shift();
      if (!chunk) {
        controller.close();
        return;
      }
      post({ type: 'consumed', bytes: chunk.length });
      controller.enqueue(chunk);
    },
  },
  { highWaterMark: 0 },
);

try {
  const video = await demuxVideo(body, limits);
  const streamId = await new Promise<number>((resolve) => {
    started = resolve;
    post({ type: 'config', container: video.container, config: video.config });
  });
  let seq = 0;
  for await (const frame of video.frames) {
    const framed = frameMessage(
      encodeMessage({
        type: 'frame',
        streamId,
        key: frame.key,
        seq: seq++ >>> 0,
        timestamp: frame.timestamp,
        // The wall clock when the frame left the demuxer: latency as viewers measure it starts here.
        captureTime: Date.now() * 1000,
        payload: frame.data,
      }),
    );
    if (framed.length - LENGTH_PREFIX_BYTES > limits.maxMessageBytes) {
      const kib = Math.round(limits.maxMessageBytes / 1024);
      throw new DemuxError(
        'FW_LIMIT',
        `a frame of ${framed.length} bytes exceeds the ${kib} KiB message limit`,
      );
    }
    post({ type: 'frame', key: frame.key, framed }, [framed.buffer as ArrayBuffer]);
  }
  post({ type: 'done' });
} catch (err) {
  const failed =
    err instanceof DemuxError
      ? err
      : new DemuxError('FW_BAD_MEDIA', err instanceof Error ? err.message : String(err));
  post({ type: 'failed', code: failed.code, message: failed.message });
}
