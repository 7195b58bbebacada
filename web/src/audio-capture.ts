// The microphone as AudioData: MediaStreamTrackProcessor where the browser has it (Chromium), else an
// AudioWorklet that hands 10 ms blocks of samples to the page (Firefox, Safari).
import type { CaptureBlock } from './audio-messages.js';
import type { AudioOutput } from './audio-output.js';
import { processorReader } from './track-processor.js';

/** A source of microphone AudioData; `read` resolves null once the track has ended or {@link stop} ran. */
export interface AudioCapture {
  /** `processor` or `worklet`: which way the samples come (stats, tests). */
  readonly kind: 'processor' | 'worklet';
  read(): Promise<AudioData | null>;
  stop(): void;
}

/**
 * Opens the capture for `track`: MediaStreamTrackProcessor unless absent or `forceWorklet` (a test hook,
 * `?audio-capture=worklet`), else the AudioWorklet of the page's AudioContext. Null when neither works.
 */
export async function openAudioCapture(
  track: MediaStreamTrack,
  output: AudioOutput,
  forceWorklet = false,
): Promise<AudioCapture | null> {
  if (!forceWorklet && typeof MediaStreamTrackProcessor !== 'undefined') {
    return { kind: 'processor', ...processorReader<AudioData>(track) };
  }
  const context = await output.get();
  if (!context || typeof AudioData === 'undefined') return null;
  return new WorkletCapture(context, track);
}

/** Blocks kept when the encoder falls behind; more are dropped (the newest audio matters most). */
const MAX_PENDING_BLOCKS = 50;

/** Microphone → MediaStreamSource → the `framewire-capture` processor → AudioData on the page. */
class WorkletCapture implements AudioCapture {
  readonly kind = 'worklet';
  private readonly source: MediaStreamAudioSourceNode;
  private readonly node: AudioWorkletNode;
  private readonly sink: GainNode;
  private readonly pending: AudioData[] = [];
  private waiter: ((d: AudioData | null) => void) | null = null;
  private ended = false;

  constructor(context: AudioContext, track: MediaStreamTrack) {
    this.source = context.createMediaStreamSource(new MediaStream([track]));
    this.node = new AudioWorkletNode(context, 'framewire-capture', { numberOfOutputs: 0 });
    // A processor with no path to the destination may never be run: a silent gain keeps it pulled.
    this.sink = context.createGain();
    this.sink.gain.value = 0;
    this.source.connect(this.node);
    this.source.connect(this.sink).connect(context.destination);
    this.node.port.onmessage = (e: MessageEvent<CaptureBlock>) => this.onBlock(e.data);
    track.addEventListener('ended', () => this.stop());
  }

  read(): Promise<AudioData | null> {
    const next = this.pending.shift();
    if (next) return Promise.resolve(next);
    if (this.ended) return Promise.resolve(null);
    return new Promise((resolve) => {
      this.waiter = resolve;
    });
  }

  stop(): void {
    if (this.ended) return;
    this.ended = true;
    this.source.disconnect();
    this.node.port.onmessage = null;
    this.sink.disconnect();
    for (const d of this.pending.splice(0)) d.close();
    this.waiter?.(null);
    this.waiter = null;
  }

  private onBlock(block: CaptureBlock): void {
    const frames = block.channels[0]?.length ?? 0;
    if (this.ended || frames === 0) return;
    const planar = new Float32Array(frames * block.channels.length);
    for (const [i, ch] of block.channels.entries()) planar.set(ch, i * frames);
    const data = new AudioData({
      format: 'f32-planar',
      sampleRate: block.rate,
      numberOfFrames: frames,
      numberOfChannels: block.channels.length,
      // Media time on the context's clock, µs: continuous, as the encoder wants.
      timestamp: Math.round(block.contextTime * 1e6),
      data: planar,
    });
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = null;
      w(data);
      return;
    }
    this.pending.push(data);
    if (this.pending.length > MAX_PENDING_BLOCKS) this.pending.shift()?.close();
  }
}
