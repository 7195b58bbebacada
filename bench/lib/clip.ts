import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { FLV_CODEC_AVC, FlvReader, FlvTagType, parseFlvVideoTag } from '../../src/media/flv.js';
import { avcCodecString, avccToAnnexB, parseAvcC } from '../../src/media/h264.js';
import type { DecoderConfig } from '../../src/protocol/index.js';

/** Where the encoded clip is cached (git-ignored): made once, reused by every run. */
export const CACHE_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '.cache');

export const CLIP_WIDTH = 640;
export const CLIP_HEIGHT = 480;
export const CLIP_FPS = 30;
const CLIP_SECONDS = 20;
const CLIP_FILE = path.join(CACHE_DIR, `clip-${CLIP_WIDTH}x${CLIP_HEIGHT}-${CLIP_FPS}fps-1M-v1.flv`);

// testsrc2 alone compresses to almost nothing; temporal noise gives every frame real detail to code, so
// x264 actually spends its ~1 Mbit/s. A fixed GOP (no scene cuts) keeps keyframes every 2 s across loops.
const FFMPEG_ARGS = [
  '-f',
  'lavfi',
  '-i',
  `testsrc2=size=${CLIP_WIDTH}x${CLIP_HEIGHT}:rate=${CLIP_FPS},noise=alls=12:allf=t`,
  '-t',
  String(CLIP_SECONDS),
  '-an',
  '-c:v',
  'libx264',
  '-preset',
  'veryfast',
  '-tune',
  'zerolatency',
  '-g',
  '60',
  '-keyint_min',
  '60',
  '-sc_threshold',
  '0',
  '-bf',
  '0',
  '-b:v',
  '1M',
  '-maxrate',
  '1M',
  '-bufsize',
  '500k',
  '-pix_fmt',
  'yuv420p',
  '-f',
  'flv',
];

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
export function ensureClip(): string {
  return ensureCached(CLIP_FILE, FFMPEG_ARGS, 'the bench clip', 120_000);
}

/** Reads the cached clip into frames (both forms), once per process. */
export function loadClip(file: string): Clip {
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
      codedWidth: CLIP_WIDTH,
      codedHeight: CLIP_HEIGHT,
    },
    frames,
    kbps: (bytes * 8 * CLIP_FPS) / frames.length / 1000,
    keyframes: frames.filter((f) => f.key).length,
  };
}
