// The page's AudioWorklet module (loaded once per AudioContext by audio-output.ts): the playout processor
// (a jitter buffer per remote stream, drift absorbed by a gentle change of speed) and the capture processor
// (microphone samples for browsers without MediaStreamTrackProcessor). It runs on the audio thread, in
// AudioWorkletGlobalScope: no DOM, no imports, only what is declared here.
import type { CaptureBlock, PlayoutCommand, PlayoutReport } from './audio-messages.js';

// AudioWorkletGlobalScope's own names; TypeScript's DOM lib does not declare them.
declare const sampleRate: number;
declare const currentTime: number;
declare class AudioWorkletProcessor {
  readonly port: MessagePort;
}
declare function registerProcessor(
  name: string,
  ctor: new (options: { processorOptions?: unknown }) => AudioWorkletProcessor,
): void;

/** Render quanta between two reports to the page (~53 ms at 48 kHz): often enough for lip sync and meters. */
const REPORT_EVERY_QUANTA = 20;
/** Largest speed change used to steer the buffer towards its target (±1.5 %: about a quarter of a semitone). */
const MAX_SPEED_DEVIATION = 0.015;
/** Depth error (s) that earns the full speed change; smaller errors earn proportionally less. */
const FULL_CORRECTION_ERROR_S = 0.04;
/** Errors within this band (s) are left alone: clocks drift by a few ppm, jitter does not need chasing. */
const DEAD_BAND_S = 0.004;
/** Past target + this (s), e.g. after a stall delivered a burst, the buffer jumps forward instead. */
const SKIP_EXCESS_S = 0.25;
/** The buffer never holds more than this (s); older audio is dropped as it arrives. */
const MAX_DEPTH_S = 2;

interface Chunk {
  /** One Float32Array per channel. */
  channels: Float32Array[];
  /** Samples per second of this chunk (the decoder's; may differ from the context's). */
  rate: number;
  /** Capture time of the first sample, µs on the server's clock. */
  captureUs: number;
}

/** One remote stream's playout: chunks in, a steady 128-sample stream out, figures back to the page. */
class PlayoutProcessor extends AudioWorkletProcessor {
  private readonly queue: Chunk[] = [];
  /** Read position in the head chunk, in its samples (fractional: we resample). */
  private pos = 0;
  private targetS = 0.04;
  /** True while playing; false while (re)buffering up to the target. */
  private playing = false;
  /** 'in': ramp up over this quantum; 'out': ramp down, then act on {@link afterFade}. */
  private fade: 'none' | 'in' | 'out' = 'none';
  private afterFade: 'skip' | 'stop' = 'stop';
  private speed = 1;
  private quanta = 0;
  private peak = 0;
  private sumSquares = 0;
  private samples = 0;
  private underruns = 0;
  private skips = 0;
  private overflows = 0;

  constructor() {
    super();
    this.port.onmessage = (e: MessageEvent<PlayoutCommand>) => this.onCommand(e.data);
  }

  private onCommand(c: PlayoutCommand): void {
    if (c.type === 'chunk') {
      this.queue.push({ channels: c.channels, rate: c.rate, captureUs: c.captureUs });
      // A bound, not a policy: the page stops sending long before this unless the context stalled.
      while (this.depth() > MAX_DEPTH_S && this.queue.length > 1) {
        this.queue.shift();
        this.pos = 0;
        this.overflows++;
      }
    } else if (c.type === 'target') {
      this.targetS = c.ms / 1000;
    } else {
      this.queue.length = 0;
      this.pos = 0;
      this.playing = false;
    }
  }

  /** Seconds of audio buffered (from the read position). */
  private depth(): number {
    let s = 0;
    for (let i = 0; i < this.queue.length; i++) {
      const c = this.queue[i] as Chunk;
      const len = c.channels[0]?.length ?? 0;
      s += (i === 0 ? len - this.pos : len) / c.rate;
    }
    return s;
  }

  process(_inputs: Float32Array[][], outputs: Float32Array[][]): boolean {
    const out = outputs[0] ?? [];
    const frames = out[0]?.length ?? 128;
    const depth = this.depth();
    if (!this.playing && depth >= this.targetS) {
      this.playing = true;
      this.fade = 'in';
    }
    if (this.playing) {
      // Run dry within this quantum: fade out now rather than stop on a sample mid-wave (a click).
      const head = this.queue[0];
      // (Depth is in seconds of source time; a quantum consumes frames / sampleRate of it, times the speed.)
      if (head && depth < (frames / sampleRate) * this.speed * 1.1 + 0.001) {
        this.fade = 'out';
        this.afterFade = 'stop';
      } else if (this.fade === 'none' && depth > this.targetS + SKIP_EXCESS_S) {
        this.fade = 'out';
        this.afterFade = 'skip';
      }
      this.steer(depth);
      this.render(out, frames);
    } else {
      for (const ch of out) ch.fill(0);
    }
    this.measure(out, frames);
    if (++this.quanta >= REPORT_EVERY_QUANTA) this.report(currentTime + frames / sampleRate);
    return true;
  }

  /** Speeds up or slows down a little to bring the depth to the target: clock drift and jitter, no clicks. */
  private steer(depth: number): void {
    const error = depth - this.targetS;
    const wanted =
      Math.abs(error) < DEAD_BAND_S
        ? 1
        : 1 + Math.max(-1, Math.min(1, error / FULL_CORRECTION_ERROR_S)) * MAX_SPEED_DEVIATION;
    // Glide to the new speed rather than jump: a sudden pitch step is audible, a slow one is not.
    this.speed += (wanted - this.speed) * 0.05;
  }

  /** Resamples (linear interpolation) from the queue into `out`, applying any fade. */
  private render(out: Float32Array[], frames: number): void {
    const ramp = this.fade;
    for (let j = 0; j < frames; j++) {
      const head = this.queue[0];
      if (!head) {
        for (const ch of out) ch.fill(0, j);
        this.underruns++;
        this.playing = false;
        this.fade = 'none';
        return;
      }
      const len = head.channels[0]?.length ?? 0;
      const i = Math.floor(this.pos);
      const frac = this.pos - i;
      const gain = ramp === 'in' ? j / frames : ramp === 'out' ? 1 - j / frames : 1;
      const next = this.queue[1];
      for (let c = 0; c < out.length; c++) {
        const src = head.channels[Math.min(c, head.channels.length - 1)] as Float32Array;
        const a = src[i] ?? 0;
        const b =
          i + 1 < len ? (src[i + 1] ?? a) : (next?.channels[Math.min(c, next.channels.length - 1)]?.[0] ?? a);
        (out[c] as Float32Array)[j] = (a + (b - a) * frac) * gain;
      }
      this.pos += (head.rate / sampleRate) * this.speed;
      while (this.queue[0] && this.pos >= (this.queue[0].channels[0]?.length ?? 0)) {
        this.pos -= this.queue[0].channels[0]?.length ?? 0;
        this.queue.shift();
      }
    }
    if (ramp === 'in') this.fade = 'none';
    if (ramp === 'out') {
      this.fade = 'none';
      if (this.afterFade === 'stop') {
        // The tail left is shorter than a quantum: drop it and buffer up again.
        this.queue.length = 0;
        this.pos = 0;
        this.playing = false;
        this.underruns++;
      } else {
        while (this.queue.length > 1 && this.depth() > this.targetS) {
          this.queue.shift();
          this.pos = 0;
        }
        this.skips++;
        this.fade = 'in';
      }
    }
  }

  private measure(out: Float32Array[], frames: number): void {
    const ch = out[0];
    if (!ch) return;
    for (let j = 0; j < frames; j++) {
      const v = ch[j] ?? 0;
      const a = Math.abs(v);
      if (a > this.peak) this.peak = a;
      this.sumSquares += v * v;
    }
    this.samples += frames;
  }

  /** Posts the figures; `nextTime` is the context time of the next quantum, whose first sample is the head. */
  private report(nextTime: number): void {
    this.quanta = 0;
    const head = this.queue[0];
    const report: PlayoutReport = {
      contextTime: nextTime,
      depthMs: this.depth() * 1000,
      // The capture time of the sample at the read head: what is playing now, before the output latency.
      headCaptureUs: this.playing && head ? head.captureUs + (this.pos / head.rate) * 1e6 : null,
      playing: this.playing,
      speed: this.speed,
      peak: this.peak,
      sumSquares: this.sumSquares,
      samples: this.samples,
      underruns: this.underruns,
      skips: this.skips,
      overflows: this.overflows,
    };
    this.port.postMessage(report);
    this.peak = 0;
    this.sumSquares = 0;
    this.samples = 0;
  }
}

/** Samples per block sent to the page: 10 ms, the size MediaStreamTrackProcessor gives too. */
function blockFrames(): number {
  return Math.round(sampleRate / 100);
}

/** Microphone input → 10 ms blocks of Float32 samples posted to the page (for the AudioEncoder there). */
class CaptureProcessor extends AudioWorkletProcessor {
  private buffers: Float32Array[] = [];
  private filled = 0;
  /** Context time of the first sample of the block being filled. */
  private blockStart = 0;

  process(inputs: Float32Array[][]): boolean {
    const input = inputs[0];
    if (!input || input.length === 0) return true;
    const size = blockFrames();
    if (this.buffers.length !== input.length) {
      this.buffers = input.map(() => new Float32Array(size));
      this.filled = 0;
    }
    const n = input[0]?.length ?? 0;
    let j = 0;
    while (j < n) {
      if (this.filled === 0) this.blockStart = currentTime + j / sampleRate;
      const take = Math.min(n - j, size - this.filled);
      for (let c = 0; c < input.length; c++) {
        (this.buffers[c] as Float32Array).set((input[c] as Float32Array).subarray(j, j + take), this.filled);
      }
      this.filled += take;
      j += take;
      if (this.filled === size) {
        const block: CaptureBlock = {
          channels: this.buffers,
          rate: sampleRate,
          contextTime: this.blockStart,
        };
        this.port.postMessage(
          block,
          this.buffers.map((b) => b.buffer as ArrayBuffer),
        );
        this.buffers = input.map(() => new Float32Array(size));
        this.filled = 0;
      }
    }
    return true;
  }
}

registerProcessor('framewire-playout', PlayoutProcessor);
registerProcessor('framewire-capture', CaptureProcessor);
