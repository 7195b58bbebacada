// Which encoder to use, and how: the codec is a setting, and the default follows what this machine does best.
import type { DecoderConfig } from '../../src/protocol/index.js';

/** The codecs the app offers; `auto` is H.264 where supported, else VP8. */
export type CodecChoice = 'auto' | 'h264' | 'vp8' | 'vp9' | 'av1';

/** Labels for the codec setting. */
export const CODEC_LABELS: Record<CodecChoice, string> = {
  auto: 'Auto',
  h264: 'H.264',
  vp8: 'VP8',
  vp9: 'VP9',
  av1: 'AV1',
};

/** An encoder setup and what a viewer needs to decode its output. */
export interface EncoderSetup {
  codec: Exclude<CodecChoice, 'auto'>;
  encoder: VideoEncoderConfig;
  decoder: DecoderConfig;
}

/** Frame rate we ask cameras for and tell the encoder to expect. */
export const TARGET_FPS = 30;

/** The WebCodecs codec string for `codec` at this size (levels cap the picture size). */
function codecString(codec: EncoderSetup['codec'], width: number, height: number): string {
  const macroblocks = Math.ceil(width / 16) * Math.ceil(height / 16);
  switch (codec) {
    case 'h264':
      // Constrained Baseline (no B-frames: nothing is held back for reordering), level just big enough.
      if (macroblocks <= 1620) return 'avc1.42e01e'; // 3.0: up to 720x576
      if (macroblocks <= 3600) return 'avc1.42e01f'; // 3.1: up to 1280x720
      if (macroblocks <= 8192) return 'avc1.42e028'; // 4.0: up to 2048x1024
      return 'avc1.42e033'; // 5.1
    case 'vp8':
      return 'vp8';
    case 'vp9':
      return 'vp09.00.31.08';
    case 'av1':
      return width * height <= 1065024 ? 'av01.0.05M.08' : 'av01.0.08M.08';
  }
}

/** A bitrate that looks good for a talking head at this size: ~0.1 bit per pixel at 30 fps. */
export function bitrateFor(width: number, height: number): number {
  return Math.round(Math.min(6_000_000, Math.max(250_000, width * height * TARGET_FPS * 0.1)));
}

/** The encoder config for `codec` at this size. */
export function encoderConfig(
  codec: EncoderSetup['codec'],
  width: number,
  height: number,
): VideoEncoderConfig {
  const config: VideoEncoderConfig = {
    codec: codecString(codec, width, height),
    width,
    height,
    bitrate: bitrateFor(width, height),
    framerate: TARGET_FPS,
    // Realtime: the encoder never holds frames back to look ahead, and drops quality rather than time.
    latencyMode: 'realtime',
  };
  // Annex B puts SPS/PPS in every keyframe, so a viewer can start at any keyframe with no description.
  if (codec === 'h264') config.avc = { format: 'annexb' };
  return config;
}

/** True when this browser can encode `codec` at this size. */
export async function canEncode(
  codec: EncoderSetup['codec'],
  width: number,
  height: number,
): Promise<boolean> {
  if (typeof VideoEncoder === 'undefined') return false;
  try {
    const { supported } = await VideoEncoder.isConfigSupported(encoderConfig(codec, width, height));
    return supported === true;
  } catch {
    return false;
  }
}

/** The codecs this browser can encode at this size, for the settings menu. */
export async function supportedCodecs(width: number, height: number): Promise<EncoderSetup['codec'][]> {
  const all: EncoderSetup['codec'][] = ['h264', 'vp8', 'vp9', 'av1'];
  const ok = await Promise.all(all.map((c) => canEncode(c, width, height)));
  return all.filter((_, i) => ok[i]);
}

/** The protocol's codec family of each codec the app encodes (what viewers declare they decode). */
export const CODEC_FAMILY: Record<EncoderSetup['codec'], string> = {
  h264: 'avc1',
  vp8: 'vp8',
  vp9: 'vp09',
  av1: 'av01',
};

/**
 * The order to try codecs in for a choice. Auto prefers H.264, measured here as the fastest and steadiest
 * WebCodecs encoder (GUIDE §5), then VP8, which every WebCodecs browser has. `roomDecodes` (the families
 * every viewer of the room decodes; null when no viewer restricts) goes first: a codec outside it is tried
 * only when no codec inside it can be encoded here, and then some viewer will say it cannot decode.
 */
export function codecOrder(
  choice: CodecChoice,
  roomDecodes: readonly string[] | null = null,
): EncoderSetup['codec'][] {
  const preferred: EncoderSetup['codec'][] = choice === 'auto' ? ['h264', 'vp8'] : [choice, 'h264', 'vp8'];
  if (roomDecodes === null) return preferred;
  const all = [...new Set<EncoderSetup['codec']>([...preferred, 'vp9', 'av1'])];
  const fits = all.filter((c) => roomDecodes.includes(CODEC_FAMILY[c]));
  return [...fits, ...preferred.filter((c) => !fits.includes(c))];
}

/** The encoder setup for a choice and a room (see {@link codecOrder}). Null if nothing works. */
export async function chooseEncoder(
  choice: CodecChoice,
  width: number,
  height: number,
  roomDecodes: readonly string[] | null = null,
): Promise<EncoderSetup | null> {
  for (const codec of codecOrder(choice, roomDecodes)) {
    if (!(await canEncode(codec, width, height))) continue;
    const encoder = encoderConfig(codec, width, height);
    return { codec, encoder, decoder: { codec: encoder.codec, codedWidth: width, codedHeight: height } };
  }
  return null;
}

/** A codec string as people know it: `avc1.42e01f` → `H.264`. */
export function codecLabel(codec: string): string {
  const family = codec.split('.')[0]?.toLowerCase() ?? '';
  const names: Record<string, string> = {
    avc1: 'H.264',
    avc3: 'H.264',
    vp8: 'VP8',
    vp09: 'VP9',
    av01: 'AV1',
    opus: 'Opus',
    mp4a: 'AAC',
  };
  return names[family] ?? codec;
}
