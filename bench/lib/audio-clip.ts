import { readFileSync } from 'node:fs';
import path from 'node:path';
import { OPUS_SAMPLE_RATE, opusPacketSamples } from '../../src/media/opus.js';
import { type AudioConfig, audioLevelByte } from '../../src/protocol/index.js';
import { readOggOpus } from './audio-ogg.js';
import { CACHE_DIR, ensureCached } from './clip.js';

/** One audio frame every 20 ms (what the web app's encoder is set to, web/src/audio-sender.ts). */
export const AUDIO_FRAME_MS = 20;
/** Audio frames per second, for a pacer. */
export const AUDIO_FPS = 1000 / AUDIO_FRAME_MS;
export const AUDIO_SAMPLE_RATE = 48_000;
const AUDIO_KBPS = 32;
const AUDIO_SECONDS = 10;
const AUDIO_FILE = path.join(CACHE_DIR, `audio-48k-mono-${AUDIO_KBPS}k-${AUDIO_FRAME_MS}ms-v1.ogg`);

// A 220 Hz tone whose loudness swings 3 times a second, plus a little noise: a pure sine makes libopus's
// VBR spend ~45 kbit/s, this lands at the ~30 kbit/s of speech at the 32 kbit/s target. The envelope
// constants also give each packet's level byte (see levelOf).
const TONE_PEAK = 0.3;
const SWING_HZ = 3;
const SWING_DEPTH = 0.4;
const NOISE = 0.05;
const SIGNAL = `${TONE_PEAK}*sin(2*PI*220*t)*(${1 - SWING_DEPTH}+${SWING_DEPTH}*sin(2*PI*${SWING_HZ}*t))+${NOISE}*(random(0)-0.5)`;

const FFMPEG_ARGS = [
  '-f',
  'lavfi',
  '-i',
  `aevalsrc=${SIGNAL}:s=${AUDIO_SAMPLE_RATE}:d=${AUDIO_SECONDS}`,
  '-ac',
  '1',
  '-c:a',
  'libopus',
  '-b:a',
  `${AUDIO_KBPS}k`,
  '-frame_duration',
  String(AUDIO_FRAME_MS),
  '-application',
  'voip',
  '-f',
  'ogg',
];

/** One audio frame of the clip. */
export interface AudioClipFrame {
  data: Uint8Array;
  /** RFC 6464 level byte of the frame (voice flag set: the clip is continuous "speech"). */
  level: number;
}

/** The parsed audio clip. */
export interface AudioClip {
  file: string;
  /** What a Framewire publisher announces as its audio track. */
  config: AudioConfig;
  frames: AudioClipFrame[];
  meanBytes: number;
  /** Mean bitrate of the packets, kbit/s. */
  kbps: number;
  /** Where the packets came from: real Opus out of libopus. */
  source: 'libopus';
}

/** Thrown when the clip cannot be made or read; `code` is stable. */
export class AudioClipError extends Error {
  readonly code = 'BENCH_AUDIO_CLIP';
}

/** Makes the Ogg Opus clip with ffmpeg unless it is cached; returns its path. */
export function ensureAudioClip(): string {
  try {
    return ensureCached(AUDIO_FILE, FFMPEG_ARGS, 'the bench audio (it needs libopus)', 60_000);
  } catch (err) {
    throw new AudioClipError(err instanceof Error ? err.message : String(err));
  }
}

/** Reads the cached clip; checks it is mono 48 kHz Opus in 20 ms packets, as the pacing assumes. */
export function loadAudioClip(file: string): AudioClip {
  const opus = readOggOpus(readFileSync(file));
  const bad = (why: string) =>
    new AudioClipError(`bench audio ${file}: ${why}; delete it to have it made again`);
  if (opus.channels !== 1) throw bad(`${opus.channels} channels, expected 1`);
  if (opus.packets.length < AUDIO_FPS) throw bad(`only ${opus.packets.length} packets`);
  const wrong = opus.packets.findIndex(
    (p) => opusPacketSamples(p) !== (OPUS_SAMPLE_RATE * AUDIO_FRAME_MS) / 1000,
  );
  if (wrong >= 0) throw bad(`packet ${wrong} is not ${AUDIO_FRAME_MS} ms`);
  const frames = opus.packets.map((data, i) => ({ data, level: levelOf(i) }));
  const bytes = frames.reduce((n, f) => n + f.data.length, 0);
  return {
    file,
    config: { codec: 'opus', sampleRate: AUDIO_SAMPLE_RATE, numberOfChannels: 1 },
    frames,
    meanBytes: bytes / frames.length,
    kbps: (bytes * 8 * AUDIO_FPS) / frames.length / 1000,
    source: 'libopus',
  };
}

/** The level byte of packet i: the signal's envelope peak over its 20 ms, from the generator's constants. */
function levelOf(i: number): number {
  let peak = 0;
  for (let k = 0; k <= 4; k++) {
    const t = (i * AUDIO_FRAME_MS + (k * AUDIO_FRAME_MS) / 4) / 1000;
    const env = TONE_PEAK * (1 - SWING_DEPTH + SWING_DEPTH * Math.sin(2 * Math.PI * SWING_HZ * t));
    peak = Math.max(peak, env + NOISE / 2);
  }
  return audioLevelByte(peak, true);
}
