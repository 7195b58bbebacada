import type { AudioConfig } from '../protocol/messages.js';
import { OPUS_SAMPLE_RATE, opusPacketSamples } from './opus.js';

/**
 * The playing time of one Opus packet in µs, read from its TOC byte and frame count (RFC 6716, section
 * 3.2), or null when the packet is too short to say.
 */
export function opusPacketMicros(packet: Uint8Array): number | null {
  const samples = opusPacketSamples(packet);
  return samples > 0 ? (samples * 1e6) / OPUS_SAMPLE_RATE : null;
}

/** The playing time in µs of one packet of `config`'s codec, or null when unknown. */
export function audioPacketMicros(config: AudioConfig, packet: Uint8Array): number | null {
  if (config.codec === 'opus') return opusPacketMicros(packet);
  // AAC-LC: 1024 samples per frame (ISO 14496-3); HE-AAC's SBR doubles the output, not the timestamps.
  if (config.codec.startsWith('mp4a.')) return (1024 * 1e6) / config.sampleRate;
  return null;
}

/** Duration of {@link opusSilence}: one 20 ms CELT frame. */
export const OPUS_SILENCE_MICROS = 20_000;

/**
 * A 20 ms Opus packet of silence for `channels` (1 or 2): TOC config 31 (CELT, fullband, 20 ms), one
 * frame, whose two bytes decode to digital silence (the frame WebRTC stacks send during DTX). Null for
 * more channels, which need a multistream packet.
 */
export function opusSilence(channels: number): Uint8Array | null {
  if (channels !== 1 && channels !== 2) return null;
  return Uint8Array.of(0xf8 | (channels === 2 ? 0x04 : 0), 0xff, 0xfe);
}

/**
 * Samples an Opus decoder discards at the start when the publisher sent no OpusHead: libopus's encoder
 * lookahead at 48 kHz (what ffmpeg and browsers write in theirs).
 */
const DEFAULT_PRE_SKIP = 312;

/**
 * The OpusHead (RFC 7845, section 5.1) for a stream whose publisher sent none: WebM requires it as the
 * track's CodecPrivate and MP4's dOps box is built from it. Mapping family 0 covers mono and stereo, the
 * only layouts a publisher sends without a head of its own.
 */
export function opusHead(config: AudioConfig): Uint8Array {
  const head = new Uint8Array(19);
  const view = new DataView(head.buffer);
  head.set(new TextEncoder().encode('OpusHead'), 0);
  head[8] = 1; // version
  head[9] = Math.min(2, Math.max(1, config.numberOfChannels));
  view.setUint16(10, DEFAULT_PRE_SKIP, true);
  view.setUint32(12, config.sampleRate || OPUS_SAMPLE_RATE, true);
  view.setInt16(16, 0, true); // output gain
  head[18] = 0; // channel mapping family
  return head;
}
