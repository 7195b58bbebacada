// Soak: one server for a long run of churn, to see that latency stays flat, memory levels off and a slow
// viewer stays bounded. 5 publishers come and go (each lives 30–90 s) beside one steady publisher that stays;
// 100 viewers join and leave (each watches the room 5–40 s) beside 3 steady ones: together the `healthy`
// group. One `shaped` viewer watches the steady stream the whole run from a network namespace behind a
// 300 kbit/s link (less than the 1 Mbit/s stream). Beside them, pushed publishers: ffmpeg processes sending
// the same clip to /ingest in real time, 5 as MPEG-TS and 5 as Matroska, 2 of each restarting now and then.
// Per minute it prints and records each group's latency (capture to arrival) p50/p99, fps and drops, the
// server's RSS and fds, and its memory: RSS's peak, the floors of the main heap and each ingest worker's. It
// passes when the healthy p99 of the last minute is within 5 ms of minute 1's, the shaped viewer's p99 stays
// within viewerQueueAgeMs plus one keyframe interval in every minute after the first, every gap in a
// sequence ends on a keyframe, and RSS, the main heap and each steady ingest worker grow by at most
// 100 KB/min over the second half. Writes bench/results/soak.json and the charts soak-latency.svg and
// soak-memory.svg (also docs/img/, for the README).
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
import { MemorySampler, memoryChartSvg, memoryLine, memoryTrends } from './lib/soak-memory.js';
import { ProcessMeter } from './lib/soak-meter.js';
import { SoakPushers } from './lib/soak-pushers.js';
import { MINUTE_HEADER, minuteLine, soakChartSvg } from './lib/soak-report.js';
import { judgeMemory, judgeSoak, type SoakMinute } from './lib/soak-verdict.js';
import { round } from './lib/stats.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const RESULTS = path.join(ROOT, 'bench', 'results');
// bench/results is git-ignored; the README shows the chart from here.
const DOCS_CHART = path.join(ROOT, 'docs', 'img', 'soak-latency.svg');
const DOCS_MEMORY_CHART = path.join(ROOT, 'docs', 'img', 'soak-memory.svg');
const ROOM = 'soak';
/** The pushed streams' room: no viewer of `soak` watches them, so the latency groups stay the protocol's. */
const PUSH_ROOM = 'soak-push';
const STEADY = 'steady';
const USAGE = `Usage: npm run bench:soak -- [--minutes 10] [--publishers 5] [--viewers 100] [--steady-viewers 3]
                          [--shaped-kbit 300] [--pushers 5] [--restarting-pushers 2]

  --minutes N             length of the run (default 10)
  --publishers N          protocol publishers that come and go, beside the steady one (default 5)
  --viewers N             healthy viewers that join and leave (default 100)
  --steady-viewers N      healthy viewers that stay the whole run (default 3)
  --shaped-kbit N         the shaped viewer's link, kbit/s (default 300)
  --pushers N             ffmpeg pushers to /ingest per container, MPEG-TS and Matroska each (default 5; 0: none)
  --restarting-pushers N  of those, how many restart every 1-3 min (default 2); the others are judged
  -h, --help              show this help

Needs root (a network namespace), iproute2, ffmpeg, and npm run build first. See bench/README.md.`;
const { values } = parseArgs({
  options: {
    minutes: { type: 'string', default: '10' },
    publishers: { type: 'string', default: '5' },
    viewers: { type: 'string', default: '100' },
    'steady-viewers': { type: 'string', default: '3' },
    'shaped-kbit': { type: 'string', default: '300' },
    pushers: { type: 'string', default: '5' },
    'restarting-pushers': { type: 'string', default: '2' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (values.help) {
  console.log(USAGE);
  process.exit(0);
}
const MINUTES = Number(values.minutes);
const PUBLISHERS = Number(values.publishers);
const VIEWERS = Number(values.viewers);
const STEADY_VIEWERS = Number(values['steady-viewers']);
const SHAPED_KBIT = Number(values['shaped-kbit']);
const PUSHERS = Number(values.pushers);
const RESTARTING_PUSHERS = Number(values['restarting-pushers']);
/** The healthy p99 of the last minute may differ from minute 1's by this much. */
const HEALTHY_DRIFT_MS = 5;
/** How much RSS, the main heap and each steady ingest worker may grow per minute over the second half. */
const MEMORY_SLOPE_KB_PER_MIN = 100;
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
  if (!Number.isInteger(PUSHERS) || !Number.isInteger(RESTARTING_PUSHERS) || RESTARTING_PUSHERS < 0)
    throw new Error('--pushers and --restarting-pushers must be whole numbers');
  if (RESTARTING_PUSHERS > PUSHERS) throw new Error('--restarting-pushers cannot exceed --pushers');
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
  let pushers: SoakPushers | null = null;
  let sampler: MemorySampler | null = null;
  const timers: NodeJS.Timeout[] = [];
  const cleanup = async (): Promise<void> => {
    for (const t of timers) clearTimeout(t);
    sampler?.stop();
    await pushers?.stop();
    pushers = null;
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
      // Every pusher comes from this machine's one address.
      extraConfig: { maxIngestsPerIp: Math.max(8, 2 * PUSHERS + 4) },
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
        `shaped: 1 viewer of "${STEADY}" behind ${SHAPED_KBIT} kbit/s (bound ${shapedBoundMs} ms); ` +
        `pushed (ffmpeg -re -c copy to /ingest/${PUSH_ROOM}/...): ${PUSHERS} MPEG-TS + ${PUSHERS} Matroska, ${RESTARTING_PUSHERS} of each restarting`,
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

    const push = new SoakPushers({
      host: ns.hostAddr,
      httpPort: srv.httpPort,
      room: PUSH_ROOM,
      clipFile: clip.file,
      perContainer: PUSHERS,
      restarting: RESTARTING_PUSHERS,
      until,
    });
    pushers = push;
    const pushed = push.run();
    const minutes: SoakMinute[] = [];
    // The most online at once in the minute (the last minute closes after everyone left).
    const online = { viewers: 0, publishers: 0 };
    const meter = new ProcessMeter(srv.pid);
    // Until just before the load ends: the pushers' bodies end at `until`, and their workers with them.
    const memory = new MemorySampler(srv.pid, `http://${ns.hostAddr}:${srv.httpPort}/metrics`, until - 2000);
    sampler = memory;
    const closeMinute = (): void => {
      const m: SoakMinute = {
        minute: minutes.length + 1,
        endS: Math.round((Date.now() - started) / 1000),
        groups: { healthy: healthy.closeMinute(), shaped: shapedGroup.closeMinute() },
        shapedLink,
        ...serverFigures(srv.pid),
        memory: memory.closeMinute(),
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
      console.log(memoryLine(m.minute, m.memory));
    };
    // Minute boundaries on the run's clock (not a drifting interval); the last minute closes when the load ends.
    for (let k = 1; k < MINUTES; k++) timers.push(setTimeout(closeMinute, started + k * 60_000 - Date.now()));
    // RSS and fds every 10 s, for the slope over the second half.
    const samples: { t: number; rssMb: number; fds: number }[] = [];
    const rssSampler = setInterval(() => {
      samples.push({ t: Math.round((Date.now() - started) / 1000), ...serverFigures(srv.pid) });
    }, 10_000);
    const ticker = setInterval(() => {
      load.tick();
      online.viewers = Math.max(online.viewers, load.viewersOnline);
      online.publishers = Math.max(online.publishers, load.publishersOnline);
    }, 1000);
    timers.push(rssSampler, ticker);

    await Promise.all([
      steadyPublisher,
      ...Array.from({ length: PUBLISHERS }, (_, k) => sleep(k * 500).then(() => load.publisherSlot(k))),
      ...Array.from({ length: VIEWERS }, (_, k) => sleep(k * 50).then(() => load.viewerSlot())),
      ...Array.from({ length: STEADY_VIEWERS }, () => load.steadyViewer()),
      pushed,
    ]);
    clearInterval(rssSampler);
    clearInterval(ticker);
    closeMinute();
    meter.stop();
    memory.stop();
    const shapedStderr = shaped.stderr().trim();
    await shaped.stop();
    shaped = null;
    // After everyone left: what the server still holds.
    await sleep(3000);
    const idle = serverFigures(srv.pid);
    await cleanup();

    const trends = memoryTrends(minutes, push.steadyNames);
    const checks = [
      ...judgeSoak(
        minutes,
        { healthyDriftMs: HEALTHY_DRIFT_MS, shapedP99Ms: shapedBoundMs },
        load.totals.policyViolations + shapedTotals.violations,
      ),
      ...judgeMemory(trends, MEMORY_SLOPE_KB_PER_MIN),
    ];
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
    console.log(
      `pushed: ${push.totals.sessions} ffmpeg sessions, ${push.totals.failures} failed${push.errorMessages.length ? ` (${push.errorMessages.slice(0, 3).join('; ')})` : ''}`,
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
      pushers: PUSHERS,
      restartingPushers: RESTARTING_PUSHERS,
      bounds: {
        healthyDriftMs: HEALTHY_DRIFT_MS,
        shapedP99Ms: shapedBoundMs,
        memorySlopeKbPerMin: MEMORY_SLOPE_KB_PER_MIN,
      },
    };
    const verdict = {
      pass,
      checks,
      rss,
      memoryTrends: trends,
      totals: t,
      pushed: { ...push.totals, steady: push.steadyNames, errors: push.errorMessages },
      errors: load.errorMessages,
      shaped: shapedTotals,
    };
    writeFileSync(
      path.join(RESULTS, 'soak.json'),
      `${JSON.stringify({ date, machine: machineInfo(), settings, minutes, samples, verdict }, null, 2)}\n`,
    );
    const svg = soakChartSvg(minutes, { date: date.slice(0, 10), shapedBoundMs, shapedKbit: SHAPED_KBIT });
    writeFileSync(path.join(RESULTS, 'soak-latency.svg'), svg);
    mkdirSync(path.dirname(DOCS_CHART), { recursive: true });
    writeFileSync(DOCS_CHART, svg);
    const memorySvg = memoryChartSvg(minutes, push.steadyNames, {
      date: date.slice(0, 10),
      span: `${MINUTES} min`,
    });
    writeFileSync(path.join(RESULTS, 'soak-memory.svg'), memorySvg);
    writeFileSync(DOCS_MEMORY_CHART, memorySvg);
    console.log(
      `wrote bench/results/soak.json, soak-latency.svg and soak-memory.svg, and ${path.relative(ROOT, DOCS_CHART)} and ${path.relative(ROOT, DOCS_MEMORY_CHART)}`,
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
