import { Worker } from 'node:worker_threads';
import type { DemuxErrorCode } from '../../media/demux.js';
import type { DecoderConfig } from '../../protocol/index.js';
import { Stream } from '../core/stream.js';
import { outgoingFramed } from '../core/transport.js';
import { type HttpRequest, sendError, sendJson } from '../http/reply.js';
import type { ServerRelay } from '../ops/config.js';
import { IngestPublisher } from './publisher.js';
import type { FromDemuxer, IngestWorkerData, ToDemuxer } from './worker.js';

/** Input mediabunny may keep behind its read position: a few frames of a live stream, never a file. */
const CACHE_BYTES = 4 * 1024 * 1024;
/**
 * Body bytes handed to the demuxer and not yet read by it, before the request is paused: the request is
 * read eagerly up to here because Node discards unread body data when the client hangs up, and ffmpeg
 * hangs up the moment its last byte is sent.
 */
const HIGH_WATER_BYTES = 1024 * 1024;
/** A worker that has not answered a ping for this long is stuck in a loop and is terminated. */
const STUCK_MS = 5000;
const PING_MS = 1000;
/** How long a refused client may keep sending while it reads the answer. */
const LINGER_MS = 1000;

/** HTTP status of each way the demuxer can refuse a stream. */
const DEMUX_STATUS: Record<DemuxErrorCode, number> = {
  FW_UNSUPPORTED_MEDIA: 415,
  FW_BAD_MEDIA: 400,
  FW_LIMIT: 413,
};

/** How an ingest ended: `reason` as viewers are told in stream-removed, plus the answer to the request. */
interface Outcome {
  reason: 'ended' | 'disconnected' | 'error' | 'timeout';
  status?: number;
  code?: string;
  message?: string;
}

/**
 * Runs one HTTP ingest to its end: the body goes to a demuxer worker as it asks for it, the demuxed frames
 * go out as stream `name` of `room`, and the request is answered when the stream ends. Resolves then.
 */
export function runIngest(
  relay: ServerRelay,
  request: HttpRequest,
  room: string,
  name: string,
): Promise<void> {
  const { req, res } = request;
  const fields: Record<string, string | number> = { room, name, remote: req.socket.remoteAddress ?? '' };
  const startedAt = performance.now();
  const { maxMessageBytes, idleTimeoutMs, helloTimeoutMs } = relay.config;
  const worker = startWorker({ cacheBytes: CACHE_BYTES, maxReadBytes: 2 * maxMessageBytes, maxMessageBytes });
  const send = (m: ToDemuxer, transfer: ArrayBuffer[] = []) => worker.postMessage(m, transfer);
  // Logged after the current turn: the first request comes from openStream itself, before ingest-start.
  const publisher = new IngestPublisher(() =>
    queueMicrotask(() =>
      relay.log.info('ingest-keyframe-request', {
        ...fields,
        hint: 'a pushed stream cannot be asked for a keyframe; set the encoder keyframe interval (ffmpeg -g)',
      }),
    ),
  );
  let stream: Stream | null = null;
  let over = false;
  /** Once the whole body is in, the demuxer drains its last frames even if the client hangs up. */
  let bodyEnded = false;
  let inflight = 0;
  let frames = 0;
  let bytes = 0;
  let lastPong = performance.now();
  let done: () => void = () => {};
  const finished = new Promise<void>((resolve) => {
    done = resolve;
  });

  const finish = (outcome: Outcome): void => {
    if (over) return;
    over = true;
    clearInterval(watchdog);
    clearTimeout(configDeadline);
    void worker.terminate();
    if (stream) relay.endStream(stream, outcome.reason);
    const seconds = Math.round((performance.now() - startedAt) / 100) / 10;
    const end = { ...fields, reason: outcome.reason, frames, bytes, seconds };
    if (outcome.code) relay.log.warn('ingest-end', { ...end, code: outcome.code, error: outcome.message });
    else relay.log.info('ingest-end', end);
    if (!res.headersSent && !res.destroyed) {
      if (outcome.code)
        sendError(res, outcome.status ?? 500, outcome.code, outcome.message ?? outcome.reason);
      else sendJson(res, 200, { room, name, codec: fields.codec, frames, bytes, seconds });
    }
    if (!bodyEnded) {
      // Refused mid-body: closing with unread data would reset the connection before the client reads the
      // answer, so drop what still comes for a moment, then cut.
      req.resume();
      setTimeout(() => req.destroy(), LINGER_MS).unref();
    }
    done();
  };
  const fail = (status: number, code: string, message: string, reason: Outcome['reason'] = 'error') =>
    finish({ reason, status, code, message });

  const onConfig = (container: string, config: DecoderConfig): void => {
    clearTimeout(configDeadline);
    Object.assign(fields, {
      container,
      codec: config.codec,
      size: `${config.codedWidth}x${config.codedHeight}`,
    });
    const opened = relay.openStream(publisher, room, name, config);
    if (!(opened instanceof Stream)) {
      fail(opened.code === 'FW_STREAM_EXISTS' ? 409 : 503, opened.code, opened.message);
      return;
    }
    stream = opened;
    fields.stream = opened.id;
    relay.log.info('ingest-start', fields);
    send({ type: 'start', streamId: opened.id });
  };

  const onFrame = (key: boolean, framed: Uint8Array): void => {
    if (!stream) return;
    const frame = outgoingFramed(framed);
    const now = performance.now();
    if (!stream.spend(frame.body.length, now)) {
      fail(429, 'FW_LIMIT', stream.overLimitMessage);
      return;
    }
    frames++;
    bytes += frame.body.length;
    stream.relay(frame, key, now);
  };

  req.on('data', (chunk: Buffer) => {
    if (over) return;
    // A copy of exactly the chunk: a received Buffer may share its memory with other data.
    const data = new Uint8Array(chunk);
    inflight += data.length;
    send({ type: 'chunk', data }, [data.buffer]);
    if (inflight > HIGH_WATER_BYTES) req.pause();
  });
  req.once('end', () => {
    if (over) return;
    bodyEnded = true;
    send({ type: 'end' });
  });
  req.on('error', () => {});
  req.once('close', () => {
    if (!bodyEnded) finish({ reason: 'disconnected' });
  });

  worker.on('message', (m: FromDemuxer) => {
    if (over) return;
    switch (m.type) {
      case 'consumed':
        inflight -= m.bytes;
        if (inflight <= HIGH_WATER_BYTES / 2 && req.isPaused()) req.resume();
        return;
      case 'pong':
        lastPong = performance.now();
        return;
      case 'config':
        return onConfig(m.container, m.config);
      case 'frame':
        return onFrame(m.key, m.framed);
      case 'done':
        return finish({ reason: 'ended' });
      case 'failed':
        return fail(DEMUX_STATUS[m.code], m.code, m.message);
    }
  });
  worker.on('error', (err) => {
    relay.log.error('ingest-worker-error', { ...fields, error: String(err) });
    fail(500, 'FW_INTERNAL', 'the demuxer failed');
  });
  worker.on('exit', () => fail(500, 'FW_INTERNAL', 'the demuxer stopped'));
  const watchdog = setInterval(() => {
    if (performance.now() - lastPong > STUCK_MS) {
      fail(
        400,
        'FW_BAD_MEDIA',
        `the demuxer stopped responding for ${STUCK_MS / 1000} s on this input (malformed?)`,
      );
    } else {
      send({ type: 'ping' });
    }
  }, PING_MS);
  const configDeadline = setTimeout(
    () =>
      fail(
        408,
        'FW_TIMEOUT',
        `no video found in the first ${helloTimeoutMs / 1000} s of the body`,
        'timeout',
      ),
    helloTimeoutMs,
  );
  // Socket inactivity: a publisher that stops sending without closing would hold the stream forever.
  req.setTimeout(idleTimeoutMs, () =>
    fail(408, 'FW_TIMEOUT', `nothing received for ${idleTimeoutMs / 1000} s`, 'timeout'),
  );
  return finished;
}

/**
 * Starts the demuxer worker. From TypeScript sources (tests under tsx) the worker registers tsx itself:
 * Node 20 does not pass --import hooks on to worker threads.
 */
function startWorker(data: IngestWorkerData): Worker {
  const options = { workerData: data, resourceLimits: { maxOldGenerationSizeMb: 64 } };
  if (!import.meta.url.endsWith('.ts')) return new Worker(new URL('./worker.js', import.meta.url), options);
  const entry = new URL('./worker.ts', import.meta.url).href;
  const tsx = import.meta.resolve('tsx/esm/api');
  const boot = `import(${JSON.stringify(tsx)}).then((t) => { t.register(); return import(${JSON.stringify(entry)}); });`;
  return new Worker(boot, { ...options, eval: true });
}
