import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { Collector } from './collector.js';
import type { NodeViewer } from './node-viewer.js';
import type { PacedPublisher } from './pacing.js';
import { clkTck, cpuMicros, sumOver } from './proc.js';
import { quantile, round } from './stats.js';

/** Latency of one group of viewers (on the publisher's worker, or a link away), ms. */
export interface GroupLatency {
  viewers: number;
  p50: number;
  p99: number;
}

/** What one step (N viewers watching for one window) measured. */
export interface StepResult {
  viewers: number;
  /** Every viewer had a frame in time and under 0.1 % of the window's frames were dropped. */
  ok: boolean;
  error?: string;
  droppedPercent: number;
  /** Server CPU summed over its processes, % of one core. */
  serverCpuPercent: number;
  cpuUsPerViewerSecond: number;
  /** Viewers on the publisher's worker (all of them with one process) and on the other worker. */
  same: GroupLatency;
  other: GroupLatency;
  loadCpuPercent: number;
  /**
   * CPU the rest of the machine used over the window (busy time of all cores, less the server's and the
   * load's), % of one core: the machine is shared, and this shows how much of it was not ours.
   */
  othersCpuPercent: number;
  /** The publisher's worst lateness so far (the run's, not the step's): the load process stalling. */
  publisherMaxSlipMs: number;
}

/** The bar a step must clear to count as carried at full rate. */
export const MAX_DROPPED_PERCENT = 0.1;

/** Timing of one step; each bound keeps a step under ~20 s. */
export interface StepTiming {
  readyTimeoutMs: number;
  warmupS: number;
  windowS: number;
  graceS: number;
}

/** Polls `done` every 20 ms until it holds or `timeoutMs` passes; false then. */
async function within(done: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = performance.now() + timeoutMs;
  while (!done()) {
    if (performance.now() > deadline) return false;
    await sleep(20);
  }
  return true;
}

/** Busy CPU time of the whole machine so far (all cores, all processes), µs, from /proc/stat. */
function machineBusyMicros(): number {
  const [, ...fields] = (readFileSync('/proc/stat', 'utf8').split('\n', 1)[0] ?? '').trim().split(/\s+/);
  // user nice system idle iowait irq softirq steal: all but idle and iowait is busy.
  const t = fields.slice(0, 8).map(Number);
  const busy = t.reduce((a, b) => a + b, 0) - (t[3] ?? 0) - (t[4] ?? 0);
  return (busy * 1e6) / clkTck();
}

function group(c: Collector, viewers: number): GroupLatency {
  const lat = c.latencies.sorted();
  return { viewers, p50: round(quantile(lat, 0.5), 2), p99: round(quantile(lat, 0.99), 2) };
}

/**
 * Measures `viewers` (all already connected) over one window: frames sent in it that each viewer got, the
 * server's CPU over it, and latency split by whether a viewer's node is the publisher's.
 */
export async function measureStep(
  viewers: readonly NodeViewer[],
  publisher: PacedPublisher,
  publisherNode: string,
  serverPids: readonly number[],
  timing: StepTiming,
): Promise<StepResult> {
  const n = viewers.length;
  const ready = await within(
    () => viewers.every((v) => v.seen > 0 || v.failure !== null),
    timing.readyTimeoutMs,
  );
  const failures = viewers.filter((v) => v.failure !== null || v.seen === 0);
  const failed = failures.length;
  const why = failures.find((v) => v.failure !== null)?.failure ?? 'no frame yet';
  await sleep(timing.warmupS * 1000);
  // Samples bounded by what the window can bring (the 30 fps clip), twice over.
  const capacity = Math.ceil(n * 30 * timing.windowS * 2) + 1000;
  const same = new Collector(capacity);
  const other = new Collector(capacity);
  let sameCount = 0;
  for (const v of viewers) {
    const mine = v.node === publisherNode;
    if (mine) sameCount++;
    v.countInto(mine ? same : other, publisher);
  }
  const cpu0 = sumOver(serverPids, cpuMicros);
  const busy0 = machineBusyMicros();
  const load0 = process.cpuUsage();
  const t0 = performance.now();
  same.startWindow(t0);
  other.startWindow(t0);
  await sleep(timing.windowS * 1000);
  const t1 = performance.now();
  same.endWindow(t1);
  other.endWindow(t1);
  const cpu1 = sumOver(serverPids, cpuMicros);
  const busy1 = machineBusyMicros();
  const load = process.cpuUsage(load0);
  // Frames of the window may still be on their way: the grace is theirs, then the rest count as dropped.
  await sleep(timing.graceS * 1000);
  same.close();
  other.close();
  const seconds = (t1 - t0) / 1000;
  const expected = publisher.sentBetween(t0, t1);
  let dropped = 0;
  for (const t of [...same.tallies, ...other.tallies]) dropped += Math.max(0, expected - t.frames);
  const droppedPercent = round((dropped / Math.max(1, expected * n)) * 100, 3);
  const serverUs = cpu1 - cpu0;
  const loadUs = load.user + load.system;
  const percent = (us: number) => round((us / (seconds * 1e6)) * 100, 1);
  const ok = ready && failed === 0 && droppedPercent < MAX_DROPPED_PERCENT;
  return {
    viewers: n,
    ok,
    ...(ready && failed === 0
      ? {}
      : { error: `${failed} of ${n} viewers had no frame or failed (one: ${why})` }),
    droppedPercent,
    serverCpuPercent: percent(serverUs),
    cpuUsPerViewerSecond: round(serverUs / (n * seconds), 1),
    same: group(same, sameCount),
    other: group(other, n - sameCount),
    loadCpuPercent: percent(loadUs),
    othersCpuPercent: percent(Math.max(0, busy1 - busy0 - serverUs - loadUs)),
    publisherMaxSlipMs: round(publisher.maxSlipMs, 1),
  };
}
