// `npm run bench:workers` (issue 15): one process (`serve`) against `serve --workers N` on this machine. One
// publisher sends the bench clip; viewers are added in steps until a step drops 0.1 % or more. Per step it
// reports server CPU (primary + workers + nats-server) and latency of viewers on the publisher's worker
// against those one inter-worker link away. Writes bench/results/workers.json and prints a markdown summary.
// Flags: --runs R, --workers N, --steps a,b,c, --window S, --warmup S.

import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { FramewireTarget } from './framewire/target.js';
import { type Clip, ensureClip, loadClip } from './lib/clip.js';
import { Collector } from './lib/collector.js';
import { NodeViewer } from './lib/node-viewer.js';
import { PacedPublisher } from './lib/pacing.js';
import { machineInfo } from './lib/proc.js';
import { median, round } from './lib/stats.js';
import { BENCH_ROOM, type LoadContext, streamName } from './lib/target.js';
import { startWorkersServer } from './lib/workers-server.js';
import { measureStep, type StepResult, type StepTiming } from './lib/workers-step.js';

const BENCH_DIR = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.dirname(BENCH_DIR);
const RESULTS_DIR = path.join(BENCH_DIR, 'results');
const SERVER_LOG = path.join(RESULTS_DIR, 'workers-server.log');
/** Viewers connecting at once, as in load.ts: quick, without storming accept(). */
const CONNECT_BATCH = 50;
const TIMEOUT_MS = 8000;
/** The step both configurations are compared at for CPU per viewer and for the hop's latency. */
const REFERENCE_VIEWERS = 1000;

/** One configuration's run: the steps it passed, and the first it failed (if any). */
interface ConfigRun {
  workers: number;
  run: number;
  loadAverage: number[];
  /** The most viewers carried at full rate; 0 if the first step failed. */
  carried: number;
  steps: StepResult[];
}

function options() {
  const { values } = parseArgs({
    options: {
      runs: { type: 'string', default: '3' },
      workers: { type: 'string', default: '2' },
      steps: { type: 'string', default: '250,500,1000,1500,2000,2500,3000,3500,4000,5000' },
      window: { type: 'string', default: '6' },
      warmup: { type: 'string', default: '2' },
    },
  });
  const num = (v: string, flag: string, max: number) => {
    const n = Number(v);
    if (!(n > 0 && n <= max)) throw new Error(`--${flag} must be a number in (0, ${max}]`);
    return n;
  };
  const steps = values.steps.split(',').map((s) => Math.round(num(s, 'steps', 10_000)));
  // Bounded: at most 10 steps, each ~20 s at most, so one configuration stays within a few minutes.
  if (steps.length > 10) throw new Error('--steps: at most 10 steps');
  return {
    runs: Math.round(num(values.runs, 'runs', 10)),
    workers: Math.round(num(values.workers, 'workers', 8)),
    steps: [...steps].sort((a, b) => a - b),
    timing: {
      readyTimeoutMs: TIMEOUT_MS,
      warmupS: num(values.warmup, 'warmup', 10),
      windowS: num(values.window, 'window', 15),
      graceS: 1,
    } satisfies StepTiming,
  };
}

/** GET /api/cluster once, on a fresh connection (so the primary may hand it to either worker). */
function clusterStats(
  httpPort: number,
): Promise<{ remote?: { room: string; name: string; origin: string }[] }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port: httpPort, path: '/api/cluster', agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (s: string) => {
        body += s;
      });
      res.on('end', () => {
        try {
          resolve(JSON.parse(body));
        } catch (err) {
          reject(err);
        }
      });
    });
    req.setTimeout(2000, () => req.destroy(new Error('/api/cluster: no answer in 2 s')));
    req.on('error', reject);
  });
}

/**
 * The publisher's node: the bench link cannot say which worker took its connection, but a worker carrying the
 * stream over a link names its origin in /api/cluster. Asked up to 20 times, as either worker may answer.
 */
async function originNode(httpPort: number): Promise<string> {
  for (let i = 0; i < 20; i++) {
    const stats = await clusterStats(httpPort);
    const pulled = stats.remote?.find((r) => r.room === BENCH_ROOM && r.name === streamName(0));
    if (pulled) return pulled.origin;
    await sleep(100);
  }
  throw new Error('no worker reported the stream as pulled from another: cannot tell the publisher’s node');
}

/** Steps one configuration up from the first step until one fails; the server and every client end with it. */
async function runConfig(workers: number, run: number, clip: Clip, opts: ReturnType<typeof options>) {
  const workDir = mkdtempSync(path.join(os.tmpdir(), 'framewire-workers-bench-'));
  const server = await startWorkersServer({
    repo: REPO,
    workDir,
    logFile: SERVER_LOG,
    workers,
    timeoutMs: 20_000,
  });
  const viewers: NodeViewer[] = [];
  const result: ConfigRun = {
    workers,
    run,
    loadAverage: os.loadavg().map((l) => round(l, 2)),
    carried: 0,
    steps: [],
  };
  const ctx: LoadContext = {
    clip,
    endpoints: { port: server.tcpPort, httpPort: server.httpPort },
    collector: new Collector(0),
    pacers: [],
    audio: null,
    audioPacers: [],
    timeoutMs: TIMEOUT_MS,
  };
  const handle = await new FramewireTarget('tcp', ctx).openPublisher(0).catch(async (err: Error) => {
    await server.stop();
    throw err;
  });
  // Bounded: enough frames for every step at its longest (~30 s each).
  const publisher = new PacedPublisher(
    handle.output,
    clip.frames,
    clip.fps,
    opts.steps.length * 30 * clip.fps,
  );
  // Ctrl-C stops the server under test (its workers and nats-server go with its primary) before exiting.
  const interrupted = () => {
    void server.stop().finally(() => process.exit(130));
  };
  process.once('SIGINT', interrupted);
  process.once('SIGTERM', interrupted);
  try {
    publisher.start(0);
    let publisherNode = '';
    for (const n of opts.steps) {
      process.stderr.write(`  ${workers === 1 ? 'serve' : `serve --workers ${workers}`}: ${n} viewers ...\n`);
      let step: StepResult;
      try {
        while (viewers.length < n) {
          const batch = Math.min(CONNECT_BATCH, n - viewers.length);
          const opened = await Promise.allSettled(
            Array.from({ length: batch }, () =>
              NodeViewer.open(server.tcpPort, BENCH_ROOM, streamName(0), TIMEOUT_MS),
            ),
          );
          // The ones that did open are kept, so that they are closed with the rest.
          for (const o of opened) if (o.status === 'fulfilled') viewers.push(o.value);
          const refused = opened.find((o) => o.status === 'rejected');
          if (refused) throw refused.reason;
        }
        if (workers > 1 && publisherNode === '') publisherNode = await originNode(server.httpPort);
        step = await measureStep(viewers, publisher, publisherNode, server.pids, opts.timing);
      } catch (err) {
        step = { viewers: n, ok: false, error: (err as Error).message } as StepResult;
      }
      result.steps.push(step);
      process.stderr.write(`    ${JSON.stringify(step)}\n`);
      if (!step.ok) break;
      result.carried = n;
    }
  } finally {
    process.off('SIGINT', interrupted);
    process.off('SIGTERM', interrupted);
    for (const v of viewers) v.close();
    publisher.stop();
    handle.close();
    await server.stop();
    rmSync(workDir, { recursive: true, force: true });
  }
  return result;
}

/** The step of `r` at `n` viewers, if it passed. */
function at(r: ConfigRun, n: number): StepResult | undefined {
  return r.steps.find((s) => s.viewers === n && s.ok);
}

/** The step that ended `r`'s climb, if one did. */
function failed(r: ConfigRun): StepResult | undefined {
  return r.steps.find((s) => !s.ok);
}

/** CPU the whole machine used over a step (server, load, the rest), % of one core. */
function busy(s: StepResult | undefined): number | undefined {
  return s ? s.serverCpuPercent + s.loadCpuPercent + s.othersCpuPercent : undefined;
}

const fmt = (v: number | undefined, digits = 1) =>
  v === undefined || Number.isNaN(v) ? '–' : v.toFixed(digits);
const med = (xs: (number | undefined)[]) => {
  const known = xs.filter((x): x is number => x !== undefined && Number.isFinite(x));
  return known.length > 0 ? median(known) : undefined;
};

/** The markdown summary: per run, then medians over runs; ratios are taken within a run, then the median. */
function summary(runs: ConfigRun[], workers: number): string {
  const pairs = [...new Set(runs.map((r) => r.run))].map((k) => {
    const one = runs.find((r) => r.run === k && r.workers === 1) as ConfigRun;
    const many = runs.find((r) => r.run === k && r.workers === workers) as ConfigRun;
    const ref1 = at(one, REFERENCE_VIEWERS);
    const refN = at(many, REFERENCE_VIEWERS);
    return {
      run: k,
      load: one.loadAverage[0],
      carried1: one.carried,
      carriedN: many.carried,
      carriedRatio: one.carried > 0 ? many.carried / one.carried : undefined,
      cpu1: ref1?.cpuUsPerViewerSecond,
      cpuN: refN?.cpuUsPerViewerSecond,
      cpuRatio: ref1 && refN ? refN.cpuUsPerViewerSecond / ref1.cpuUsPerViewerSecond : undefined,
      sameP50: refN?.same.p50,
      otherP50: refN?.other.p50,
      hopP50: refN ? refN.other.p50 - refN.same.p50 : undefined,
      sameP99: refN?.same.p99,
      otherP99: refN?.other.p99,
      hopP99: refN ? refN.other.p99 - refN.same.p99 : undefined,
      oneP50: ref1?.same.p50,
      busyFail1: busy(failed(one)),
      othersFail1: failed(one)?.othersCpuPercent,
      busyFailN: busy(failed(many)),
      othersFailN: failed(many)?.othersCpuPercent,
      others1: ref1?.othersCpuPercent,
      othersN: refN?.othersCpuPercent,
      load1: ref1?.loadCpuPercent,
      loadN: refN?.loadCpuPercent,
    };
  });
  type Pair = (typeof pairs)[number];
  const cols: [string, (p: Pair) => number | undefined, number][] = [
    ['load avg (1 min)', (p) => p.load, 2],
    ['carried, 1 process', (p) => p.carried1, 0],
    [`carried, ${workers} workers`, (p) => p.carriedN, 0],
    ['carried ratio', (p) => p.carriedRatio, 2],
    [`CPU µs/viewer-s @${REFERENCE_VIEWERS}, 1 process`, (p) => p.cpu1, 1],
    [`CPU µs/viewer-s @${REFERENCE_VIEWERS}, ${workers} workers`, (p) => p.cpuN, 1],
    ['CPU ratio (workers / 1)', (p) => p.cpuRatio, 2],
    [`p50 ms @${REFERENCE_VIEWERS}, 1 process`, (p) => p.oneP50, 2],
    ["p50 ms, publisher's worker", (p) => p.sameP50, 2],
    ['p50 ms, other worker', (p) => p.otherP50, 2],
    ['hop p50 ms', (p) => p.hopP50, 2],
    ["p99 ms, publisher's worker", (p) => p.sameP99, 2],
    ['p99 ms, other worker', (p) => p.otherP99, 2],
    ['hop p99 ms', (p) => p.hopP99, 2],
    ['at the failed step, machine CPU % (of 200), 1 process', (p) => p.busyFail1, 0],
    ["at the failed step, others' share of it, 1 process", (p) => p.othersFail1, 0],
    [`at the failed step, machine CPU % (of 200), ${workers} workers`, (p) => p.busyFailN, 0],
    [`at the failed step, others' share of it, ${workers} workers`, (p) => p.othersFailN, 0],
    [`others' CPU % @${REFERENCE_VIEWERS}, 1 process`, (p) => p.others1, 0],
    [`others' CPU % @${REFERENCE_VIEWERS}, ${workers} workers`, (p) => p.othersN, 0],
    [`load process CPU % @${REFERENCE_VIEWERS}, 1 process`, (p) => p.load1, 0],
    [`load process CPU % @${REFERENCE_VIEWERS}, ${workers} workers`, (p) => p.loadN, 0],
  ];
  const head = `| | ${pairs.map((p) => `run ${p.run}`).join(' | ')} | median |`;
  const rule = `|---|${pairs.map(() => '---:').join('|')}|---:|`;
  const rows = cols.map(
    ([name, get, d]) =>
      `| ${name} | ${pairs.map((p) => fmt(get(p), d)).join(' | ')} | ${fmt(med(pairs.map(get)), d)} |`,
  );
  // A configuration that passed every step carried at least that many: its figure is a floor, not a limit.
  const floors = runs.filter((r) => r.steps.length > 0 && r.steps.every((s) => s.ok));
  const note = floors.map(
    (r) => `\nRun ${r.run}, ${r.workers} worker(s): every step passed, so ${r.carried} is a floor.`,
  );
  return [head, rule, ...rows, ...note].join('\n');
}

async function main(): Promise<void> {
  const opts = options();
  mkdirSync(RESULTS_DIR, { recursive: true });
  writeFileSync(SERVER_LOG, '');
  const clip = loadClip(ensureClip());
  const machine = machineInfo();
  console.log(`framewire workers bench: ${machine.cpuModel}, ${machine.cores} cores, node ${machine.node}`);
  const runs: ConfigRun[] = [];
  for (let run = 1; run <= opts.runs; run++) {
    // Both configurations back to back in each run, so a same-run ratio sees the same machine weather.
    for (const workers of [1, opts.workers]) {
      process.stderr.write(`run ${run}, ${workers === 1 ? 'one process' : `${workers} workers`}\n`);
      runs.push(await runConfig(workers, run, clip, opts));
    }
  }
  const table = summary(runs, opts.workers);
  const file = path.join(RESULTS_DIR, 'workers.json');
  writeFileSync(file, `${JSON.stringify({ machine, settings: opts, runs, table }, null, 2)}\n`);
  console.log(`\n${table}\n\nwrote ${path.relative(REPO, file)}`);
}

main().catch((err) => {
  console.error(`bench:workers: ${err instanceof Error ? err.message : String(err)}`);
  process.exitCode = 1;
});
