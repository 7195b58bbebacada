// Soak: one server for a long run of churn, to see that latency stays flat, memory levels off and a slow
// viewer stays bounded. 5 publishers come and go (each lives 30–90 s) beside one steady publisher that stays;
// 100 viewers join and leave (each watches the room 5–40 s) beside 3 steady ones: together the `healthy`
// group. One `shaped` viewer watches the steady stream the whole run from a network namespace behind a
// 300 kbit/s link (less than the 1 Mbit/s stream). Per minute it prints and records each group's latency
// (capture to arrival) p50/p99, fps and drops, and the server's RSS and fds. It passes when the healthy p99
// of the last minute is within 5 ms of minute 1's, the shaped viewer's p99 stays within viewerQueueAgeMs
// plus one keyframe interval in every minute after the first, and every gap in a sequence ends on a
// keyframe. Writes bench/results/soak.json and the chart soak-latency.svg (also docs/img/, for the README).
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { DEFAULT_CONFIG } from '../src/server/ops/config.js';
import { createNetNs, type NetNs } from '../test/helpers/netns.js';
import { type FramewireServer, startFramewire } from './framewire/server.js';
import { CLIP_FPS, ensureClip, loadClip } from './lib/clip.js';
import { ViewerGroup } from './lib/latency-groups.js';
import { machineInfo, rssKb } from './lib/proc.js';
import { type ShapedViewerProcess, startShapedViewer } from './lib/shaped-viewer-process.js';
import { SoakLoad } from './lib/soak-load.js';
import { ProcessMeter } from './lib/soak-meter.js';
import { MINUTE_HEADER, minuteLine, soakChartSvg } from './lib/soak-report.js';
import { judgeSoak, type SoakMinute } from './lib/soak-verdict.js';
import { round } from './lib/stats.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const RESULTS = path.join(ROOT, 'bench', 'results');
// bench/results is git-ignored; the README shows the chart from here.
const DOCS_CHART = path.join(ROOT, 'docs', 'img', 'soak-latency.svg');
const ROOM = 'soak';
const STEADY = 'steady';
const { values } = parseArgs({
  options: {
    minutes: { type: 'string', default: '10' },
    publishers: { type: 'string', default: '5' },
    viewers: { type: 'string', default: '100' },
    'steady-viewers': { type: 'string', default: '3' },
    'shaped-kbit': { type: 'string', default: '300' },
  },
});
const MINUTES = Number(values.minutes);
const PUBLISHERS = Number(values.publishers);
const VIEWERS = Number(values.viewers);
const STEADY_VIEWERS = Number(values['steady-viewers']);
const SHAPED_KBIT = Number(values['shaped-kbit']);
/** The healthy p99 of the last minute may differ from minute 1's by this much. */
const HEALTHY_DRIFT_MS = 5;
const PUBLISH_TIMEOUT_MS = 15_000;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** RSS (MB) and open fds of the server now. */
function serverFigures(pid: number): { rssMb: number; fds: number } {
  let fds = 0;
  try {
    fds = readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    // the server is gone: 0 says so
  }
  return { rssMb: round((rssKb(pid) ?? 0) / 1024, 1), fds };
}

async function main(): Promise<boolean> {
  if (!(MINUTES > 0) || !(SHAPED_KBIT > 0))
    throw new Error('--minutes and --shaped-kbit must be positive numbers');
  const clip = loadClip(ensureClip());
  const keyframeIntervalMs = Math.round((clip.frames.length / clip.keyframes / CLIP_FPS) * 1000);
  // What the relay promises a slow viewer (docs/architecture.md, "Buffers we cannot see"): at most its age
  // bound behind, plus one keyframe interval before the picture resumes.
  const shapedBoundMs = DEFAULT_CONFIG.viewerQueueAgeMs + keyframeIntervalMs;
  mkdirSync(RESULTS, { recursive: true });

  // Everything started here is ended in cleanup(), by PID, also on Ctrl-C; the namespace goes last.
  let ns: NetNs | null = null;
  let server: FramewireServer | null = null;
  let shaped: ShapedViewerProcess | null = null;
  const timers: NodeJS.Timeout[] = [];
  const cleanup = async (): Promise<void> => {
    for (const t of timers) clearTimeout(t);
    await shaped?.stop();
    shaped = null;
    await server?.stop();
    server = null;
    ns?.close();
  };
  const onSignal = () => void cleanup().finally(() => process.exit(130));
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  try {
    ns = createNetNs();
    const srv = await startFramewire({
      repo: ROOT,
      host: ns.hostAddr,
      profileDir: null,
      workDir: path.join(RESULTS, 'soak-work'),
      logFile: path.join(RESULTS, 'soak-server.log'),
      timeoutMs: 15_000,
    });
    server = srv;
    ns.shape(SHAPED_KBIT);
    const started = Date.now();
    const until = started + MINUTES * 60_000;
    const healthy = new ViewerGroup('healthy');
    const shapedGroup = new ViewerGroup('shaped');
    const load = new SoakLoad({
      host: ns.hostAddr,
      port: srv.tcpPort,
      room: ROOM,
      steadyName: STEADY,
      clip,
      until,
      healthy,
    });
    console.log(
      `soak: ${MINUTES} min on ${ns.hostAddr}, server pid ${srv.pid}; healthy: ${VIEWERS} churning + ${STEADY_VIEWERS} steady viewers; ` +
        `publishers: 1 steady + ${PUBLISHERS} churning (clip ${Math.round(clip.kbps)} kbit/s, ${CLIP_FPS} fps, keyframe every ${keyframeIntervalMs} ms); ` +
        `shaped: 1 viewer of "${STEADY}" behind ${SHAPED_KBIT} kbit/s (bound ${shapedBoundMs} ms)`,
    );

    // The steady stream first: the shaped viewer subscribes to it by name.
    let published = () => {};
    const ready = new Promise<void>((resolve) => {
      published = resolve;
    });
    const steadyPublisher = load.steadyPublisher(() => published());
    const timeout = sleep(PUBLISH_TIMEOUT_MS).then(() => 'timeout' as const);
    if ((await Promise.race([ready, timeout])) === 'timeout') {
      throw new Error(
        `the steady stream was not published within ${PUBLISH_TIMEOUT_MS} ms: ${load.errorMessages.join('; ')}`,
      );
    }

    let shapedLink: Record<string, number> = {};
    const shapedTotals = {
      violations: 0,
      reconnects: 0,
      catchUpFrames: 0,
      lastFailure: null as string | null,
    };
    shaped = startShapedViewer(
      ns,
      {
        repo: ROOT,
        host: ns.hostAddr,
        port: srv.tcpPort,
        room: ROOM,
        name: STEADY,
        seconds: (until - Date.now()) / 1000 + 30,
      },
      (s) => {
        for (const ms of s.latencies) shapedGroup.frame(ms);
        shapedGroup.drops(s.drops, false);
        shapedGroup.drops(s.joinDrops, true);
        if (s.watching) shapedGroup.watched(s.frames, s.seconds);
        shapedLink[s.link] = round((shapedLink[s.link] ?? 0) + s.seconds, 1);
        shapedTotals.violations += s.violations;
        shapedTotals.catchUpFrames += s.catchUp;
        shapedTotals.reconnects = s.reconnects;
        shapedTotals.lastFailure = s.failure;
      },
    );
    console.log(`shaped viewer pid ${shaped.pid} in namespace ${ns.name}; first figures after minute 1`);

    const minutes: SoakMinute[] = [];
    // The most online at once in the minute (the last minute closes after everyone left).
    const online = { viewers: 0, publishers: 0 };
    const meter = new ProcessMeter(srv.pid);
    const closeMinute = (): void => {
      const m: SoakMinute = {
        minute: minutes.length + 1,
        endS: Math.round((Date.now() - started) / 1000),
        groups: { healthy: healthy.closeMinute(), shaped: shapedGroup.closeMinute() },
        shapedLink,
        ...serverFigures(srv.pid),
        ...meter.closeMinute(),
        viewersOnline: online.viewers,
        publishersOnline: online.publishers,
      };
      shapedLink = {};
      online.viewers = load.viewersOnline;
      online.publishers = load.publishersOnline;
      minutes.push(m);
      if (m.minute === 1) console.log(MINUTE_HEADER);
      console.log(minuteLine(m));
    };
    // Minute boundaries on the run's clock (not a drifting interval); the last minute closes when the load ends.
    for (let k = 1; k < MINUTES; k++) timers.push(setTimeout(closeMinute, started + k * 60_000 - Date.now()));
    // RSS and fds every 10 s, for the slope over the second half.
    const samples: { t: number; rssMb: number; fds: number }[] = [];
    const sampler = setInterval(() => {
      samples.push({ t: Math.round((Date.now() - started) / 1000), ...serverFigures(srv.pid) });
    }, 10_000);
    const ticker = setInterval(() => {
      load.tick();
      online.viewers = Math.max(online.viewers, load.viewersOnline);
      online.publishers = Math.max(online.publishers, load.publishersOnline);
    }, 1000);
    timers.push(sampler, ticker);

    await Promise.all([
      steadyPublisher,
      ...Array.from({ length: PUBLISHERS }, (_, k) => sleep(k * 500).then(() => load.publisherSlot(k))),
      ...Array.from({ length: VIEWERS }, (_, k) => sleep(k * 50).then(() => load.viewerSlot())),
      ...Array.from({ length: STEADY_VIEWERS }, () => load.steadyViewer()),
    ]);
    clearInterval(sampler);
    clearInterval(ticker);
    closeMinute();
    meter.stop();
    const shapedStderr = shaped.stderr().trim();
    await shaped.stop();
    shaped = null;
    // After everyone left: what the server still holds.
    await sleep(3000);
    const idle = serverFigures(srv.pid);
    await cleanup();

    const checks = judgeSoak(
      minutes,
      { healthyDriftMs: HEALTHY_DRIFT_MS, shapedP99Ms: shapedBoundMs },
      load.totals.policyViolations + shapedTotals.violations,
    );
    const pass = checks.every((c) => c.pass);
    const second = samples.slice(Math.floor(samples.length / 2));
    const rss = {
      secondHalfStartMb: second[0]?.rssMb ?? null,
      secondHalfEndMb: second[second.length - 1]?.rssMb ?? null,
      secondHalfMaxMb: second.length ? Math.max(...second.map((s) => s.rssMb)) : null,
      afterEveryoneLeft: idle,
    };
    const t = load.totals;
    console.log(
      `RSS over the second half: ${rss.secondHalfStartMb} → ${rss.secondHalfEndMb} MB (max ${rss.secondHalfMaxMb}); after everyone left: ${idle.rssMb} MB, ${idle.fds} fds`,
    );
    console.log(
      `${t.viewerSessions} viewer and ${t.publisherSessions} publisher sessions, ${t.framesDelivered} frames to healthy viewers (${t.catchUpFrames} of them joiners' catch-up, not timed), ` +
        `${t.gapsToKeyframe} skips to a keyframe, ${t.errors} errors${load.errorMessages.length ? ` (${load.errorMessages.slice(0, 3).join('; ')})` : ''}; ` +
        `shaped viewer: ${shapedTotals.reconnects} reconnects${shapedTotals.lastFailure ? ` (last: ${shapedTotals.lastFailure})` : ''}`,
    );
    if (shapedStderr) console.log(`the shaped viewer said: ${shapedStderr}`);
    for (const c of checks) console.log(`${c.pass ? 'ok  ' : 'FAIL'} ${c.name}: ${c.detail}`);
    console.log(pass ? 'PASS' : 'FAIL');

    const date = new Date().toISOString();
    const settings = {
      minutes: MINUTES,
      publishers: PUBLISHERS,
      viewers: VIEWERS,
      steadyViewers: STEADY_VIEWERS,
      shapedKbit: SHAPED_KBIT,
      clipKbps: Math.round(clip.kbps),
      keyframeIntervalMs,
      viewerQueueAgeMs: DEFAULT_CONFIG.viewerQueueAgeMs,
      bounds: { healthyDriftMs: HEALTHY_DRIFT_MS, shapedP99Ms: shapedBoundMs },
    };
    const verdict = { pass, checks, rss, totals: t, errors: load.errorMessages, shaped: shapedTotals };
    writeFileSync(
      path.join(RESULTS, 'soak.json'),
      `${JSON.stringify({ date, machine: machineInfo(), settings, minutes, samples, verdict }, null, 2)}\n`,
    );
    const svg = soakChartSvg(minutes, { date: date.slice(0, 10), shapedBoundMs, shapedKbit: SHAPED_KBIT });
    writeFileSync(path.join(RESULTS, 'soak-latency.svg'), svg);
    mkdirSync(path.dirname(DOCS_CHART), { recursive: true });
    writeFileSync(DOCS_CHART, svg);
    console.log(
      `wrote bench/results/soak.json, bench/results/soak-latency.svg and ${path.relative(ROOT, DOCS_CHART)}`,
    );
    return pass;
  } finally {
    await cleanup();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

main().then(
  (pass) => process.exit(pass ? 0 : 1),
  (err: unknown) => {
    console.error(err instanceof Error ? `soak failed: ${err.message}` : err);
    process.exit(2);
  },
);
