// A viewer behind a slow network link stays near the live edge. The real server and a real publisher run in a
// network namespace (another machine, as far as the network goes); one `framewire watch` watches from inside
// it at full speed, another from here through a link shaped to 300 kbit/s, less than the 1 Mbit/s stream.
// When the limit comes off, the shaped viewer returns to the full frame rate. All processes share this
// machine's clock, so --stats latency (capture to arrival) is exact.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { percentile } from '../../src/cli/meter.js';
import { BIN, ensureBuilt, killStarted, poll, started } from '../helpers/cli.js';
import { createNetNs, type NetNs } from '../helpers/netns.js';
import { cliInNamespace, serveInNamespace } from '../helpers/netns-cli.js';
import { type StatsLine, watchStats } from '../helpers/watch-stats.js';

const SHAPED_KBIT = 300;
const SHAPED_MS = 60_000;
const WARM_UP_MS = 5000;
/** The relay's age bound (viewerQueueAgeMs, 500 ms) plus one keyframe interval (publish makes one every 2 s). */
const LATENCY_BOUND_MS = 2500;
const RECOVERY_MS = 30_000;
const FPS = 30;

let ns: NetNs | null = null;
let stateDir = '';

/** Starts `framewire args...` here, in the root namespace, on the far side of the link. */
function here(args: string[]): ChildProcess {
  const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  started.add(child);
  child.on('close', () => started.delete(child));
  return child;
}

/** One viewer in the server's API. */
interface ApiViewer {
  connection: number;
  backlogMs: number;
  link: string;
  framesDropped: number;
}

/** Room `lab` in the server's API, read from inside the namespace (off the shaped link); null if none. */
function apiRoom(httpPort: number): { streams: { viewers: ApiViewer[] }[] } | null {
  if (!ns) return null;
  const url = `http://${ns.nsAddr}:${httpPort}/api/rooms/lab`;
  const r = spawnSync('ip', ['netns', 'exec', ns.name, 'curl', '-s', '-m', '2', url], { encoding: 'utf8' });
  try {
    const room = JSON.parse(r.stdout) as { streams?: { viewers: ApiViewer[] }[] };
    // A 404 (no such room yet) is JSON too, without streams.
    return Array.isArray(room.streams) ? { streams: room.streams } : null;
  } catch {
    return null;
  }
}

/** The room's viewers in one line: connection, link state, backlog and frames dropped. */
function apiViewers(httpPort: number): string {
  const room = apiRoom(httpPort);
  if (room === null) return '?';
  return (room.streams[0]?.viewers ?? [])
    .map((v) => `#${v.connection} ${v.link} ${v.backlogMs} ms (${v.framesDropped} dropped)`)
    .join(', ');
}

function describeLine(l: StatsLine): string {
  const latency = l.latencyMs === null ? '-' : `${l.latencyMs} ms`;
  const old = l.tooOld ? ` (${l.tooOld} too old)` : '';
  return `${l.fps.toFixed(1)} fps, ${latency}, drops ${l.drops}${old}${l.link ? `, ${l.link}` : ''}`;
}

/** The per-second median latencies of `lines` that have one. */
function latencies(lines: StatsLine[]): number[] {
  return lines.flatMap((l) => (l.latencyMs === null ? [] : [l.latencyMs]));
}

before(() => {
  ensureBuilt();
});

after(async () => {
  await killStarted();
  ns?.close();
  if (stateDir) rmSync(stateDir, { recursive: true, force: true });
});

describe('a viewer behind a slow link', { timeout: 180_000 }, () => {
  it('stays within the age bound plus a keyframe interval, leaves the others alone, and recovers', async () => {
    // Throws, and so fails the test saying why, when the namespace cannot be made (not root, no iproute2).
    ns = createNetNs();
    stateDir = mkdtempSync(join(tmpdir(), 'framewire-slow-link-'));
    const server = await serveInNamespace(ns, ['--no-tls', '--state-dir', stateDir]);
    const serverLog: string[] = [];
    let partial = '';
    server.child.stderr?.on('data', (s: string) => {
      const lines = (partial + s).split('\n');
      partial = lines.pop() ?? '';
      serverLog.push(...lines.filter((line) => /viewer-link|closing/.test(line)));
    });
    const address = `${ns.nsAddr}:${server.port}`;
    const stream = ['--room', 'lab', '--name', 'cam'];
    const pattern = ['--test-pattern', '--codec', 'h264', '--bitrate', '1M', '--fps', String(FPS)];
    // Same namespace as the server: its upload never crosses the shaped link. Ended by PID after the test.
    cliInNamespace(ns, ['publish', '--server', address, ...stream, ...pattern, '--duration', '600']);
    // watch --name needs the stream to exist.
    await poll(() => (apiRoom(server.httpPort)?.streams.length ?? 0) > 0, 10_000, 'the published stream');
    const watch = ['watch', '--server', address, ...stream, '--stats', '--duration', '600'];
    const healthy = watchStats(cliInNamespace(ns, watch, true));
    ns.shape(SHAPED_KBIT);
    const shapedChild = here(watch);
    const shaped = watchStats(shapedChild);
    const startedAt = Date.now();
    // The server's view each second, shown if a bound is missed.
    const api: string[] = [];
    const sample = async (): Promise<void> => {
      await new Promise((r) => setTimeout(r, 1000));
      api.push(`${((Date.now() - startedAt) / 1000).toFixed(0)} s: ${apiViewers(server.httpPort)}`);
    };
    while (Date.now() - startedAt < SHAPED_MS) await sample();
    const unshapedAt = Date.now();
    const shapedExited = shapedChild.exitCode !== null || shapedChild.signalCode !== null;
    ns.unshape();
    let recovered: StatsLine | undefined;
    while (!recovered && Date.now() - unshapedAt < RECOVERY_MS + 5000) {
      await sample();
      recovered = shaped.lines.find((l) => l.at > unshapedAt && l.fps > 25);
    }

    const inRun = (l: StatsLine): boolean => l.at >= startedAt + WARM_UP_MS && l.at <= unshapedAt;
    const shapedLines = shaped.lines.filter(inRun);
    const shapedLatency = latencies(shapedLines);
    const p50 = percentile(shapedLatency, 0.5) ?? Number.NaN;
    const p95 = percentile(shapedLatency, 0.95) ?? Number.NaN;
    const healthyLines = healthy.lines.filter(inRun);
    const healthyFps = healthyLines.map((l) => l.fps);
    const healthyP95 = percentile(latencies(healthyLines), 0.95) ?? Number.NaN;
    const healthyDrops = healthyLines.reduce((n, l) => n + l.drops, 0);
    const recoveryMs = recovered ? recovered.at - unshapedAt : null;
    console.log(
      `shaped viewer (${SHAPED_KBIT} kbit/s link, 1 Mbit/s ${FPS} fps stream), ${WARM_UP_MS / 1000}-${SHAPED_MS / 1000} s: ` +
        `per-second median latency p50 ${p50} ms, p95 ${p95} ms over ${shapedLatency.length} seconds ` +
        `(bound ${LATENCY_BOUND_MS} ms); back to > 25 fps ` +
        `${recoveryMs === null ? 'never' : `${(recoveryMs / 1000).toFixed(1)} s`} after unshaping`,
    );
    console.log(
      `healthy viewer: fps ${Math.min(...healthyFps)}..${Math.max(...healthyFps)}, latency p95 ${healthyP95} ms, ` +
        `${healthyDrops} drops`,
    );
    const ok = p95 <= LATENCY_BOUND_MS && recoveryMs !== null;
    if (!ok) {
      const at = (t: number): string => `${((t - startedAt) / 1000).toFixed(1)} s`;
      console.log(
        `shaped viewer, per second:\n  ${shaped.lines.map((l) => `${at(l.at)}: ${describeLine(l)}`).join('\n  ')}`,
      );
      console.log(`server API (viewers):\n  ${api.join('\n  ')}`);
      console.log(`server log:\n  ${serverLog.join('\n  ')}`);
    }

    assert.equal(shapedExited, false, `the shaped viewer exited: ${shaped.stderr()}`);
    assert.ok(shapedLatency.length > 0, 'the shaped viewer got frames');
    assert.ok(p95 <= LATENCY_BOUND_MS, `shaped viewer's latency p95 ${p95} ms > ${LATENCY_BOUND_MS} ms`);
    assert.deepEqual([...healthy.other, ...shaped.other], [], 'watch printed only stats lines');
    // The test pattern beeps: the shaped viewer's sound keeps flowing while its picture is shed.
    const shapedAudio = shaped.audio.filter((l) => l.at >= startedAt + WARM_UP_MS && l.at <= unshapedAt);
    const audioRate = percentile(
      shapedAudio.map((l) => l.framesPerSec),
      0.5,
    );
    // The mean, not the median, says whether the sound flows: on a 300 kbit/s link audio arrives in bursts
    // behind the video's bytes, so single seconds read 40 or 60 (a CI run: median 44.9 with 0 missing).
    const audioFrames = shapedAudio.reduce((n, l) => n + l.framesPerSec, 0);
    const audioMean = shapedAudio.length > 0 ? audioFrames / shapedAudio.length : 0;
    const gapFrames = shapedAudio.reduce((n, l) => n + l.gapFrames, 0);
    console.log(
      `shaped viewer's sound: mean ${audioMean.toFixed(1)} frames/s (median ${audioRate}), ${gapFrames} audio frames missing`,
    );
    assert.ok(
      audioMean >= 45,
      `the shaped viewer's sound flows: mean ${audioMean.toFixed(1)} frames/s of 50`,
    );
    // Sound is never shed to make room for video: a few frames at most may be late past the age bound.
    assert.ok(
      gapFrames <= audioFrames * 0.02,
      `the shaped viewer's sound is whole: ${gapFrames} of ${audioFrames} audio frames missing`,
    );
    // Untouched: the full rate (a second off by a frame or two is the timer's, not the stream's).
    assert.ok(
      healthyLines.length >= (SHAPED_MS - WARM_UP_MS) / 1000 - 3,
      'the healthy viewer reported each second',
    );
    assert.ok(
      (percentile(healthyFps, 0.5) ?? 0) >= FPS - 2 && Math.min(...healthyFps) >= FPS - 8,
      `healthy viewer's fps: ${healthyFps.join(' ')}`,
    );
    assert.ok(healthyP95 <= 200, `healthy viewer's latency p95 ${healthyP95} ms`);
    assert.equal(healthyDrops, 0, 'the healthy viewer lost no frame');
    assert.ok(recoveryMs !== null && recoveryMs <= RECOVERY_MS, 'the shaped viewer returned to > 25 fps');
  });
});
