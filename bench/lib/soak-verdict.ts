import type { GroupMinute } from './latency-groups.js';
import type { MemoryMinute, MemoryTrend } from './soak-memory.js';
import type { ProcessMinute } from './soak-meter.js';

/** The viewer groups of the soak. */
export type SoakGroup = 'healthy' | 'shaped';

/** Everything the soak records for one minute (with the CPU and event-loop figures of ProcessMinute). */
export interface SoakMinute extends ProcessMinute {
  /** 1 for the first minute of the run. */
  minute: number;
  /** Seconds into the run at which the minute ended (the last one may be short). */
  endS: number;
  groups: Record<SoakGroup, GroupMinute>;
  /** Seconds the shaped viewer spent in each link state the relay told it (live, draining, keyframes-only). */
  shapedLink: Record<string, number>;
  rssMb: number;
  fds: number;
  /** The server's memory over the minute: RSS's peak, the main heap's and each ingest worker's floor. */
  memory: MemoryMinute;
  /** The most healthy viewers and publishers online at once during the minute (sampled every second). */
  viewersOnline: number;
  publishersOnline: number;
}

/** One pass condition, its outcome and the figures behind it. */
export interface SoakCheck {
  name: string;
  pass: boolean;
  detail: string;
}

/** The bounds the soak is judged by. */
export interface SoakBounds {
  /** How far the healthy p99 of the last minute may be from the first minute's. */
  healthyDriftMs: number;
  /** The shaped viewer's per-minute p99 may not exceed this after the first minute. */
  shapedP99Ms: number;
}

/**
 * The soak's pass conditions: the healthy viewers' p99 in the last minute within `healthyDriftMs` of the
 * first minute's (latency stays flat), the shaped viewer's p99 within its bound in every minute after the
 * first (which holds its join), and no gap in any sequence that did not end on a keyframe.
 */
export function judgeSoak(
  minutes: readonly SoakMinute[],
  bounds: SoakBounds,
  violations: number,
): SoakCheck[] {
  const first = minutes[0]?.groups.healthy.p99Ms ?? null;
  const lastMinute = minutes[minutes.length - 1];
  const last = lastMinute?.groups.healthy.p99Ms ?? null;
  const drift = first !== null && last !== null ? last - first : null;
  const healthy: SoakCheck = {
    name: 'healthy p99 flat',
    pass: drift !== null && Math.abs(drift) <= bounds.healthyDriftMs,
    detail:
      drift === null
        ? 'no healthy latency measured in the first or the last minute'
        : `minute 1 p99 ${first} ms, minute ${lastMinute?.minute} p99 ${last} ms: ${drift >= 0 ? '+' : ''}${drift} ms (bound ±${bounds.healthyDriftMs} ms)`,
  };
  const judged = minutes.slice(1);
  const over = judged.filter(
    (m) => m.groups.shaped.p99Ms === null || m.groups.shaped.p99Ms > bounds.shapedP99Ms,
  );
  const worst = Math.max(...judged.map((m) => m.groups.shaped.p99Ms ?? Number.POSITIVE_INFINITY));
  const shaped: SoakCheck = {
    name: 'shaped p99 bounded',
    pass: judged.length > 0 && over.length === 0,
    detail:
      judged.length === 0
        ? 'the run has no minute after the first to judge'
        : over.length === 0
          ? `worst minute p99 ${worst} ms over minutes 2-${lastMinute?.minute} (bound ${bounds.shapedP99Ms} ms)`
          : `over ${bounds.shapedP99Ms} ms (or no frame) in minute ${over.map((m) => `${m.minute} (${m.groups.shaped.p99Ms ?? 'none'})`).join(', ')}`,
  };
  const gaps: SoakCheck = {
    name: 'gaps end on keyframes',
    pass: violations === 0,
    detail: `${violations} gaps in a stream's sequence not ending on a keyframe`,
  };
  return [healthy, shaped, gaps];
}

/**
 * The memory pass conditions: RSS, the main heap and every steady ingest worker each grow by at most
 * `boundKbPerMin` over the second half of the run (the slope of their per-minute figures). A series with
 * too few minutes to fit a line fails: the run was too short to say.
 */
export function judgeMemory(trends: readonly MemoryTrend[], boundKbPerMin: number): SoakCheck[] {
  const show = (t: MemoryTrend) =>
    t.slopeKbPerMin === null
      ? `${t.name} -`
      : `${t.name} ${t.slopeKbPerMin >= 0 ? '+' : ''}${t.slopeKbPerMin}`;
  const flat = (t: MemoryTrend) => t.slopeKbPerMin !== null && t.slopeKbPerMin <= boundKbPerMin;
  const span = (t: MemoryTrend | undefined) => (t ? `minutes ${t.from}-${t.to}` : 'no minutes');
  const check = (name: string, group: readonly MemoryTrend[], none: string): SoakCheck => ({
    name,
    pass: group.every(flat),
    detail:
      group.length === 0
        ? none
        : `${group.map(show).join(', ')} KB/min over ${span(group[0])} (bound ${boundKbPerMin} KB/min)`,
  });
  const workers = trends.filter((t) => t.name.startsWith('worker '));
  return [
    check(
      'RSS flat',
      trends.filter((t) => t.name === 'RSS'),
      'RSS was not measured',
    ),
    check(
      'main heap flat',
      trends.filter((t) => t.name === 'main heap'),
      'the main heap was not measured',
    ),
    check('ingest workers flat', workers, 'no steady pushed publisher to judge'),
  ];
}
