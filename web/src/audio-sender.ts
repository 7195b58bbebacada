// The microphone on the wire: AudioData → AudioEncoder (Opus, 20 ms, voip, in-band FEC) → audio frames, with
// silence left unsent (our own DTX, see below).
import { type AudioConfig, audioLevelByte } from '../../src/protocol/index.js';
import type { AudioCapture } from './audio-capture.js';
import { RateMeter } from './stats.js';

/** Opus's own rate; the encoder is configured at the microphone's rate and Opus resamples internally. */
const OPUS_BITRATE = 32_000;
/** 20 ms frames: the usual VoIP trade-off between overhead (headers per frame) and latency. */
const FRAME_DURATION_US = 20_000;
/** A frame whose peak passes this (about -34 dBov) is marked as holding voice (RFC 6464's V bit). */
export const VOICE_PEAK = 0.02;
/** Below this peak (about -70 dBov) a frame is silence. */
const SILENCE_PEAK = 0.0003;
/** Silent frames sent before the rest of a silence is left out (the decoder fades out on real samples). */
const SILENT_FRAMES_SENT = 10;
/** Bytes the socket may hold unsent before audio frames are dropped too (video stops at 1 MB). */
const MAX_SOCKET_BUFFER_BYTES = 2 * 1024 * 1024;
/** Inputs remembered to time encoded frames; the encoder holds a few at most. */
const MAX_STAMPS = 64;
/** Encoder failures tolerated before the microphone is given up. */
const MAX_ENCODER_ERRORS = 5;

/** What an encoded audio frame needs from the publisher to go out; false when it was not sent. */
export type SendAudio = (frame: {
  timestamp: number;
  captureTime: number;
  audioLevel: number;
  payload: Uint8Array;
}) => boolean;

/** Cumulative counters of the microphone's stream. */
export interface AudioSenderCounters {
  chunksCaptured: number;
  framesEncoded: number;
  framesSent: number;
  bytesSent: number;
  droppedCongested: number;
  /** Frames of silence left unsent (our DTX). */
  silentNotSent: number;
  encoderErrors: number;
}

/** One AudioData given to the encoder. */
interface EncodedInput {
  /** Its first sample's index among the samples given to this encoder. */
  offset: number;
  frames: number;
  rate: number;
  /** Its media timestamp, µs. */
  timestamp: number;
  /** When it reached the page, µs on the server's clock. */
  captureTime: number;
  peak: number;
}

/** The encoder config for the microphone's format, with the Opus options this browser accepts; null if none. */
export async function chooseAudioEncoder(
  sampleRate: number,
  numberOfChannels: number,
): Promise<AudioEncoderConfig | null> {
  if (typeof AudioEncoder === 'undefined') return null;
  const base: AudioEncoderConfig = { codec: 'opus', sampleRate, numberOfChannels, bitrate: OPUS_BITRATE };
  // Not `usedtx`: Chromium's encoder then emits nothing during silence *and* stamps every later frame as if
  // the silence had not happened (its output timestamps count emitted frames: measured with the fake
  // microphone, the beep after 280 ms of silence came out stamped 280 ms early). Frames would then be timed
  // wrongly for the jitter buffer and for lip sync. The encoder encodes every frame here, and {@link AudioSender} leaves silent ones unsent.
  const candidates: AudioEncoderConfig[] = [
    {
      ...base,
      opus: { frameDuration: FRAME_DURATION_US, useinbandfec: true, usedtx: false },
    },
    { ...base, opus: { frameDuration: FRAME_DURATION_US } },
    base,
  ];
  for (const config of candidates) {
    // `application: 'voip'` is in the WebCodecs Opus registry but not yet in TypeScript's DOM lib.
    const withApp = config.opus
      ? ({ ...config, opus: { ...config.opus, application: 'voip' } } as AudioEncoderConfig)
      : config;
    for (const c of [withApp, config]) {
      try {
        const { supported } = await AudioEncoder.isConfigSupported(c);
        if (supported) return c;
      } catch {
        // An option this browser does not know makes it throw: try a simpler config.
      }
    }
  }
  return null;
}

/** Encodes the microphone and hands each Opus frame, with its level and capture time, to `send`. */
export class AudioSender {
  /** Cumulative counters. */
  readonly counters: AudioSenderCounters = {
    chunksCaptured: 0,
    framesEncoded: 0,
    framesSent: 0,
    bytesSent: 0,
    droppedCongested: 0,
    silentNotSent: 0,
    encoderErrors: 0,
  };
  /** Frames and bytes sent per second. */
  readonly sent = new RateMeter();
  /** What viewers decode with; null until the first samples told us the microphone's format. */
  config: AudioConfig | null = null;
  /** The encoder config in use (for stats: which Opus options this browser took). */
  encoderConfig: AudioEncoderConfig | null = null;
  /** Why the microphone cannot be sent; set once, when it gives up. */
  failed: string | null = null;
  /** While muted, nothing is encoded or sent (viewers hear silence, the socket carries nothing). */
  muted = false;
  /** Loudest sample since the meter last read it (0–1). */
  peakSinceRead = 0;

  private encoder: AudioEncoder | null = null;
  private seq = 0;
  private encoderErrors = 0;
  private stopped = false;
  /** Samples given to the current encoder, and frames it has output: frame k starts at sample k × size. */
  private samplesIn = 0;
  private framesOut = 0;
  /** Consecutive silent frames. */
  private silentRun = 0;
  /** What each input given to the encoder was, oldest first, until every frame it is in has come out. */
  private readonly inputs: EncodedInput[] = [];

  constructor(
    private readonly capture: AudioCapture,
    private readonly now: () => number,
    private readonly bufferedAmount: () => number,
    private readonly send: SendAudio,
    /** Called once the config is known (or the microphone failed): the publisher may publish now. */
    private readonly onReady: () => void,
  ) {}

  /** Which way the samples come: `processor` or `worklet`. */
  get captureKind(): string {
    return this.capture.kind;
  }

  /** Pulls microphone samples until the track ends or {@link stop}. */
  async run(): Promise<void> {
    for (;;) {
      const data = await this.capture.read().catch(() => null);
      if (!data) break;
      if (this.stopped) {
        data.close();
        break;
      }
      try {
        await this.onData(data);
      } finally {
        data.close();
      }
    }
  }

  /** Stops encoding and capturing. */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.capture.stop();
    if (this.encoder && this.encoder.state !== 'closed') this.encoder.close();
    this.encoder = null;
  }

  private async onData(data: AudioData): Promise<void> {
    this.counters.chunksCaptured++;
    const captureTime = this.now();
    const peak = peakOf(data);
    if (peak > this.peakSinceRead) this.peakSinceRead = peak;
    if (this.muted || this.failed) return;
    if (!this.encoder && !(await this.configure(data))) return;
    const encoder = this.encoder;
    if (!encoder || this.stopped) return;
    this.inputs.push({
      offset: this.samplesIn,
      frames: data.numberOfFrames,
      rate: data.sampleRate,
      timestamp: data.timestamp,
      captureTime,
      peak,
    });
    if (this.inputs.length > MAX_STAMPS) this.inputs.shift();
    this.samplesIn += data.numberOfFrames;
    encoder.encode(data);
  }

  private async configure(data: AudioData): Promise<boolean> {
    if (this.config && this.encoderConfig) {
      // A new encoder after an error, for the same format: the stream's config stays.
      return this.makeEncoder(this.encoderConfig);
    }
    const config = await chooseAudioEncoder(data.sampleRate, Math.min(2, data.numberOfChannels));
    if (this.stopped) return false;
    if (!config) {
      this.fail('This browser cannot encode Opus audio with WebCodecs: sending video only.');
      return false;
    }
    if (!this.makeEncoder(config)) return false;
    this.encoderConfig = config;
    this.config = { codec: 'opus', sampleRate: config.sampleRate, numberOfChannels: config.numberOfChannels };
    this.onReady();
    return true;
  }

  private makeEncoder(config: AudioEncoderConfig): boolean {
    const encoder: AudioEncoder = new AudioEncoder({
      output: (chunk) => this.onChunk(chunk),
      error: (err) => this.onError(encoder, err),
    });
    try {
      encoder.configure(config);
    } catch (err) {
      this.fail(`The audio encoder refused its settings (${err instanceof Error ? err.message : err}).`);
      return false;
    }
    this.encoder = encoder;
    // A new encoder counts its input and output afresh.
    this.samplesIn = 0;
    this.framesOut = 0;
    this.inputs.length = 0;
    return true;
  }

  private onError(encoder: AudioEncoder, err: DOMException): void {
    if (encoder !== this.encoder || this.stopped) return;
    console.warn('framewire: audio encoder error', err);
    this.counters.encoderErrors++;
    this.encoder = null; // the next samples make a new one
    if (++this.encoderErrors >= MAX_ENCODER_ERRORS)
      this.fail(`The audio encoder keeps failing (${err.message}).`);
  }

  private fail(reason: string): void {
    if (this.failed) return;
    this.failed = reason;
    this.onReady();
  }

  private onChunk(chunk: EncodedAudioChunk): void {
    this.counters.framesEncoded++;
    // Frame k holds the encoder's samples from k × its size: which inputs those were tells its capture time,
    // media time and level (the chunk's own timestamp is not to be trusted, see chooseAudioEncoder).
    const rate = this.encoderConfig?.sampleRate ?? 48_000;
    const size = Math.round(((chunk.duration ?? FRAME_DURATION_US) * rate) / 1e6);
    const start = this.framesOut * size;
    this.framesOut++;
    const timing = this.timingOf(start, size);
    if (!timing || this.stopped || chunk.byteLength === 0) return;
    const { peak } = timing;
    // Our DTX: past a few frames of silence, nothing is sent until sound comes back. Such frames take no
    // number, so that viewers do not count them as lost.
    this.silentRun = peak < SILENCE_PEAK ? this.silentRun + 1 : 0;
    if (this.silentRun > SILENT_FRAMES_SENT) {
      this.counters.silentNotSent++;
      return;
    }
    // Every other encoded frame takes a number, sent or not, so that viewers see our drops as a gap.
    this.seq = (this.seq + 1) >>> 0;
    if (this.bufferedAmount() > MAX_SOCKET_BUFFER_BYTES) {
      this.counters.droppedCongested++;
      return;
    }
    const payload = new Uint8Array(chunk.byteLength);
    chunk.copyTo(payload);
    const sent = this.send({
      timestamp: timing.timestamp,
      captureTime: timing.captureTime,
      audioLevel: audioLevelByte(peak, peak >= VOICE_PEAK),
      payload,
    });
    if (!sent) return;
    this.counters.framesSent++;
    this.counters.bytesSent += payload.byteLength;
    this.sent.add(payload.byteLength);
  }

  /**
   * Media time, capture time and peak of the encoder's samples [start, start + size): from the input that
   * holds `start` (times) and every input they overlap (peak). Null if those inputs are no longer known.
   */
  private timingOf(
    start: number,
    size: number,
  ): { timestamp: number; captureTime: number; peak: number } | null {
    // Inputs wholly before this frame are done with.
    while (this.inputs[0] && this.inputs[0].offset + this.inputs[0].frames <= start) this.inputs.shift();
    const first = this.inputs[0];
    if (!first || first.offset > start) return null;
    let peak = 0;
    for (const input of this.inputs) {
      if (input.offset >= start + size) break;
      if (input.peak > peak) peak = input.peak;
    }
    const intoUs = ((start - first.offset) / first.rate) * 1e6;
    return {
      timestamp: Math.round(first.timestamp + intoUs),
      captureTime: Math.round(first.captureTime + intoUs),
      peak,
    };
  }

  /** The seq of the last encoded frame (for tests that look for gaps). */
  get lastSeq(): number {
    return this.seq;
  }
}

/** The loudest sample of `data` (0–1), over every channel. */
export function peakOf(data: AudioData): number {
  const frames = data.numberOfFrames;
  const buf = new Float32Array(frames);
  let peak = 0;
  for (let ch = 0; ch < data.numberOfChannels; ch++) {
    data.copyTo(buf, { planeIndex: ch, format: 'f32-planar' });
    for (let i = 0; i < frames; i++) {
      const a = Math.abs(buf[i] ?? 0);
      if (a > peak) peak = a;
    }
  }
  return peak;
}
