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

/**
 * What a video shows, which sets its frame rate, bitrate and the encoder's `contentHint`: a camera (30 fps,
 * a talking head), a shared screen of documents (`detail`: sharp text, 30 fps is plenty) or of a game or a
 * video (`motion`: up to 60 fps, smooth rather than sharp).
 */
export interface VideoProfile {
  content: 'camera' | 'detail' | 'motion';
  fps: number;
}

/** A camera's profile. */
export const CAMERA_PROFILE: VideoProfile = { content: 'camera', fps: TARGET_FPS };

/** The largest H.264 levels' limits: frame size in macroblocks and macroblocks per second (H.264 Table A-1). */
const H264_LEVELS: readonly { hex: string; frame: number; rate: number }[] = [
  { hex: '1e', frame: 1620, rate: 40_500 }, // 3.0: 720x576 at 25
  { hex: '1f', frame: 3600, rate: 108_000 }, // 3.1: 1280x720 at 30
  { hex: '20', frame: 5120, rate: 216_000 }, // 3.2: 1280x720 at 60
  { hex: '28', frame: 8192, rate: 245_760 }, // 4.0: 1920x1080 at 30
  { hex: '2a', frame: 8704, rate: 522_240 }, // 4.2: 1920x1080 at 60
  { hex: '32', frame: 22_080, rate: 589_824 }, // 5.0: 2560x1440 at 30
  { hex: '33', frame: 36_864, rate: 983_040 }, // 5.1: 3840x2160 at 30
  { hex: '34', frame: 36_864, rate: 2_073_600 }, // 5.2: 3840x2160 at 60
];

/** The WebCodecs codec string for `codec` at this size and rate (H.264 levels cap both). */
function codecString(codec: EncoderSetup['codec'], width: number, height: number, fps: number): string {
  const macroblocks = Math.ceil(width / 16) * Math.ceil(height / 16);
  switch (codec) {
    case 'h264': {
      // Constrained Baseline (no B-frames: nothing is held back for reordering), level just big enough.
      const level =
        H264_LEVELS.find((l) => macroblocks <= l.frame && macroblocks * fps <= l.rate) ?? H264_LEVELS.at(-1);
      return `avc1.42e0${level?.hex ?? '34'}`;
    }
    case 'vp8':
      return 'vp8';
    case 'vp9':
      return 'vp09.00.31.08';
    case 'av1':
      return width * height <= 1065024 ? 'av01.0.05M.08' : 'av01.0.08M.08';
  }
}

/**
 * A bitrate that looks good for this content at this size and rate: ~0.1 bit per pixel for a camera (a
 * talking head), 0.04 for a screen of documents (mostly still: each change is sharp and then costs
 * nothing), 0.05 for games and video (1080p60: the 6 Mbit/s cap). Capped at 6 Mbit/s, the most a home
 * uplink reliably carries.
 */
export function bitrateFor(width: number, height: number, profile: VideoProfile = CAMERA_PROFILE): number {
  const bitsPerPixel = profile.content === 'camera' ? 0.1 : profile.content === 'detail' ? 0.04 : 0.05;
  const floor = profile.content === 'camera' ? 250_000 : 500_000;
  return Math.round(Math.min(6_000_000, Math.max(floor, width * height * profile.fps * bitsPerPixel)));
}

/** The encoder config for `codec` at this size, for this content. */
export function encoderConfig(
  codec: EncoderSetup['codec'],
  width: number,
  height: number,
  profile: VideoProfile = CAMERA_PROFILE,
): VideoEncoderConfig {
  const config: VideoEncoderConfig & { contentHint?: string } = {
    codec: codecString(codec, width, height, profile.fps),
    width,
    height,
    bitrate: bitrateFor(width, height, profile),
    framerate: profile.fps,
    // Realtime: the encoder never holds frames back to look ahead, and drops quality rather than time.
    latencyMode: 'realtime',
  };
  // The encoder's own tuning for screens (WebCodecs' contentHint; a browser without it ignores the key).
  if (profile.content !== 'camera') config.contentHint = profile.content === 'detail' ? 'text' : 'motion';
  // Annex B puts SPS/PPS in every keyframe, so a viewer can start at any keyframe with no description.
  if (codec === 'h264') config.avc = { format: 'annexb' };
  return config;
}

/** True when this browser can encode `codec` at this size. */
export async function canEncode(
  codec: EncoderSetup['codec'],
  width: number,
  height: number,
  profile: VideoProfile = CAMERA_PROFILE,
): Promise<boolean> {
  if (typeof VideoEncoder === 'undefined') return false;
  try {
    const { supported } = await VideoEncoder.isConfigSupported(encoderConfig(codec, width, height, profile));
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

/** The encoder setup for a choice, a room (see {@link codecOrder}) and content. Null if nothing works. */
export async function chooseEncoder(
  choice: CodecChoice,
  width: number,
  height: number,
  roomDecodes: readonly string[] | null = null,
  profile: VideoProfile = CAMERA_PROFILE,
): Promise<EncoderSetup | null> {
  for (const codec of codecOrder(choice, roomDecodes)) {
    if (!(await canEncode(codec, width, height, profile))) continue;
    const encoder = encoderConfig(codec, width, height, profile);
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
