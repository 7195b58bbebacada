// A viewer on a slow link, for each target side by side: Framewire over TCP, nginx-rtmp and node-media-server.
// Each server in turn listens on the root end of a veth pair; the bench clip (~1 Mbit/s, 30 fps, a keyframe
// every 2 s) is published to it in real time with the target's own publisher client, and one viewer plays it
// from a network namespace behind a link shaped to --kbit (300 kbit/s: less than the stream) with the
// target's own light player client, for --seconds. The measure is the same for all three and needs only
// the stream's timestamps: delay(frame) = (arrival − first arrival) − (media timestamp − first media
// timestamp), how far the viewer has fallen behind the stream since it started. Prints per 10 s the delay
// p50/max and fps, and for the run after its first 5 s the delay p50/p95/max and mean fps; writes
// bench/results/slow-link.json and bench/results/slow-link.md.
import type { ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { createNetNs, type NetNs } from '../test/helpers/netns.js';
import { startFramewire, stopProcess } from './framewire/server.js';
import { CLIP_FPS, type Clip, ensureClip, loadClip } from './lib/clip.js';
import { type FrameOutput, PacedPublisher } from './lib/pacing.js';
import { machineInfo } from './lib/proc.js';
import {
  type DelayedFrame,
  delays,
  type SlowLinkSecond,
  type SlowLinkSummary,
  type SlowLinkWindow,
  summarize,
  windows,
} from './lib/slow-link-stats.js';
import { SoakLink } from './lib/soak-link.js';
import { startNginxRtmp } from './peers/nginx.js';
import { startNodeMediaServer } from './peers/nms.js';
import { RtmpPublisher } from './peers/rtmp-publisher.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const RESULTS = path.join(ROOT, 'bench', 'results');
const VIEWER_SCRIPT = path.join(ROOT, 'bench', 'lib', 'slow-link-viewer.ts');
const TARGETS = ['framewire-tcp', 'nginx-rtmp', 'node-media-server'] as const;
type Target = (typeof TARGETS)[number];
const ROOM = 'slow';
const STREAM = 'cam';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '60' },
    kbit: { type: 'string', default: '300' },
    targets: { type: 'string', default: TARGETS.join(',') },
  },
});
const SECONDS = Number(values.seconds);
const KBIT = Number(values.kbit);
const SELECTED = (values.targets ?? '').split(',').filter(Boolean) as Target[];
/** Figures per window of this many seconds. */
const WINDOW_S = 10;
/** The summary leaves out the viewer's first seconds: its join (a GOP cache, or a wait for a keyframe). */
const SETTLE_S = 5;
/** The stream runs this long before the viewer joins, so every server has a keyframe (and a GOP) to give. */
const WARMUP_MS = 3000;
const START_TIMEOUT_MS = 15_000;
/** The viewer ends itself after SECONDS; past this margin it is killed and whatever it reported is kept. */
const VIEWER_GRACE_MS = 20_000;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A server under test: where its players connect and how to publish to it. */
interface RunningTarget {
  protocol: 'framewire' | 'rtmp';
  port: number;
  pids: number[];
  client: string;
  /** Opens the target's own publisher for the bench stream; the clip's frames go to `output`. */
  publish(clip: Clip): Promise<{ output: FrameOutput; close(): void }>;
  stop(): Promise<void>;
}

/** What one target's run produced. */
interface TargetResult {
  target: Target;
  client: string;
  ok: boolean;
  error: string | null;
  viewerFailure: string | null;
  windows: SlowLinkWindow[];
  summary: SlowLinkSummary;
  publisherMaxSlipMs: number;
  /** [arrival s, media timestamp ms, delay ms, lag ms (null: unknown), key] per frame: to chart the run again. */
  frames: [number, number, number, number | null, number][];
}

/** A free TCP port on `host` (the RTMP peers cannot report the port they picked). */
function freePort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, host, () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

/** Starts `target` listening on `host`. */
async function startTarget(target: Target, host: string): Promise<RunningTarget> {
  if (target === 'framewire-tcp') {
    const s = await startFramewire({
      repo: ROOT,
      host,
      profileDir: null,
      workDir: path.join(RESULTS, 'slow-link-work'),
      logFile: path.join(RESULTS, 'slow-link-server.log'),
      timeoutMs: START_TIMEOUT_MS,
    });
    return {
      protocol: 'framewire',
      port: s.tcpPort,
      pids: [s.pid],
      client: 'bench Framewire TCP link (bench/lib/soak-link.ts), publisher and viewer',
      publish: async (clip) => {
        const link = await SoakLink.connect(host, s.tcpPort, 'publisher', START_TIMEOUT_MS);
        const id = await link.publish(ROOM, STREAM, clip.config, START_TIMEOUT_MS).catch((err: Error) => {
          link.close();
          throw err;
        });
        return {
          output: {
            // µs from the frame's index, exact (the RTMP targets get the same instant in whole ms).
            send: (i, frame) =>
              link.sendFrame(id, i, frame.key, Math.round((i * 1e6) / CLIP_FPS), frame.annexB),
            get backlogBytes() {
              return 0;
            },
          },
          close: () => link.close(),
        };
      },
      stop: s.stop,
    };
  }
  const rtmpPort = await freePort(host);
  const s =
    target === 'nginx-rtmp'
      ? await startNginxRtmp({ rtmpPort, host, workDir: path.join(RESULTS, 'slow-link-work', 'nginx') })
      : await startNodeMediaServer({ rtmpPort, httpPort: await freePort(host), host });
  return {
    protocol: 'rtmp',
    port: rtmpPort,
    pids: s.pids,
    client: 'bench RTMP publisher and player (bench/peers/rtmp-publisher.ts, rtmp-player.ts)',
    publish: async (clip) => {
      const pub = await RtmpPublisher.connect(`rtmp://${host}:${rtmpPort}/live/${STREAM}`);
      pub.sendVideo(clip.sequenceHeader, 0);
      return {
        output: {
          send: (_i, frame, timestampMs) => pub.sendVideo(frame.flvBody, timestampMs),
          get backlogBytes() {
            return pub.bufferedBytes;
          },
        },
        close: () => pub.close(),
      };
    },
    stop: () => s.stop(),
  };
}

/** The viewer process in the namespace, and every line it printed. */
function startViewer(
  ns: NetNs,
  protocol: 'framewire' | 'rtmp',
  port: number,
): { child: ChildProcess; lines: SlowLinkSecond[]; exited: Promise<void>; stderr: () => string } {
  const args = ['--import', 'tsx', VIEWER_SCRIPT, '--protocol', protocol, '--host', ns.hostAddr];
  args.push('--port', String(port), '--room', ROOM, '--name', STREAM, '--seconds', String(SECONDS));
  const child = ns.exec(process.execPath, args, { cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
  if (child.pid === undefined) throw new Error(`could not start the viewer in namespace ${ns.name}`);
  const lines: SlowLinkSecond[] = [];
  let errText = '';
  child.stderr?.setEncoding('utf8').on('data', (s: string) => {
    errText = (errText + s).slice(-4000);
  });
  createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
    try {
      lines.push(JSON.parse(line) as SlowLinkSecond);
    } catch {
      errText = `${errText}\nnot a viewer line: ${line}`.slice(-4000);
    }
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return { child, lines, exited, stderr: () => errText };
}

const ms = (v: number | null): string => (v === null ? '–' : (v / 1000).toFixed(2));

function printResult(r: TargetResult): void {
  console.log(`\n${r.target} (${r.client})${r.ok ? '' : ` FAILED: ${r.error}`}`);
  for (const w of r.windows) {
    console.log(
      `  ${String(w.fromS).padStart(2)}–${String(w.toS).padEnd(2)} s: delay p50 ${ms(w.delayP50Ms).padStart(6)} s, max ${ms(w.delayMaxMs).padStart(6)} s, ${w.fps.toFixed(1).padStart(4)} fps; behind the publisher p50 ${ms(w.lagP50Ms)} s`,
    );
  }
  const s = r.summary;
  console.log(
    `  after ${s.fromS} s: delay p50 ${ms(s.delayP50Ms)} s, p95 ${ms(s.delayP95Ms)} s, max ${ms(s.delayMaxMs)} s; ` +
      `${s.meanFps} fps mean (${s.keyframes} of ${s.frames} frames keyframes), ${s.kbps} kbit/s received; ` +
      `behind the publisher p50 ${ms(s.lagP50Ms)} s, p95 ${ms(s.lagP95Ms)} s, max ${ms(s.lagMaxMs)} s`,
  );
  if (r.viewerFailure) console.log(`  the viewer's connection ended early: ${r.viewerFailure}`);
}

function markdown(results: TargetResult[], date: string, machine: string, clipKbps: number): string {
  const out = [
    `Slow-link viewer, ${date}, ${machine}: one run. Clip ${clipKbps} kbit/s, ${CLIP_FPS} fps, keyframe every 2 s; ` +
      `one viewer behind ${KBIT} kbit/s for ${SECONDS} s. Delay = (arrival − first arrival) − (media timestamp − ` +
      `first media timestamp); "behind the publisher" = arrival − the publisher's send of that frame (one wall ` +
      `clock). The summary leaves out the first ${SETTLE_S} s.`,
    '',
    '| target | delay p50 | delay p95 | delay max | mean fps | kbit/s received | behind the publisher p50 / max |',
    '|---|---|---|---|---|---|---|',
  ];
  for (const r of results) {
    const s = r.summary;
    out.push(
      `| ${r.target}${r.ok ? '' : ' (failed)'} | ${ms(s.delayP50Ms)} s | ${ms(s.delayP95Ms)} s | ${ms(s.delayMaxMs)} s | ${s.meanFps} | ${s.kbps} | ${ms(s.lagP50Ms)} s / ${ms(s.lagMaxMs)} s |`,
    );
  }
  const first = results[0];
  if (first) {
    out.push('', `Per ${WINDOW_S} s: delay p50 / max (s), fps.`, '');
    out.push(`| target | ${first.windows.map((w) => `${w.fromS}–${w.toS} s`).join(' | ')} |`);
    out.push(`|---|${first.windows.map(() => '---').join('|')}|`);
    for (const r of results) {
      const cells = r.windows.map((w) => `${ms(w.delayP50Ms)} / ${ms(w.delayMaxMs)}, ${w.fps}`);
      out.push(`| ${r.target} | ${cells.join(' | ')} |`);
    }
  }
  return `${out.join('\n')}\n`;
}

async function main(): Promise<boolean> {
  if (!(SECONDS > SETTLE_S) || !(KBIT > 0))
    throw new Error(`--seconds must exceed ${SETTLE_S}; --kbit must be positive`);
  for (const t of SELECTED) {
    if (!TARGETS.includes(t)) throw new Error(`unknown target "${t}": pick from ${TARGETS.join(', ')}`);
  }
  const clip = loadClip(ensureClip());
  mkdirSync(RESULTS, { recursive: true });

  // Everything started here is ended in cleanup(), by PID, also on Ctrl-C; the namespace goes last.
  let ns: NetNs | null = null;
  let server: RunningTarget | null = null;
  let publisher: { pacer: PacedPublisher; close(): void } | null = null;
  let viewer: ChildProcess | null = null;
  /** Ends the current target's viewer, publisher and server, in that order. */
  const stopTarget = async (): Promise<void> => {
    if (viewer) {
      viewer.stdin?.end();
      await stopProcess(viewer, 3000);
      viewer = null;
    }
    publisher?.pacer.stop();
    publisher?.close();
    publisher = null;
    await server?.stop();
    server = null;
  };
  const cleanup = async (): Promise<void> => {
    await stopTarget();
    ns?.close();
  };
  const onSignal = () => void cleanup().finally(() => process.exit(130));
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  const results: TargetResult[] = [];
  try {
    ns = createNetNs();
    ns.shape(KBIT);
    console.log(
      `slow link: ${SELECTED.join(', ')}; server on ${ns.hostAddr}, one viewer in namespace ${ns.name} behind ` +
        `${KBIT} kbit/s for ${SECONDS} s; clip ${Math.round(clip.kbps)} kbit/s, ${CLIP_FPS} fps`,
    );
    for (const target of SELECTED) {
      let error: string | null = null;
      let lines: SlowLinkSecond[] = [];
      let slip = 0;
      let client = '';
      let sentTimes: Float64Array | null = null;
      try {
        const srv = await startTarget(target, ns.hostAddr);
        server = srv;
        client = srv.client;
        const pub = await srv.publish(clip);
        // Bounded: the pacer stops by itself after the frames of the whole run and a margin.
        const capacity = Math.ceil(((WARMUP_MS + VIEWER_GRACE_MS) / 1000 + SECONDS) * CLIP_FPS);
        const pacer = new PacedPublisher(pub.output, clip.frames, CLIP_FPS, capacity);
        publisher = { pacer, close: pub.close };
        pacer.start(0);
        await sleep(WARMUP_MS);
        const v = startViewer(ns, srv.protocol, srv.port);
        viewer = v.child;
        lines = v.lines;
        const deadline = sleep(SECONDS * 1000 + VIEWER_GRACE_MS).then(() => 'late' as const);
        if ((await Promise.race([v.exited, deadline])) === 'late') error = 'the viewer overran its time';
        const said = v.stderr().trim();
        if (said) error = error ? `${error}; it said: ${said}` : `the viewer said: ${said}`;
        slip = pacer.maxSlipMs;
        sentTimes = pacer.sentAt;
      } catch (err) {
        error = (err as Error).message;
      } finally {
        // This target's processes end before the next one starts.
        await stopTarget();
      }
      // The publisher's send of the frame with this media timestamp, on the wall clock the viewer shares.
      const sentAt = (mediaMs: number): number | null => {
        const at = sentTimes?.[Math.round((mediaMs * CLIP_FPS) / 1000)];
        return at === undefined || at < 0 ? null : performance.timeOrigin + at;
      };
      const frames: DelayedFrame[] = delays(
        lines.flatMap((l) => l.frames),
        sentAt,
      );
      const dropped = lines.reduce((n, l) => n + l.dropped, 0);
      if (dropped > 0) error = `${error ?? ''} ${dropped} frames not recorded (line bound)`.trim();
      const result: TargetResult = {
        target,
        client,
        ok: error === null && frames.length > 0,
        error: error ?? (frames.length === 0 ? 'no frame reached the viewer' : null),
        viewerFailure: lines.find((l) => l.failure !== null)?.failure ?? null,
        windows: windows(frames, WINDOW_S, SECONDS),
        summary: summarize(frames, SETTLE_S, SECONDS),
        publisherMaxSlipMs: Math.round(slip),
        frames: frames.map((f) => [
          Math.round(f.atS * 1000) / 1000,
          f.mediaMs,
          Math.round(f.delayMs),
          f.lagMs === null ? null : Math.round(f.lagMs),
          f.key ? 1 : 0,
        ]),
      };
      results.push(result);
      printResult(result);
    }
  } finally {
    await cleanup();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }

  const date = new Date().toISOString();
  const machine = machineInfo();
  const settings = {
    seconds: SECONDS,
    shapedKbit: KBIT,
    windowS: WINDOW_S,
    settleS: SETTLE_S,
    warmupMs: WARMUP_MS,
    clipKbps: Math.round(clip.kbps),
    fps: CLIP_FPS,
  };
  writeFileSync(
    path.join(RESULTS, 'slow-link.json'),
    `${JSON.stringify({ date, machine, settings, results }, null, 2)}\n`,
  );
  const md = markdown(
    results,
    date.slice(0, 10),
    `${machine.cpuModel}, ${machine.cores} cores, Node ${machine.node}`,
    Math.round(clip.kbps),
  );
  writeFileSync(path.join(RESULTS, 'slow-link.md'), md);
  console.log(`\n${md}\nwrote bench/results/slow-link.json and bench/results/slow-link.md`);
  return results.every((r) => r.ok);
}

main().then(
  (ok) => process.exit(ok ? 0 : 1),
  (err: unknown) => {
    console.error(err instanceof Error ? `slow-link bench failed: ${err.message}` : err);
    process.exit(2);
  },
);
