// The sound of one remote stream: audio frames → AudioDecoder → the playout worklet (jitter buffer) → a gain
// (the tile's speaker button) → the speakers. It also keeps the audio clock that the video is painted against.
import type { AudioConfig, FrameMessage } from '../../src/protocol/index.js';
import type { PlayoutCommand, PlayoutReport } from './audio-messages.js';
import type { AudioOutput } from './audio-output.js';
import type { ServerClock } from './clock.js';
import { JitterTarget, MAX_TARGET_MS, MIN_TARGET_MS } from './jitter-target.js';
import { RateMeter } from './stats.js';

/** A change of the server-clock estimate larger than this (µs) shifts every arrival delay: start measuring anew. */
const CLOCK_STEP_US = 2000;
/** Capture times kept for frames inside the decoder. */
const MAX_PENDING = 128;
/** Silence below this peak (about -60 dBov) does not count as "heard" in {@link RemoteAudio.audibleMs}. */
const AUDIBLE_PEAK = 0.001;

/** Cumulative counters of one remote stream's audio. */
export interface RemoteAudioCounters {
  framesReceived: number;
  bytesReceived: number;
  framesDecoded: number;
  /** Sequence gaps: frames the relay or the publisher dropped. */
  framesLost: number;
  /** Decoded while the AudioContext was not running (the autoplay policy, or no worklet yet). */
  framesNotPlayed: number;
  decodeErrors: number;
  /** From the worklet: times the buffer ran dry, jumped forward to catch up, or overflowed its bound. */
  underruns: number;
  skips: number;
  overflows: number;
  /** Samples played through the worklet, silence while buffering included. */
  samplesPlayed: number;
}

/** Decodes and plays one remote stream's audio track, and measures what it plays. */
export class RemoteAudio {
  /** Cumulative counters. */
  readonly counters: RemoteAudioCounters = {
    framesReceived: 0,
    bytesReceived: 0,
    framesDecoded: 0,
    framesLost: 0,
    framesNotPlayed: 0,
    decodeErrors: 0,
    underruns: 0,
    skips: 0,
    overflows: 0,
    samplesPlayed: 0,
  };
  /** Bytes received per second (audio kbit/s on the tile). */
  readonly received = new RateMeter();
  /** Why this sound cannot play (codec unsupported, decoder failing); null when it can. */
  problem: string | null = null;
  /** Whether the tile's speaker is on. */
  enabled = true;
  /** Jitter-buffer depth (ms) in the last report, and its mean over the last second. */
  depthMs = 0;
  depthMeanMs = 0;
  /** What the buffer steers towards now, ms: the larger of {@link jitterTargetMs} and {@link syncNeedMs}. */
  targetMs = MIN_TARGET_MS;
  /** What the network's jitter alone asks of the buffer, ms. */
  get jitterTargetMs(): number {
    return this.jitter.targetMs;
  }
  /** What lip sync asks of the buffer (sound waits for slower pictures), ms; 0 when pictures keep up. */
  syncNeedMs = 0;
  /** Spread of arrival delays (p95 minus p5) over the last few seconds, ms. */
  get jitterMs(): number {
    return this.jitter.jitterMs;
  }
  /** Playback speed in the last report. */
  speed = 1;
  /** Loudest sample and RMS of what was played over the last second (before the speaker's gain). */
  playedPeak = 0;
  playedRms = 0;
  /** Loudest sample played since the tile appeared. */
  playedPeakMax = 0;
  /** Time with audible samples played, ms, since the tile appeared. */
  audibleMs = 0;
  /** Level of the latest frame from its level byte (0 silence – 1 full scale on a 60 dB scale). */
  level = 0;
  /** performance.now() of the last frame marked as voice; -Infinity before any. */
  lastVoiceAt = Number.NEGATIVE_INFINITY;

  private decoder: AudioDecoder | null = null;
  private supported: boolean | null = null;
  private node: AudioWorkletNode | null = null;
  private gain: GainNode | null = null;
  private lastSeq: number | null = null;
  private closed = false;
  private readonly jitter = new JitterTarget();
  /**
   * Server time (µs) we started listening under the current stream id: frames captured before it are the
   * relay's cache for late joiners, a burst of old sound. They warm the decoder up but are not played (the
   * live edge is what a joiner should hear) and say nothing about the network's jitter.
   */
  private startUs: number;
  private transitClockOffsetUs = 0;
  /**
   * Frames inside the decoder, in decoding order. Chromium's AudioDecoder stamps its outputs by counting
   * samples from the first input, so after a gap (silence left unsent, a mute) output timestamps no longer
   * match their inputs': outputs are matched to inputs by order, and by timestamp where it still matches.
   */
  private readonly pending: { timestamp: number; captureUs: number }[] = [];
  /** The audio's playout delay: server time when a sample is heard minus its capture time, µs; null unknown. */
  private delayUs: number | null = null;
  private postedTargetMs = -1;
  private depthSum = 0;
  private depthReports = 0;
  private peakWindow = 0;
  private squaresWindow = 0;
  private samplesWindow = 0;

  constructor(
    public config: AudioConfig,
    private readonly output: AudioOutput,
    private readonly clock: ServerClock,
  ) {
    this.startUs = clock.nowUs();
    void this.prepare();
    output.onState((state) => {
      // A context that starts (after a click) begins from the live edge, not from what piled up before.
      if (state === 'running') this.post({ type: 'reset' });
    });
  }

  /**
   * The audio clock: how long after capture a sample reaches the speaker now, µs on the server clock; null
   * while nothing has played. A video frame captured at T is due on screen at T + this.
   */
  get playoutDelayUs(): number | null {
    return this.delayUs;
  }

  /** Handles one audio frame of this stream. */
  handleFrame(frame: FrameMessage): void {
    const c = this.counters;
    c.framesReceived++;
    c.bytesReceived += frame.payload.byteLength;
    this.received.add(frame.payload.byteLength);
    if (frame.audioLevel !== undefined) {
      this.level = Math.max(0, 1 - (frame.audioLevel & 0x7f) / 60);
      if (frame.audioLevel & 0x80) this.lastVoiceAt = performance.now();
    }
    if (this.lastSeq !== null) {
      const gap = (frame.seq - this.lastSeq - 1) >>> 0;
      if (gap > 0 && gap < 0x80000000) c.framesLost += gap;
    }
    this.lastSeq = frame.seq;
    const cached = frame.captureTime < this.startUs;
    if (!cached) this.measureJitter(frame.captureTime);
    if (this.supported !== true) return;
    if (!this.decoder && !this.createDecoder()) return;
    // A cached frame is decoded (the decoder's state builds up from it) and then dropped: captureUs NaN.
    this.pending.push({ timestamp: frame.timestamp, captureUs: cached ? Number.NaN : frame.captureTime });
    if (this.pending.length > MAX_PENDING) this.pending.shift();
    try {
      this.decoder?.decode(
        new EncodedAudioChunk({ type: 'key', timestamp: frame.timestamp, data: frame.payload }),
      );
    } catch (err) {
      this.onDecoderError(err);
    }
  }

  /** Turns this stream's sound on or off (it keeps decoding, so the meter and the lip sync go on). */
  setEnabled(on: boolean): void {
    this.enabled = on;
    if (this.gain) this.gain.gain.setTargetAtTime(on ? 1 : 0, this.gain.context.currentTime, 0.015);
  }

  /**
   * The video's delay from capture to decoded picture (p90, ms): if pictures take longer than the sound
   * would, the sound waits for them (a deeper buffer) rather than run ahead of the lips.
   */
  setVideoDelay(videoDelayMs: number): void {
    if (this.delayUs === null || videoDelayMs < 0) {
      this.syncNeedMs = 0;
      return;
    }
    // The audio's delay apart from the buffer itself: what the buffer must add to reach the video's.
    const rest = this.delayUs / 1000 - this.depthMeanMs;
    this.syncNeedMs = Math.max(0, videoDelayMs + 5 - rest);
  }

  /** A new config after the publisher came back (same name, new stream id): start over. */
  reconfigure(config: AudioConfig): void {
    const same =
      config.codec === this.config.codec &&
      config.sampleRate === this.config.sampleRate &&
      config.numberOfChannels === this.config.numberOfChannels;
    this.config = config;
    this.lastSeq = null;
    this.startUs = this.clock.nowUs();
    this.resetDecoder();
    this.post({ type: 'reset' });
    if (!same) void this.prepare();
  }

  /** Closes the interval of the rates and played-sample figures. */
  roll(): void {
    this.received.roll();
    this.playedPeak = this.peakWindow;
    this.playedRms = this.samplesWindow > 0 ? Math.sqrt(this.squaresWindow / this.samplesWindow) : 0;
    this.peakWindow = 0;
    this.squaresWindow = 0;
    this.samplesWindow = 0;
    if (this.depthReports > 0) this.depthMeanMs = this.depthSum / this.depthReports;
    this.depthSum = 0;
    this.depthReports = 0;
  }

  /** Releases the decoder and the audio nodes. */
  close(): void {
    this.closed = true;
    this.resetDecoder();
    this.node?.disconnect();
    this.gain?.disconnect();
    if (this.node) this.node.port.onmessage = null;
    this.node = null;
    this.gain = null;
  }

  private async prepare(): Promise<void> {
    const { codec, sampleRate, numberOfChannels, description } = this.config;
    this.supported = null;
    let ok = false;
    if (typeof AudioDecoder !== 'undefined') {
      try {
        const support = await AudioDecoder.isConfigSupported({
          codec,
          sampleRate,
          numberOfChannels,
          ...(description ? { description } : {}),
        });
        ok = support.supported === true;
      } catch {
        ok = false;
      }
    }
    this.supported = ok;
    this.problem = ok
      ? null
      : `This browser cannot play this stream's sound (${codec}); the picture still shows.`;
    if (!ok || this.closed || this.node) return;
    const context = await this.output.get();
    if (!context || this.closed || this.node) {
      if (!context) this.problem = this.output.problem;
      return;
    }
    const channels = Math.max(1, Math.min(2, numberOfChannels));
    const node = new AudioWorkletNode(context, 'framewire-playout', {
      numberOfInputs: 0,
      numberOfOutputs: 1,
      outputChannelCount: [channels],
    });
    const gain = context.createGain();
    gain.gain.value = this.enabled ? 1 : 0;
    node.connect(gain).connect(context.destination);
    node.port.onmessage = (e: MessageEvent<PlayoutReport>) => this.onReport(e.data);
    this.node = node;
    this.gain = gain;
    this.postedTargetMs = Math.round(this.targetMs);
    this.post({ type: 'target', ms: this.targetMs });
  }

  private createDecoder(): boolean {
    const { codec, sampleRate, numberOfChannels, description } = this.config;
    const decoder = new AudioDecoder({
      output: (data) => this.onDecoded(decoder, data),
      error: (err) => {
        if (decoder === this.decoder) this.onDecoderError(err);
      },
    });
    try {
      decoder.configure({ codec, sampleRate, numberOfChannels, ...(description ? { description } : {}) });
    } catch (err) {
      this.onDecoderError(err);
      return false;
    }
    this.decoder = decoder;
    return true;
  }

  private onDecoded(decoder: AudioDecoder, data: AudioData): void {
    try {
      if (decoder !== this.decoder) return;
      this.counters.framesDecoded++;
      const exact = this.pending.findIndex((p) => p.timestamp === data.timestamp);
      // An exact match also tells us the inputs before it gave no output (a decoder's priming frames).
      const captureUs = (exact >= 0 ? this.pending.splice(0, exact + 1).at(-1) : this.pending.shift())
        ?.captureUs;
      if (captureUs !== undefined && Number.isNaN(captureUs)) return;
      if (!this.node || !this.output.running || captureUs === undefined) {
        this.counters.framesNotPlayed++;
        return;
      }
      const frames = data.numberOfFrames;
      const channels: Float32Array[] = [];
      for (let ch = 0; ch < Math.min(2, data.numberOfChannels); ch++) {
        const buf = new Float32Array(frames);
        data.copyTo(buf, { planeIndex: ch, format: 'f32-planar' });
        channels.push(buf);
      }
      this.post(
        { type: 'chunk', channels, rate: data.sampleRate, captureUs },
        channels.map((c) => c.buffer as ArrayBuffer),
      );
    } finally {
      data.close();
    }
  }

  private onReport(r: PlayoutReport): void {
    const c = this.counters;
    c.underruns = r.underruns;
    c.skips = r.skips;
    c.overflows = r.overflows;
    c.samplesPlayed += r.samples;
    this.depthMs = r.depthMs;
    this.depthSum += r.depthMs;
    this.depthReports++;
    this.speed = r.speed;
    this.peakWindow = Math.max(this.peakWindow, r.peak);
    this.playedPeakMax = Math.max(this.playedPeakMax, r.peak);
    this.squaresWindow += r.sumSquares;
    this.samplesWindow += r.samples;
    if (r.peak >= AUDIBLE_PEAK && this.node)
      this.audibleMs += (r.samples / this.node.context.sampleRate) * 1000;
    if (r.headCaptureUs === null || !this.node) return;
    const heardUs = this.serverTimeHeard(this.node.context as AudioContext, r.contextTime);
    const d = heardUs - r.headCaptureUs;
    // Smoothed: reports come every ~53 ms and each is off by up to a render quantum.
    this.delayUs = this.delayUs === null ? d : this.delayUs + (d - this.delayUs) * 0.2;
  }

  /** When (server clock, µs) the sample rendered at `contextTime` comes out of the speaker. */
  private serverTimeHeard(context: AudioContext, contextTime: number): number {
    const nowPerf = performance.now();
    const heardPerf = this.output.heardAt(context, contextTime);
    return this.clock.nowUs() + (heardPerf - nowPerf) * 1000;
  }

  /** Jitter from arrival delays: grows the target at once, lets it back down slowly. */
  private measureJitter(captureTime: number): void {
    // The first pongs refine the clock estimate: delays measured across such a step are not jitter.
    if (Math.abs(this.clock.offsetUs - this.transitClockOffsetUs) > CLOCK_STEP_US) {
      this.transitClockOffsetUs = this.clock.offsetUs;
      this.jitter.reset();
    }
    this.jitter.add(this.clock.nowUs() - captureTime);
    this.targetMs = Math.min(MAX_TARGET_MS, Math.max(this.jitterTargetMs, this.syncNeedMs));
    // Whole milliseconds are plenty for the worklet; no message per frame for a target that barely moved.
    if (Math.round(this.targetMs) !== this.postedTargetMs) {
      this.postedTargetMs = Math.round(this.targetMs);
      this.post({ type: 'target', ms: this.targetMs });
    }
  }

  private post(command: PlayoutCommand, transfer: Transferable[] = []): void {
    this.node?.port.postMessage(command, transfer);
  }

  private onDecoderError(err: unknown): void {
    this.counters.decodeErrors++;
    this.problem = `The sound cannot be decoded (${err instanceof Error ? err.name : 'error'}).`;
    console.warn('framewire: audio decoder error', err);
    this.resetDecoder();
  }

  private resetDecoder(): void {
    const d = this.decoder;
    this.decoder = null;
    this.pending.length = 0;
    if (d && d.state !== 'closed') d.close();
  }
}
