import v8 from 'node:v8';
import { runInNewContext } from 'node:vm';
import { parentPort, workerData } from 'node:worker_threads';
import { DemuxError, type DemuxErrorCode, type DemuxLimits, demuxStream } from '../../media/demux.js';
import {
  AUDIO_LEVEL_SILENT,
  type AudioConfig,
  type DecoderConfig,
  encodeMessage,
  frameMessage,
  LENGTH_PREFIX_BYTES,
} from '../../protocol/index.js';
import type { WorkerMemory } from './running.js';

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
  | { type: 'ping' }
  | { type: 'measure'; collect: boolean };

/** Worker → server. Frames arrive as whole wire messages, length prefix included, ready to relay. */
export type FromDemuxer =
  | { type: 'consumed'; bytes: number }
  | { type: 'pong'; memory: WorkerMemory }
  | { type: 'measured'; memory: WorkerMemory }
  | {
      type: 'config';
      container: string;
      video: DecoderConfig;
      audio?: AudioConfig;
      audioNote?: string;
      indexesBounded: boolean;
    }
  | { type: 'frame'; key: boolean; audio: boolean; framed: Uint8Array }
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

/** This thread's memory: cheap enough to send with every pong. */
function memory(): WorkerMemory {
  const heap = v8.getHeapStatistics();
  return { heapUsed: heap.used_heap_size, external: heap.external_memory };
}

let gc: (() => void) | null = null;
/**
 * A full collection, for a measurement that must not count garbage (tests). The flag is set only when
 * asked: a context made after it has `gc`. Twice, because V8 frees dead ArrayBuffers on a background thread
 * after a collection and only the next one waits for that to finish (their bytes are counted until then).
 */
function collect(): void {
  if (!gc) {
    v8.setFlagsFromString('--expose-gc');
    gc = runInNewContext('gc') as () => void;
  }
  gc();
  gc();
}

port.on('message', (m: ToDemuxer) => {
  if (m.type === 'ping') post({ type: 'pong', memory: memory() });
  else if (m.type === 'measure') {
    if (m.collect) collect();
    post({ type: 'measured', memory: memory() });
  } else if (m.type === 'start') started?.(m.streamId);
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
  const stream = await demuxStream(body, limits);
  const streamId = await new Promise<number>((resolve) => {
    started = resolve;
    const config: FromDemuxer = {
      type: 'config',
      container: stream.container,
      video: stream.video,
      indexesBounded: stream.indexesBounded,
    };
    if (stream.audio) config.audio = stream.audio;
    if (stream.audioNote) config.audioNote = stream.audioNote;
    post(config);
  });
  // Each track counts its own frames (a gap in one is not a gap in the other).
  let seq = 0;
  let audioSeq = 0;
  // The pusher's clock, mapped onto ours: capture time = anchor + media time, one anchor for both tracks
  // so that their capture times keep the sync the container has. The anchor is the earliest any frame
  // has come relative to its media time (its `now - timestamp`, at least): a frame that comes later than
  // that shows its delay as latency, and a pusher that runs ahead moves the anchor back, so no capture
  // time is ever in the future. Stamping each frame with its own arrival instead would put the audio of
  // a burst (MPEG-TS muxers send it in PES of several frames) all at one instant.
  let anchor = Number.POSITIVE_INFINITY;
  for await (const frame of stream.frames) {
    const now = Date.now() * 1000;
    anchor = Math.min(anchor, now - frame.timestamp);
    const audio = frame.track === 'audio';
    const framed = frameMessage(
      encodeMessage(
        audio
          ? {
              type: 'frame',
              streamId,
              key: true,
              track: 'audio',
              // Pushed sound is not decoded here: its level is unknown, sent as silence (RFC 6464's 127).
              audioLevel: AUDIO_LEVEL_SILENT,
              seq: audioSeq++ >>> 0,
              timestamp: frame.timestamp,
              captureTime: anchor + frame.timestamp,
              payload: frame.data,
            }
          : {
              type: 'frame',
              streamId,
              key: frame.key,
              seq: seq++ >>> 0,
              timestamp: frame.timestamp,
              captureTime: anchor + frame.timestamp,
              payload: frame.data,
            },
      ),
    );
    if (framed.length - LENGTH_PREFIX_BYTES > limits.maxMessageBytes) {
      const kib = Math.round(limits.maxMessageBytes / 1024);
      throw new DemuxError(
        'FW_LIMIT',
        `a frame of ${framed.length} bytes exceeds the ${kib} KiB message limit`,
      );
    }
    post({ type: 'frame', key: frame.key, audio, framed }, [framed.buffer as ArrayBuffer]);
  }
  post({ type: 'done' });
} catch (err) {
  const failed =
    err instanceof DemuxError
      ? err
      : new DemuxError('FW_BAD_MEDIA', err instanceof Error ? err.message : String(err));
  post({ type: 'failed', code: failed.code, message: failed.message });
}
