// The load generator of one bench run: the publisher(s) and every viewer of one scenario against one
// server, in one process, so that "sent" and "arrived" are read from the same clock. Started by run.ts;
// prints one RESULT_MARK line with a LoadResult as JSON on stdout, and progress on stderr.
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { FramewireTarget } from './framewire/target.js';
import { AUDIO_FPS, type AudioClipFrame, loadAudioClip } from './lib/audio-clip.js';
import { audioDelivery, type BenchLoadConfig, type BenchLoadResult } from './lib/audio-delivery.js';
import { loadClip } from './lib/clip.js';
import { Collector } from './lib/collector.js';
import { RESULT_MARK } from './lib/load-protocol.js';
import { PacedPublisher } from './lib/pacing.js';
import { cpuMicros, rssKb, sumOver, withDescendants } from './lib/proc.js';
import { clipOf, viewerPlans } from './lib/scenarios.js';
import { median, quantile, round } from './lib/stats.js';
import type { LoadContext, LoadTarget } from './lib/target.js';

/** Viewers connecting at once: enough to connect 1000 in a few seconds, few enough not to storm accept(). */
const CONNECT_BATCH = 50;
/** Time after the publishers start before the RSS baseline is read and viewers connect. */
const SETTLE_MS = 1000;
const LOOP_RESOLUTION_MS = 5;

async function makeTarget(config: BenchLoadConfig, ctx: LoadContext): Promise<LoadTarget> {
  switch (config.target) {
    case 'framewire-tcp':
      return new FramewireTarget('tcp', ctx);
    case 'framewire-ws':
      return new FramewireTarget('ws', ctx);
    case 'framewire-whep':
    case 'werift-whep':
    case 'framewire-whip-whep': {
      const { WhepTarget } = await import('./framewire/whep-target.js');
      return new WhepTarget(config.target === 'framewire-whip-whep' ? 'whip' : 'protocol', ctx);
    }
    case 'nginx-rtmp':
    case 'node-media-server': {
      const { PeerTarget } = await import('./lib/peer-target.js');
      return new PeerTarget(config.target, ctx);
    }
  }
}

function log(message: string): void {
  process.stderr.write(`  [load] ${message}\n`);
}

/** Polls `done` every 20 ms until it holds or `timeoutMs` passes (then throws `what`). */
async function waitFor(done: () => boolean, timeoutMs: number, what: () => string): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!done()) {
    if (performance.now() > deadline) throw new Error(what());
    await sleep(20);
  }
}

async function run(config: BenchLoadConfig, closers: (() => void)[]): Promise<BenchLoadResult> {
  const { scenario, serverPids, windowS } = config;
  const clip = loadClip(config.clipFile, clipOf(scenario));
  const audio = config.audioFile ? loadAudioClip(config.audioFile) : null;
  const timeoutMs = config.connectTimeoutS * 1000;
  const plans = viewerPlans(scenario);
  const subscriptions = plans.reduce((n, p) => n + p.watch.length, 0);
  // Bounds: publishers stop after the longest the run may take; latency samples cover the window twice over.
  const totalS = SETTLE_MS / 1000 + config.connectTimeoutS * 2 + config.warmupS + windowS + config.graceS + 5;
  const frameCapacity = Math.ceil(totalS * clip.fps);
  const collector = new Collector(
    Math.ceil(subscriptions * clip.fps * windowS * 2) + 1000,
    audio ? Math.ceil(subscriptions * AUDIO_FPS * windowS * 2) + 1000 : 0,
  );
  const ctx: LoadContext = {
    clip,
    endpoints: config.endpoints,
    collector,
    pacers: [],
    audio,
    audioPacers: [],
    timeoutMs,
  };
  const target = await makeTarget(config, ctx);

  for (let k = 0; k < scenario.publishers; k++) {
    const handle = await target.openPublisher(k);
    closers.push(handle.close);
    const pacer = new PacedPublisher(handle.output, clip.frames, clip.fps, frameCapacity);
    ctx.pacers[k] = pacer;
    closers.push(() => pacer.stop());
    // Spread publishers over one frame period, as independent cameras would be.
    const delayMs = (k * 1000) / clip.fps / scenario.publishers;
    if (audio && handle.audio) {
      // One audio frame every 20 ms on its own drift-free schedule, started with the video (media time 0
      // of both tracks leaves at the same moment, as from one capture clock).
      const audioPacer = new PacedPublisher<AudioClipFrame>(
        handle.audio,
        audio.frames,
        AUDIO_FPS,
        Math.ceil(totalS * AUDIO_FPS),
      );
      ctx.audioPacers[k] = audioPacer;
      closers.push(() => audioPacer.stop());
      audioPacer.start(delayMs);
    }
    pacer.start(delayMs);
  }
  const withAudio = ctx.audioPacers.length > 0;
  await sleep(SETTLE_MS);
  const rssBaselineKb = sumOver(withDescendants(serverPids), rssKb);

  const connectStart = performance.now();
  let viewerConnections = 0;
  for (let i = 0; i < plans.length; i += CONNECT_BATCH) {
    const batch = plans.slice(i, i + CONNECT_BATCH);
    const opened = await Promise.all(batch.map((p) => target.openViewer(p.watch, p.peer)));
    for (const v of opened) {
      viewerConnections += v.connections;
      closers.push(v.close);
    }
  }
  await waitFor(
    () =>
      collector.tallies.length >= subscriptions &&
      collector.tallies.every((t) => t.seen > 0 && (!withAudio || t.audioSeen > 0)),
    timeoutMs,
    () =>
      `${collector.tallies.filter((t) => t.seen > 0 && (!withAudio || t.audioSeen > 0)).length} of ${subscriptions} subscriptions received a frame${withAudio ? ' and an audio frame' : ''} within ${config.connectTimeoutS} s`,
  );
  const connectSeconds = (performance.now() - connectStart) / 1000;
  log(`${plans.length} viewers (${subscriptions} subscriptions) ready in ${connectSeconds.toFixed(1)} s`);

  await sleep(config.warmupS * 1000);
  const loop = monitorEventLoopDelay({ resolution: LOOP_RESOLUTION_MS });
  loop.enable();
  // The server's processes as they are now that its viewers are on: WebRTC's child starts with the first.
  const measured = withDescendants(serverPids);
  const cpuByPid0 = measured.map((pid) => cpuMicros(pid) ?? 0);
  const load0 = process.cpuUsage();
  const t0 = performance.now();
  collector.startWindow(t0);
  await sleep(windowS * 1000);
  const t1 = performance.now();
  collector.endWindow(t1);
  const cpuByPid1 = measured.map((pid) => cpuMicros(pid) ?? 0);
  const loadCpu = process.cpuUsage(load0);
  const rssEndKb = sumOver(measured, rssKb);
  loop.disable();
  await sleep(config.graceS * 1000);
  collector.close();

  const seconds = (t1 - t0) / 1000;
  const expectedBy = new Map(ctx.pacers.map((p) => [p, p.sentBetween(t0, t1)]));
  let expected = 0;
  let received = 0;
  let dropped = 0;
  let unmatched = 0;
  const kbps: number[] = [];
  for (const t of collector.tallies) {
    const e = expectedBy.get(t.publisher) ?? 0;
    expected += e;
    received += t.frames;
    dropped += Math.max(0, e - t.frames);
    unmatched += t.unmatched;
    kbps.push((t.bytes * 8) / seconds / 1000);
  }
  const lat = collector.latencies.sorted();
  // Per process, then summed: each /proc figure is read once per moment (a process gone counts as 0).
  const cpuByPidUs = cpuByPid1.map((c, i) => c - (cpuByPid0[i] ?? 0));
  const serverCpuUs = cpuByPidUs.reduce((a, b) => a + b, 0);
  return {
    ok: true,
    target: config.target,
    scenario: scenario.name,
    withAudio,
    ...(audio && withAudio
      ? {
          audio: audioDelivery(
            {
              codec: audio.config.codec,
              sampleRate: audio.config.sampleRate,
              channels: audio.config.numberOfChannels,
              source: audio.source,
              meanBytes: audio.meanBytes,
              kbps: audio.kbps,
            },
            collector.tallies,
            ctx.audioPacers,
            collector.audioLatencies,
            t0,
            t1,
          ),
        }
      : {}),
    publishers: scenario.publishers,
    viewers: subscriptions,
    viewerConnections,
    windowS: round(seconds, 3),
    server: {
      pids: measured,
      cpuPercent: round((serverCpuUs / (seconds * 1e6)) * 100, 1),
      cpuPercentByPid: cpuByPidUs.map((us) => round((us / (seconds * 1e6)) * 100, 1)),
      cpuUsPerViewerSecond: round(serverCpuUs / (subscriptions * seconds), 1),
      rssMb: round(rssEndKb / 1024, 1),
      rssBaselineMb: round(rssBaselineKb / 1024, 1),
      rssKbPerViewer: round((rssEndKb - rssBaselineKb) / subscriptions, 1),
    },
    delivery: {
      kbpsMin: round(Math.min(...kbps), 0),
      kbpsMedian: round(median(kbps), 0),
      framesExpected: expected,
      framesReceived: received,
      framesDropped: dropped,
      droppedPercent: expected > 0 ? round((dropped / expected) * 100, 2) : 0,
      unmatched,
    },
    latencyMs: {
      p50: round(quantile(lat, 0.5), 2),
      p99: round(quantile(lat, 0.99), 2),
      max: round(lat.length > 0 ? (lat[lat.length - 1] as number) : Number.NaN, 2),
      samples: lat.length,
    },
    load: {
      cpuPercent: round(((loadCpu.user + loadCpu.system) / (seconds * 1e6)) * 100, 1),
      // The histogram counts the sampling interval itself; what is above it is delay.
      eventLoopDelayP99Ms: round(Math.max(0, loop.percentile(99) / 1e6 - LOOP_RESOLUTION_MS), 1),
      // Video and audio pacers alike: either one slipping means the load process stalled.
      publisherMaxSlipMs: round(Math.max(...[...ctx.pacers, ...ctx.audioPacers].map((p) => p.maxSlipMs)), 1),
      publisherMaxBacklogKb: round(Math.max(...ctx.pacers.map((p) => p.maxBacklogBytes)) / 1024, 1),
      connectSeconds: round(connectSeconds, 2),
    },
  };
}

async function main(): Promise<void> {
  const config = JSON.parse(process.argv[2] ?? '{}') as BenchLoadConfig;
  const closers: (() => void)[] = [];
  let result: BenchLoadResult;
  try {
    result = await run(config, closers);
  } catch (err) {
    result = {
      ok: false,
      error: err instanceof Error ? err.message : String(err),
      target: config.target,
      scenario: config.scenario?.name,
      withAudio: config.audioFile !== null && config.audioFile !== undefined,
    } as BenchLoadResult;
  }
  for (const close of closers) {
    try {
      close();
    } catch {
      // closing is best effort; the process exits next
    }
  }
  process.stdout.write(`${RESULT_MARK}${JSON.stringify(result)}\n`, () => process.exit(0));
}

await main();
