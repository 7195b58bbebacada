import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { FLV_CODEC_AVC, FlvReader, FlvTagType, parseFlvVideoTag } from '../../src/media/flv.js';
import { avcCodecString, avccToAnnexB, parseAvcC } from '../../src/media/h264.js';
import type { DecoderConfig } from '../../src/protocol/index.js';

/** Where the encoded clip is cached (git-ignored): made once, reused by every run. */
export const CACHE_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '.cache');

/**
 * What a bench clip is: its picture, its rate and the bitrate x264 aims at. Every clip has a keyframe every
 * 2 s and no B-frames, as the CLI's publisher sends.
 */
export interface ClipSpec {
  /** Which clip: a scenario names it (`Scenario.clip`). */
  name: ClipName;
  width: number;
  height: number;
  fps: number;
  /** x264's target, bits per second (its -b:v and -maxrate). */
  bitrate: number;
  seconds: number;
  /** Words for the tables: what the clip stands for. */
  what: string;
}

export type ClipName = 'camera' | 'screen';

/** The camera clip every scenario used first: 640x480 at 30 fps, ~1 Mbit/s. */
export const CAMERA_CLIP: ClipSpec = {
  name: 'camera',
  width: 640,
  height: 480,
  fps: 30,
  bitrate: 1_000_000,
  seconds: 20,
  what: 'camera',
};

/**
 * A shared screen or a game (issue 18): 1080p at 60 fps, ~5 Mbit/s (the middle of the 4–6 Mbit/s a 1080p60
 * share is sent at), so each frame is ~10 KB and a keyframe several times that. 10 s is enough: it loops.
 */
export const SCREEN_CLIP: ClipSpec = {
  name: 'screen',
  width: 1920,
  height: 1080,
  fps: 60,
  bitrate: 5_000_000,
  seconds: 10,
  what: 'screen',
};

/** The clips by name. */
export const CLIPS: Readonly<Record<ClipName, ClipSpec>> = { camera: CAMERA_CLIP, screen: SCREEN_CLIP };

export const CLIP_WIDTH = CAMERA_CLIP.width;
export const CLIP_HEIGHT = CAMERA_CLIP.height;
/** The camera clip's rate, which the soak and slow-link benches send at. */
export const CLIP_FPS = CAMERA_CLIP.fps;

/** The cached file of `spec` (the camera clip keeps the name it always had). */
function clipFile(spec: ClipSpec): string {
  const rate = `${spec.bitrate / 1e6}M`;
  return path.join(CACHE_DIR, `clip-${spec.width}x${spec.height}-${spec.fps}fps-${rate}-v1.flv`);
}

/**
 * ffmpeg's arguments for `spec`. testsrc2 alone compresses to almost nothing; temporal noise gives every
 * frame real detail to code, so x264 actually spends its bitrate. A fixed GOP (no scene cuts) keeps
 * keyframes every 2 s across loops.
 */
function ffmpegArgs(spec: ClipSpec): string[] {
  const gop = String(spec.fps * 2);
  const rate = String(spec.bitrate);
  return [
    ...[
      '-f',
      'lavfi',
      '-i',
      `testsrc2=size=${spec.width}x${spec.height}:rate=${spec.fps},noise=alls=12:allf=t`,
    ],
    ...['-t', String(spec.seconds), '-an'],
    ...['-c:v', 'libx264', '-preset', 'veryfast', '-tune', 'zerolatency'],
    ...['-g', gop, '-keyint_min', gop, '-sc_threshold', '0', '-bf', '0'],
    // Half a second of buffer: the rate stays near the target frame after frame, as a live encoder's.
    ...['-b:v', rate, '-maxrate', rate, '-bufsize', String(spec.bitrate / 2)],
    ...['-pix_fmt', 'yuv420p', '-f', 'flv'],
  ];
}

/** One frame of the clip, in both wire forms (the same frame for every target). */
export interface ClipFrame {
  key: boolean;
  /** The FLV video tag body (what RTMP and HTTP-FLV carry). */
  flvBody: Uint8Array;
  /** The same frame as Annex B (what a Framewire H.264 publisher sends). */
  annexB: Uint8Array;
}

/** The parsed clip. */
export interface Clip {
  file: string;
  /** The FLV body of the AVC sequence header (AVCPacketType 0), sent first to RTMP servers. */
  sequenceHeader: Uint8Array;
  /** What a Framewire publisher announces (Annex B, so no description). */
  config: DecoderConfig;
  frames: ClipFrame[];
  /** Mean bitrate of the video tag bodies, kbit/s. */
  kbps: number;
  keyframes: number;
  /** The clip's frame rate: what a publisher paces it at. */
  fps: number;
  spec: ClipSpec;
}

/**
 * Makes `file` in the bench cache with `ffmpeg -y args… tmp` (quiet but for errors) unless it is there (written whole, then renamed,
 * so a run cut short leaves no half file); returns its path. Throws with a fix if ffmpeg is missing.
 */
export function ensureCached(
  file: string,
  ffmpegArgs: readonly string[],
  what: string,
  timeoutMs: number,
): string {
  if (existsSync(file)) return file;
  mkdirSync(CACHE_DIR, { recursive: true });
  const tmp = `${file}.tmp`;
  const res = spawnSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-y', ...ffmpegArgs, tmp], {
    stdio: ['ignore', 'ignore', 'pipe'],
    timeout: timeoutMs,
  });
  if (res.error) {
    throw new Error(
      `cannot run ffmpeg (${res.error.message}): install it with scripts/install-system-deps.sh`,
    );
  }
  if (res.status !== 0) throw new Error(`ffmpeg failed making ${what}: ${res.stderr.toString().trim()}`);
  renameSync(tmp, file);
  return file;
}

/** Makes the clip with ffmpeg unless it is cached; returns its path. Throws with a fix if ffmpeg is missing. */
export function ensureClip(spec: ClipSpec = CAMERA_CLIP): string {
  // The 1080p60 clip takes about a minute to encode on 2 cores; the budget leaves room for a busy machine.
  return ensureCached(clipFile(spec), ffmpegArgs(spec), `the bench ${spec.name} clip`, 600_000);
}

/** Reads the cached clip of `spec` into frames (both forms), once per process. */
export function loadClip(file: string, spec: ClipSpec = CAMERA_CLIP): Clip {
  let sequenceHeader: Uint8Array | null = null;
  let avc: ReturnType<typeof parseAvcC> | null = null;
  const frames: ClipFrame[] = [];
  let bytes = 0;
  new FlvReader().push(readFileSync(file), (tag) => {
    if (tag.type !== FlvTagType.video) return;
    const v = parseFlvVideoTag(tag.data);
    if (v.codecId !== FLV_CODEC_AVC) throw new Error('bench clip is not H.264');
    if (v.avcPacketType === 0) {
      sequenceHeader = tag.data;
      avc = parseAvcC(v.body);
      return;
    }
    if (v.avcPacketType !== 1) return;
    if (!avc) throw new Error('bench clip: frame before the AVC sequence header');
    const key = v.frameType === 1;
    frames.push({ key, flvBody: tag.data, annexB: avccToAnnexB(v.body, avc, key) });
    bytes += tag.data.length;
  });
  const header = sequenceHeader as Uint8Array | null;
  const conf = avc as ReturnType<typeof parseAvcC> | null;
  if (!header || !conf || frames.length === 0 || !frames[0]?.key) {
    throw new Error(`bench clip ${file} is unusable: delete it to have it made again`);
  }
  return {
    file,
    sequenceHeader: header,
    config: {
      codec: avcCodecString(conf.sps[0] as Uint8Array),
      codedWidth: spec.width,
      codedHeight: spec.height,
    },
    frames,
    kbps: (bytes * 8 * spec.fps) / frames.length / 1000,
    keyframes: frames.filter((f) => f.key).length,
    fps: spec.fps,
    spec,
  };
}
