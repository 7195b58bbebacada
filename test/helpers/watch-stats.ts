import type { ChildProcess } from 'node:child_process';

/** One `framewire watch --stats` line, parsed, with when it was read (ms, Date.now()). */
export interface StatsLine {
  at: number;
  stream: string;
  fps: number;
  kbps: number;
  /** The second's median latency, ms; null when no frame arrived. */
  latencyMs: number | null;
  drops: number;
  /** Of the drops, frames that arrived but were discarded as too old. */
  tooOld: number;
  caughtUp: number;
  /** The link's state when not live, as printed (`draining`, `link too slow: keyframes only`); '' when live. */
  link: string;
}

const LINE =
  /^(\S+): ([\d.]+) fps, (\d+) kbit\/s, latency (\d+|-) ms, drops (\d+)(?: \((\d+) too old\))?(?:, caught up (\d+) cached frames)?(?:, (.+))?$/;

/** One `ROOM/NAME audio: ...` line of `watch --stats` (a stream with sound), parsed. */
export interface AudioStatsLine {
  at: number;
  stream: string;
  kbps: number;
  framesPerSec: number;
  /** Runs of audio frames missing from the sequence, and the frames in them. */
  gaps: number;
  gapFrames: number;
}

const AUDIO_LINE =
  /^(\S+) audio: (\d+) kbit\/s, ([\d.]+) frames\/s, latency (?:\d+|-) ms, gaps (\d+) \((\d+) frames\), A\/V offset (?:[+-]?\d+|-) ms(?:, .+)?$/;

/** Parses one --stats audio line; null for anything else. */
export function parseAudioStatsLine(text: string, at: number): AudioStatsLine | null {
  const m = AUDIO_LINE.exec(text);
  if (!m) return null;
  return {
    at,
    stream: m[1] as string,
    kbps: Number(m[2]),
    framesPerSec: Number(m[3]),
    gaps: Number(m[4]),
    gapFrames: Number(m[5]),
  };
}

/** Parses one --stats line; null for anything else. */
export function parseStatsLine(text: string, at: number): StatsLine | null {
  const m = LINE.exec(text);
  if (!m) return null;
  return {
    at,
    stream: m[1] as string,
    fps: Number(m[2]),
    kbps: Number(m[3]),
    latencyMs: m[4] === '-' ? null : Number(m[4]),
    drops: Number(m[5]),
    tooOld: Number(m[6] ?? 0),
    caughtUp: Number(m[7] ?? 0),
    link: m[8] ?? '',
  };
}

/** Collects the --stats lines of a running `framewire watch --stats` child (stdout piped) as they come. */
export function watchStats(child: ChildProcess): {
  lines: StatsLine[];
  /** The audio lines of streams with sound. */
  audio: AudioStatsLine[];
  /** Lines on stdout that are not stats lines (there should be none). */
  other: string[];
  stderr: () => string;
} {
  const lines: StatsLine[] = [];
  const audio: AudioStatsLine[] = [];
  const other: string[] = [];
  let stderr = '';
  let partial = '';
  child.stdout?.setEncoding('utf8').on('data', (s: string) => {
    const at = Date.now();
    const parts = (partial + s).split('\n');
    partial = parts.pop() ?? '';
    for (const text of parts) {
      const line = parseStatsLine(text, at);
      const sound = line ? null : parseAudioStatsLine(text, at);
      if (line) lines.push(line);
      else if (sound) audio.push(sound);
      else other.push(text);
    }
  });
  child.stderr?.setEncoding('utf8').on('data', (s: string) => {
    stderr += s;
  });
  return { lines, audio, other, stderr: () => stderr };
}
