import { Worker } from 'node:worker_threads';
import type { DemuxErrorCode } from '../../media/demux.js';
import type { AudioConfig, DecoderConfig } from '../../protocol/index.js';
import { Stream } from '../core/stream.js';
import { outgoingFramed } from '../core/transport.js';
import { type HttpRequest, sendError, sendJson } from '../http/reply.js';
import type { ServerRelay } from '../ops/config.js';
import { IngestPublisher } from './publisher.js';
import { type RunningIngest, trackIngest, type WorkerMemory } from './running.js';
import type { FromDemuxer, IngestWorkerData, ToDemuxer } from './worker.js';

/** Input mediabunny may keep behind its read position: a few frames of a live stream, never a file. */
const CACHE_BYTES = 4 * 1024 * 1024;
/**
 * Body bytes handed to the demuxer and not yet read by it, before the request is paused: the request is
 * read eagerly up to here because Node discards unread body data when the client hangs up, and ffmpeg
 * hangs up the moment its last byte is sent.
 */
const HIGH_WATER_BYTES = 1024 * 1024;
/** The watchdog pings the worker this often. */
const PING_MS = 1000;
/**
 * A worker silent this long is stuck in a loop and is terminated, counted from its last message (from its
 * first on: booting one, loading mediabunny, took over 5 s when ten pushes began together on a busy machine,
 * and one that never gets going is bounded by the config deadline).
 */
const STUCK_MS = 5000;
/**
 * ...and silent over this many pings in a row: a server the OS does not run for a few seconds (a busy
 * machine) finds every worker's last message old the moment it runs again, before it reads the answers
 * waiting for it. It did, and ended all ten pushes of a soak at once; a timer that fires late fires once.
 */
const STUCK_PINGS = 3;
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
  return new IngestSession(relay, request, room, name).run();
}

/**
 * Where an ingest is. The body and the demuxer run side by side, so the body may be fully received before
 * the config is found (a short upload arrives whole while the worker boots): whether the stream is open is
 * then told by `stream`, not by the state.
 * - `waiting-config`: the body is coming in, no decoder config yet (the config deadline runs).
 * - `live`: the body is coming in and the stream is open, frames go out.
 * - `draining`: the whole body is in; the demuxer works through the rest even if the client hangs up.
 * - `ended`: finished and answered; whatever still comes is ignored.
 */
type IngestState = 'waiting-config' | 'live' | 'draining' | 'ended';

/** One HTTP ingest, from the first body byte to the answer. */
class IngestSession implements RunningIngest {
  workerMemory: WorkerMemory | null = null;
  private state: IngestState = 'waiting-config';
  private stream: Stream | null = null;
  /** Body bytes handed to the demuxer and not yet read by it. */
  private inflight = 0;
  private frames = 0;
  private audioFrames = 0;
  private bytes = 0;
  /** When the worker last sent anything; null until its first message. */
  private lastHeard: number | null = null;
  /** Watchdog ticks in a row with nothing from the worker since the one before. */
  private silentTicks = 0;
  private heardSinceTick = false;
  private readonly startedAt = performance.now();
  private readonly fields: Record<string, string | number>;
  private readonly worker: Worker;
  private readonly publisher: IngestPublisher;
  private readonly finished: Promise<void>;
  private resolveFinished: () => void = () => {};
  private watchdog: NodeJS.Timeout | undefined;
  private configDeadline: NodeJS.Timeout | undefined;
  /** Answers awaited from measureWorker, oldest first (the worker answers in order). */
  private readonly measures: ((memory: WorkerMemory | null) => void)[] = [];
  private untrack: () => void = () => {};

  constructor(
    private readonly relay: ServerRelay,
    private readonly request: HttpRequest,
    readonly room: string,
    readonly name: string,
  ) {
    this.fields = { room, name, remote: request.req.socket.remoteAddress ?? '' };
    const { maxMessageBytes } = relay.config;
    this.worker = startWorker({
      cacheBytes: CACHE_BYTES,
      maxReadBytes: 2 * maxMessageBytes,
      maxMessageBytes,
    });
    // Logged after the current turn: the first request comes from openStream itself, before ingest-start.
    this.publisher = new IngestPublisher(() =>
      queueMicrotask(() =>
        relay.log.info('ingest-keyframe-request', {
          ...this.fields,
          hint: 'a pushed stream cannot be asked for a keyframe; set the encoder keyframe interval (ffmpeg -g)',
        }),
      ),
    );
    this.finished = new Promise<void>((resolve) => {
      this.resolveFinished = resolve;
    });
  }

  /** Wires the request, the worker and the timers; resolves once the ingest has ended and been answered. */
  run(): Promise<void> {
    const { req } = this.request;
    const { idleTimeoutMs, helloTimeoutMs } = this.relay.config;
    req.on('data', (chunk: Buffer) => this.onChunk(chunk));
    req.once('end', () => this.onBodyEnd());
    req.on('error', () => {});
    req.once('close', () => {
      if (this.state !== 'draining') this.finish({ reason: 'disconnected' });
    });
    this.worker.on('message', (m: FromDemuxer) => this.onWorkerMessage(m));
    this.worker.on('error', (err) => {
      this.relay.log.error('ingest-worker-error', { ...this.fields, error: String(err) });
      this.fail(500, 'FW_INTERNAL', 'the demuxer failed');
    });
    this.worker.on('exit', () => this.fail(500, 'FW_INTERNAL', 'the demuxer stopped'));
    this.watchdog = setInterval(() => this.checkWorker(), PING_MS);
    this.untrack = trackIngest(this.relay, this);
    this.configDeadline = setTimeout(
      () =>
        this.fail(
          408,
          'FW_TIMEOUT',
          `no video found in the first ${helloTimeoutMs / 1000} s of the body`,
          'timeout',
        ),
      helloTimeoutMs,
    );
    // Socket inactivity: a publisher that stops sending without closing would hold the stream forever.
    req.setTimeout(idleTimeoutMs, () =>
      this.fail(408, 'FW_TIMEOUT', `nothing received for ${idleTimeoutMs / 1000} s`, 'timeout'),
    );
    return this.finished;
  }

  measureWorker(collect: boolean): Promise<WorkerMemory | null> {
    if (this.state === 'ended') return Promise.resolve(null);
    return new Promise((resolve) => {
      this.measures.push(resolve);
      this.send({ type: 'measure', collect });
    });
  }

  private send(m: ToDemuxer, transfer: ArrayBuffer[] = []): void {
    this.worker.postMessage(m, transfer);
  }

  private onChunk(chunk: Buffer): void {
    if (this.state === 'ended') return;
    // A copy of exactly the chunk: a received Buffer may share its memory with other data.
    const data = new Uint8Array(chunk);
    this.inflight += data.length;
    this.send({ type: 'chunk', data }, [data.buffer]);
    if (this.inflight > HIGH_WATER_BYTES) this.request.req.pause();
  }

  /** Once the whole body is in, the demuxer drains its last frames even if the client hangs up. */
  private onBodyEnd(): void {
    if (this.state === 'ended') return;
    this.state = 'draining';
    this.send({ type: 'end' });
  }

  private onWorkerMessage(m: FromDemuxer): void {
    if (this.state === 'ended') return;
    this.lastHeard = performance.now();
    this.heardSinceTick = true;
    switch (m.type) {
      case 'consumed': {
        this.inflight -= m.bytes;
        const { req } = this.request;
        if (this.inflight <= HIGH_WATER_BYTES / 2 && req.isPaused()) req.resume();
        return;
      }
      case 'pong':
        this.workerMemory = m.memory;
        return;
      case 'measured':
        this.workerMemory = m.memory;
        this.measures.shift()?.(m.memory);
        return;
      case 'config':
        if (!m.indexesBounded) {
          // mediabunny's internals changed under src/media/demux-indexes.ts: the stream still goes out, but
          // its demuxer now grows with every frame, which an operator should hear of before the memory does.
          this.relay.log.warn('ingest-unbounded-demuxer', {
            ...this.fields,
            hint: 'the demuxer index is not trimmed (mediabunny changed?): memory grows with the stream',
          });
        }
        this.onConfig(m.container, m.video, m.audio, m.audioNote);
        return;
      case 'frame':
        this.onFrame(m.key, m.audio, m.framed);
        return;
      case 'done':
        this.finish({ reason: 'ended' });
        return;
      case 'failed':
        this.fail(DEMUX_STATUS[m.code], m.code, m.message);
        return;
    }
  }

  private checkWorker(): void {
    this.silentTicks = this.heardSinceTick ? 0 : this.silentTicks + 1;
    this.heardSinceTick = false;
    const silentMs = this.lastHeard === null ? 0 : performance.now() - this.lastHeard;
    if (silentMs >= STUCK_MS && this.silentTicks >= STUCK_PINGS) {
      this.fail(
        400,
        'FW_BAD_MEDIA',
        `the demuxer stopped responding for ${STUCK_MS / 1000} s on this input (malformed?)`,
      );
    } else {
      this.send({ type: 'ping' });
    }
  }

  private onConfig(
    container: string,
    config: DecoderConfig,
    audio: AudioConfig | undefined,
    audioNote: string | undefined,
  ): void {
    clearTimeout(this.configDeadline);
    Object.assign(this.fields, {
      container,
      codec: config.codec,
      size: `${config.codedWidth}x${config.codedHeight}`,
    });
    if (audio) {
      Object.assign(this.fields, {
        audioCodec: audio.codec,
        audioRate: audio.sampleRate,
        audioChannels: audio.numberOfChannels,
      });
    }
    // A sound track of a codec we do not relay leaves the picture alone: said once, in the log.
    if (audioNote) this.fields.audio = audioNote;
    const opened = this.relay.openStream(
      this.publisher,
      this.room,
      this.name,
      audio ? { video: config, audio } : { video: config },
    );
    if (!(opened instanceof Stream)) {
      this.fail(opened.code === 'FW_STREAM_EXISTS' ? 409 : 503, opened.code, opened.message);
      return;
    }
    this.stream = opened;
    // A body already fully in stays `draining`: the stream opens, the demuxer goes on to the end.
    if (this.state === 'waiting-config') this.state = 'live';
    this.fields.stream = opened.id;
    this.relay.log.info('ingest-start', this.fields);
    this.send({ type: 'start', streamId: opened.id });
  }

  private onFrame(key: boolean, audio: boolean, framed: Uint8Array): void {
    const stream = this.stream;
    if (!stream) return;
    const frame = outgoingFramed(framed, audio);
    const now = performance.now();
    if (!stream.spend(frame.body.length, now)) {
      this.fail(429, 'FW_LIMIT', stream.overLimitMessage);
      return;
    }
    if (audio) this.audioFrames++;
    else this.frames++;
    this.bytes += frame.body.length;
    stream.relay(frame, key, now);
  }

  private fail(status: number, code: string, message: string, reason: Outcome['reason'] = 'error'): void {
    this.finish({ reason, status, code, message });
  }

  /** The one way out: stops the timers and the worker, ends the stream, logs, answers. Runs once. */
  private finish(outcome: Outcome): void {
    if (this.state === 'ended') return;
    const bodyEnded = this.state === 'draining';
    this.state = 'ended';
    clearInterval(this.watchdog);
    clearTimeout(this.configDeadline);
    void this.worker.terminate();
    this.untrack();
    for (const resolve of this.measures.splice(0)) resolve(null);
    if (this.stream) this.relay.endStream(this.stream, outcome.reason);
    const { req, res } = this.request;
    const { frames, audioFrames, bytes } = this;
    const seconds = Math.round((performance.now() - this.startedAt) / 100) / 10;
    const end = { ...this.fields, reason: outcome.reason, frames, audioFrames, bytes, seconds };
    if (outcome.code)
      this.relay.log.warn('ingest-end', { ...end, code: outcome.code, error: outcome.message });
    else this.relay.log.info('ingest-end', end);
    if (!res.headersSent && !res.destroyed) {
      if (outcome.code)
        sendError(res, outcome.status ?? 500, outcome.code, outcome.message ?? outcome.reason);
      else
        sendJson(res, 200, {
          room: this.room,
          name: this.name,
          codec: this.fields.codec,
          frames,
          ...(this.fields.audioCodec ? { audioCodec: this.fields.audioCodec, audioFrames } : {}),
          bytes,
          seconds,
        });
    }
    if (!bodyEnded) {
      // Refused mid-body: closing with unread data would reset the connection before the client reads the
      // answer, so drop what still comes for a moment, then cut.
      req.resume();
      setTimeout(() => req.destroy(), LINGER_MS).unref();
    }
    this.resolveFinished();
  }
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
