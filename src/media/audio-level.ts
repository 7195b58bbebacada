import { AUDIO_LEVEL_SILENT, audioLevelByte } from '../protocol/messages.js';

/**
 * Below this RMS level (dBov) a frame is taken as holding no sound for the voice-activity bit. An energy
 * threshold is a crude detector (it cannot tell voice from music or a beep), but it needs no decoding and
 * is what the level byte can offer a "who is speaking" view without a real VAD.
 */
export const VOICE_THRESHOLD_DBOV = -50;

/** Bytes per sample of the PCM the meter reads: signed 16-bit little-endian, mono. */
const BYTES_PER_SAMPLE = 2;

/**
 * The RFC 6464 level byte of `samples` mono s16 samples: the RMS level in -dBov (RFC 6465 section 4
 * defines the level as the power of the signal, not its peak), with the voice bit set above
 * {@link VOICE_THRESHOLD_DBOV}.
 */
export function levelOfPcm(pcm: Int16Array): number {
  if (pcm.length === 0) return AUDIO_LEVEL_SILENT;
  let sum = 0;
  for (const s of pcm) sum += s * s;
  const rms = Math.sqrt(sum / pcm.length) / 32768;
  const dbov = rms > 0 ? 20 * Math.log10(rms) : -Infinity;
  return audioLevelByte(rms, dbov > VOICE_THRESHOLD_DBOV);
}

/**
 * Measures the level of each encoded audio frame from the PCM the encoder was given (ffmpeg writes the
 * same samples, mixed to mono, to a second pipe): Opus cannot be measured without decoding it, and the
 * PCM costs 96 kB/s of pipe, nothing to decode. Frames take samples in order, `samples` at a time, so the
 * n-th frame is measured over the n-th stretch of input (shifted by the encoder's pre-skip, 6.5 ms for
 * libopus: close enough for a level meter).
 */
export class PcmLevelMeter {
  private chunks: Uint8Array[] = [];
  private buffered = 0;

  /** Samples available to measure. */
  get availableSamples(): number {
    return Math.floor(this.buffered / BYTES_PER_SAMPLE);
  }

  /** Adds PCM as read from the pipe (any chunk boundaries). */
  push(chunk: Uint8Array): void {
    if (chunk.length === 0) return;
    this.chunks.push(chunk);
    this.buffered += chunk.length;
  }

  /** The level byte of the next `samples` samples, consumed; null when fewer have arrived. */
  take(samples: number): number | null {
    const bytes = samples * BYTES_PER_SAMPLE;
    if (this.buffered < bytes) return null;
    const out = new Uint8Array(bytes);
    let filled = 0;
    while (filled < bytes) {
      const chunk = this.chunks[0] as Uint8Array;
      const n = Math.min(bytes - filled, chunk.length);
      out.set(chunk.subarray(0, n), filled);
      filled += n;
      if (n === chunk.length) this.chunks.shift();
      else this.chunks[0] = chunk.subarray(n);
    }
    this.buffered -= bytes;
    const view = new DataView(out.buffer);
    const pcm = new Int16Array(samples);
    for (let i = 0; i < samples; i++) pcm[i] = view.getInt16(i * BYTES_PER_SAMPLE, true);
    return levelOfPcm(pcm);
  }

  /** Drops buffered PCM beyond `maxSamples` (oldest first), so a stalled encoder cannot grow it. */
  trim(maxSamples: number): void {
    const excess = this.availableSamples - maxSamples;
    if (excess > 0) this.take(excess);
  }
}
