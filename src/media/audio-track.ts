import { AUDIO_LEVEL_SILENT, type AudioConfig } from '../protocol/messages.js';
import { PcmLevelMeter } from './audio-level.js';
import { createOggOpusParser, OPUS_SAMPLE_RATE, type OpusPacket } from './opus.js';

/** One encoded audio frame as it left ffmpeg, with its level. */
export interface EncodedAudioFrame {
  /** Media time, µs, on the same origin as the video frames of the same source. */
  timestamp: number;
  /** Wall clock of its first sample, µs since the Unix epoch (same clock as the video's captureTime). */
  captureTime: number;
  /** µs of audio. */
  duration: number;
  /** RFC 6464 level byte, from the PCM the encoder was given. */
  level: number;
  data: Uint8Array;
}

/** An Opus packet and its level, before the source gives it a media timestamp. */
export type LeveledPacket = Omit<EncodedAudioFrame, 'timestamp'>;

/**
 * Packets held for their PCM (which normally arrives first, being written before encoding, but comes on
 * another pipe): past this many the oldest goes out at once, unmeasured, so audio is never delayed by
 * more than a few frames.
 */
const MAX_HELD_PACKETS = 4;
/** PCM kept ahead of the packets: a second. More means the packets stopped; older samples are dropped. */
const MAX_PCM_AHEAD_SAMPLES = OPUS_SAMPLE_RATE;

/**
 * The audio half of a source: Ogg/Opus from one pipe, PCM from another, out as Opus frames with their
 * level. Pure (fed bytes, returns frames), so it is tested without ffmpeg.
 */
export class AudioTrackReader {
  private readonly parser = createOggOpusParser();
  private readonly meter = new PcmLevelMeter();
  private held: OpusPacket[] = [];
  /** Samples of packets sent unmeasured, whose PCM is skipped when it comes so the rest stay aligned. */
  private debt = 0;

  /** Feeds Ogg/Opus bytes; returns the config when it appears, and the frames ready to go. */
  pushOgg(chunk: Uint8Array): { config: AudioConfig | null; frames: LeveledPacket[] } {
    const parsed = this.parser.push(chunk);
    this.held.push(...parsed.packets);
    return { config: parsed.config, frames: this.drain(false) };
  }

  /** Feeds PCM (mono s16le); returns the frames that were waiting for it. */
  pushPcm(chunk: Uint8Array): LeveledPacket[] {
    this.meter.push(chunk);
    return this.drain(false);
  }

  /** The frames still held, unmeasured where their PCM never came (at the end of the stream). */
  flush(): LeveledPacket[] {
    return this.drain(true);
  }

  private drain(all: boolean): LeveledPacket[] {
    if (this.debt > 0) {
      const pay = Math.min(this.debt, this.meter.availableSamples);
      if (pay > 0) this.meter.take(pay);
      this.debt -= pay;
    }
    const out: LeveledPacket[] = [];
    while (this.held.length > 0) {
      const packet = this.held[0] as OpusPacket;
      let level = this.debt === 0 ? this.meter.take(packet.samples) : null;
      if (level === null) {
        if (!all && this.held.length <= MAX_HELD_PACKETS) break;
        level = AUDIO_LEVEL_SILENT;
        this.debt += packet.samples;
      }
      this.held.shift();
      out.push({
        captureTime: packet.captureTime,
        duration: packet.duration,
        level,
        data: packet.data,
      });
    }
    this.meter.trim(MAX_PCM_AHEAD_SAMPLES);
    return out;
  }
}
