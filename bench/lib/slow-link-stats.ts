import { quantile, round } from './stats.js';

/** One line the slow-link viewer prints a second. */
export interface SlowLinkSecond {
  /** Ms since the viewer started (its own monotonic clock). */
  t: number;
  /**
   * Frames that arrived since the last line: [arrival ms since start, media timestamp ms, key 1/0, bytes,
   * arrival epoch ms].
   */
  frames: ViewerFrame[];
  /** Frames not kept because the line was full (a bound that should never be reached). */
  dropped: number;
  /** Why the viewer's connection ended early, if it did. */
  failure: string | null;
}

/** [arrival ms since the viewer started, media timestamp ms, key 1/0, payload bytes, arrival epoch ms]. */
export type ViewerFrame = [number, number, number, number, number];

/** A frame the viewer received, with its delay behind the stream. */
export interface DelayedFrame {
  /** Arrival, s since the viewer started. */
  atS: number;
  /** (arrival − first arrival) − (media timestamp − first media timestamp), ms. */
  delayMs: number;
  /** Arrival minus the publisher's send of the same frame, both on the machine's wall clock, ms (null: unknown). */
  lagMs: number | null;
  mediaMs: number;
  key: boolean;
  bytes: number;
}

/** Delay p50/max and fps of one window of the run. */
export interface SlowLinkWindow {
  fromS: number;
  toS: number;
  frames: number;
  fps: number;
  delayP50Ms: number | null;
  delayMaxMs: number | null;
  lagP50Ms: number | null;
}

/** The run after its first seconds. */
export interface SlowLinkSummary {
  fromS: number;
  frames: number;
  keyframes: number;
  meanFps: number;
  kbps: number;
  delayP50Ms: number | null;
  delayP95Ms: number | null;
  delayMaxMs: number | null;
  lagP50Ms: number | null;
  lagP95Ms: number | null;
  lagMaxMs: number | null;
}

/**
 * Each frame's delay behind the stream since the viewer's first frame: how much more wall time has passed
 * at its arrival than media time between the two. 0 for the first frame; growing when the viewer falls
 * behind; it falls again only when frames are skipped.
 */
export function delays(
  frames: readonly ViewerFrame[],
  sentAtEpochMs: (mediaMs: number) => number | null,
): DelayedFrame[] {
  const first = frames[0];
  if (!first) return [];
  const [t0, m0] = first;
  return frames.map(([t, m, key, bytes, wall]) => {
    const sent = sentAtEpochMs(m);
    return {
      atS: t / 1000,
      delayMs: t - t0 - (m - m0),
      lagMs: sent === null ? null : wall - sent,
      mediaMs: m,
      key: key === 1,
      bytes,
    };
  });
}

const rounded = (sorted: number[], q: number): number | null =>
  sorted.length ? round(quantile(sorted, q), 0) : null;

/** The known lags of `frames`, ascending. */
const lags = (frames: readonly DelayedFrame[]): number[] =>
  frames
    .map((f) => f.lagMs)
    .filter((v): v is number => v !== null)
    .sort((a, b) => a - b);

/** Per-window (`windowS` seconds of the viewer's clock) delay p50/max and fps over `durationS`. */
export function windows(
  frames: readonly DelayedFrame[],
  windowS: number,
  durationS: number,
): SlowLinkWindow[] {
  const out: SlowLinkWindow[] = [];
  for (let from = 0; from < durationS; from += windowS) {
    const to = Math.min(durationS, from + windowS);
    const inside = frames.filter((f) => f.atS >= from && f.atS < to);
    const d = inside.map((f) => f.delayMs).sort((a, b) => a - b);
    out.push({
      fromS: from,
      toS: to,
      frames: d.length,
      fps: round(d.length / (to - from), 1),
      delayP50Ms: rounded(d, 0.5),
      delayMaxMs: d.length ? round(d[d.length - 1] as number, 0) : null,
      lagP50Ms: rounded(lags(inside), 0.5),
    });
  }
  return out;
}

/** The whole run from `fromS` to `durationS`: delay p50/p95/max, mean fps and kbit/s received. */
export function summarize(
  frames: readonly DelayedFrame[],
  fromS: number,
  durationS: number,
): SlowLinkSummary {
  const kept = frames.filter((f) => f.atS >= fromS && f.atS < durationS);
  const d = kept.map((f) => f.delayMs).sort((a, b) => a - b);
  const seconds = durationS - fromS;
  const bytes = kept.reduce((n, f) => n + f.bytes, 0);
  const l = lags(kept);
  return {
    fromS,
    frames: kept.length,
    keyframes: kept.filter((f) => f.key).length,
    meanFps: round(kept.length / seconds, 1),
    kbps: round((bytes * 8) / seconds / 1000, 0),
    delayP50Ms: rounded(d, 0.5),
    delayP95Ms: rounded(d, 0.95),
    delayMaxMs: d.length ? round(d[d.length - 1] as number, 0) : null,
    lagP50Ms: rounded(l, 0.5),
    lagP95Ms: rounded(l, 0.95),
    lagMaxMs: l.length ? round(l[l.length - 1] as number, 0) : null,
  };
}
