// `npm run bench`: every scenario against every target, one server at a time, each server its own
// process and the load in another. Prints a table per scenario and writes bench/results/.
// Flags: --quick, --targets a,b, --scenarios a,b, --window S, --warmup S, --profile, --audio [on|both|off].
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { startFramewire, startWeriftWhep } from './framewire/server.js';
import { AUDIO_FRAME_MS, ensureAudioClip, loadAudioClip } from './lib/audio-clip.js';
import type { BenchLoadConfig, BenchLoadResult } from './lib/audio-delivery.js';
import { type Clip, ensureClip, loadClip } from './lib/clip.js';
import { RESULT_MARK } from './lib/load-protocol.js';
import { machineInfo } from './lib/proc.js';
import {
  audioRatios,
  ratios,
  type ScenarioReport,
  textTable,
  writeScenario,
  writeSummary,
} from './lib/report.js';
import { ALL_SCENARIOS, clipOf, QUICK_SCENARIOS, type Scenario, subscriptionCount } from './lib/scenarios.js';
import { DEFAULT_TARGETS, type Endpoints, TARGETS, type TargetName, WEBRTC_TARGETS } from './lib/target.js';

const BENCH_DIR = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.dirname(BENCH_DIR);
const RESULTS_DIR = path.join(BENCH_DIR, 'results');
const SERVER_LOG = path.join(RESULTS_DIR, 'framewire-server.log');
const GRACE_S = 1;
const SERVER_START_TIMEOUT_MS = 15_000;
/** The most WHEP players one load process opens: each is a peer connection with its own DTLS and SRTP. */
const MAX_WEBRTC_VIEWERS = 100;

/** What every reader of the figures should know; copied into each JSON and the summary. */
const NOTES = [
  'Server CPU is utime+stime from /proc/<pid>/stat over the window, summed over the server processes, as % of one core; CPU µs per viewer-second divides it by subscriptions × window seconds. RSS is VmRSS at the end of the window; RSS per viewer is (end − before viewers connected) / subscriptions.',
  'Latency is the time a frame reached the viewer (its last byte parsed) minus the time the publisher wrote it, both performance.now() of the one load process: loopback both ways and the load process’s own event-loop delay are included, for every target alike (see "load CPU %"; "load event-loop p99" in the JSON).',
  'A "viewer" is a subscription (a viewer watching a stream). Conference: 10 participants × 9 = 90; wall: 1 viewer × 50 streams = 50. Framewire uses one connection per participant (publishing and watching) and one for the wall viewer; RTMP and HTTP-FLV carry one stream per connection, so the peers use a publisher connection plus one player connection per stream watched (90 and 50 player connections). The conference CPU per viewer therefore includes 10 publishers’ ingest for every target.',
  'nginx-rtmp is C and runs as a master plus one worker process (its live module shares a stream only within one worker); its CPU and RSS are summed over both. node-media-server runs in its own Node process; Framewire is `bin/framewire serve` (with the node flags of its launcher) with its default limits except maxConnectionsPerIp (raised, since every bench viewer comes from 127.0.0.1).',
  'Dropped = frames the publisher sent in the window that a viewer had not received one second after the window. The targets drop for different reasons: Framewire drops on purpose (a bounded queue per viewer that skips to the next keyframe); nginx-rtmp drops when a player’s output queue (out_queue) is full; node-media-server has no drop policy that we found in its source (it writes every frame to every player), so a slow player would show growing latency rather than drops.',
  'CPU time comes in 10 ms ticks (CLK_TCK 100): at 1–10 viewers a 10 s window holds a few dozen ticks, and the per-viewer figure is mostly the fixed cost of the idle process (timers, GC), so ratios there say little; read the 100–1000 viewer rows. RSS per viewer at small counts is GC noise and can be negative.',
  'The viewer clients differ by protocol (Framewire: header-only parsing; RTMP: chunk reassembly; HTTP-FLV: FLV tag parsing), so the load process costs more for some targets at the same count: compare "load CPU %" before reading a latency difference at 500–1000 viewers as the server’s.',
  'Same clip and frames for every target: 640x480 30 fps H.264 (~1 Mbit/s, keyframe every 2 s), looped with increasing timestamps; the screen scenario sends a 1920x1080 60 fps H.264 clip at ~5 Mbit/s instead (same encoder settings, keyframe every 2 s). Framewire carries each frame as Annex B (SPS/PPS in front of keyframes), RTMP/FLV as the FLV video tag body; their sizes differ by a few bytes per frame. Framewire’s per-joiner keyframe requests are ignored by the bench publisher (a pre-encoded clip cannot make keyframes).',
  'The load process (publishers and all viewers) runs on the same machine and shares the CPUs with the server; when its CPU nears 100 % of a core, latency and drop figures include client-side delay.',
];

/** Added to the notes of a run with `--audio on|both`. */
const audioNote = (meanBytes: number, kbps: number) =>
  `Audio ("--audio"): each Framewire publisher (TCP and WS targets) publishes an Opus track (48 kHz mono) beside the video and sends, on its own drift-free schedule, one audio frame every 20 ms on the same connection: real Opus packets that ffmpeg/libopus encoded once from a swelling tone with some noise (32 kbit/s target; ${meanBytes.toFixed(1)} bytes mean, ${kbps.toFixed(1)} kbit/s), looped. Viewers count audio frames apart from video (by the audio seq): in the main table kbit/s, dropped and latency stay video only, while server CPU, RSS and load CPU cover everything; a run with audio is named "<target> +audio" and its audio delivery (frames per viewer-second received vs sent, kbit/s, latency) is printed under the table. With "--audio both" each Framewire target runs without audio and then with it, back to back, and the ratio of CPU µs per viewer-second (with / without) is printed: on a busy machine two runs differ by noise too, so read the ratio at 100+ viewers and repeat it. The RTMP peers run once, without audio, and the Framewire/peer ratios use the Framewire runs without audio (like for like).`;

/** `--audio`: off (the default), on (Framewire publishers send audio), both (each Framewire target twice). */
type AudioMode = 'off' | 'on' | 'both';
const AUDIO_MODES: readonly AudioMode[] = ['off', 'on', 'both'];

interface Options {
  scenarios: Scenario[];
  targets: TargetName[];
  windowS: number;
  warmupS: number;
  profile: boolean;
  quick: boolean;
  audio: AudioMode;
}

/** A bare `--audio` (last, or followed by another flag) means `--audio on`: parseArgs has no optional values. */
function withAudioDefault(args: readonly string[]): string[] {
  return args.flatMap((a, i) =>
    a === '--audio' && (args[i + 1] ?? '--').startsWith('--') ? [a, 'on'] : [a],
  );
}

function options(): Options {
  const { values } = parseArgs({
    args: withAudioDefault(process.argv.slice(2)),
    options: {
      audio: { type: 'string', default: 'off' },
      quick: { type: 'boolean', default: false },
      targets: { type: 'string' },
      scenarios: { type: 'string' },
      window: { type: 'string' },
      warmup: { type: 'string' },
      profile: { type: 'boolean', default: false },
    },
  });
  const quick = values.quick ?? false;
  const pool = quick ? QUICK_SCENARIOS : ALL_SCENARIOS;
  const pick = <T>(
    list: string | undefined,
    all: readonly T[],
    name: (t: T) => string,
    what: string,
  ): T[] => {
    if (list === undefined) return [...all];
    return list.split(',').map((s) => {
      const found = all.find((t) => name(t) === s.trim());
      if (!found) throw new Error(`unknown ${what} "${s}": one of ${all.map(name).join(', ')}`);
      return found;
    });
  };
  const seconds = (v: string | undefined, dflt: number, flag: string) => {
    const n = v === undefined ? dflt : Number(v);
    if (!(n > 0 && n <= 600)) throw new Error(`--${flag} must be a number of seconds in (0, 600]`);
    return n;
  };
  const audio = values.audio as AudioMode;
  if (!AUDIO_MODES.includes(audio)) throw new Error(`--audio must be one of ${AUDIO_MODES.join(', ')}`);
  return {
    audio,
    scenarios: pick(values.scenarios, values.scenarios ? ALL_SCENARIOS : pool, (s) => s.name, 'scenario'),
    targets:
      values.targets === undefined ? [...DEFAULT_TARGETS] : pick(values.targets, TARGETS, (t) => t, 'target'),
    windowS: seconds(values.window, quick ? 3 : 10, 'window'),
    warmupS: seconds(values.warmup, quick ? 1 : 2, 'warmup'),
    profile: values.profile ?? false,
    quick,
  };
}

/**
 * The runs of one target: with and without audio per `--audio`. Only Framewire publishes audio here (the RTMP
 * peers' publishers send video only), so a peer runs once, without.
 */
function audioVariants(target: TargetName, mode: AudioMode): boolean[] {
  if (mode === 'off' || (target !== 'framewire-tcp' && target !== 'framewire-ws')) return [false];
  return mode === 'on' ? [true] : [false, true];
}

/** A free TCP port on 127.0.0.1 (for the peers, which cannot report the port they picked). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

interface RunningServer {
  pids: number[];
  endpoints: Endpoints;
  stop(): Promise<void>;
}

async function startTarget(target: TargetName, opts: Options, workDir: string): Promise<RunningServer> {
  if (target.startsWith('framewire-') || target === 'werift-whep') {
    const s = await startFramewire({
      repo: REPO,
      workDir,
      logFile: SERVER_LOG,
      profileDir: opts.profile ? path.join(RESULTS_DIR, 'profiles') : null,
      timeoutMs: SERVER_START_TIMEOUT_MS,
      // WebRTC on a free UDP port; its node-datachannel child process counts with the server (load.ts).
      extraConfig: WEBRTC_TARGETS.includes(target) ? { webrtcPort: 0 } : {},
    });
    if (target !== 'werift-whep') {
      return { pids: [s.pid], endpoints: { port: s.tcpPort, httpPort: s.httpPort }, stop: s.stop };
    }
    const sidecar = await startWeriftWhep(REPO, s.tcpPort, SERVER_LOG, SERVER_START_TIMEOUT_MS).catch(
      async (err: unknown) => {
        await s.stop();
        throw err;
      },
    );
    return {
      pids: [s.pid, sidecar.pid],
      endpoints: { port: s.tcpPort, httpPort: sidecar.httpPort },
      stop: async () => {
        await sidecar.stop();
        await s.stop();
      },
    };
  }
  const peers = await import('./peers/index.js');
  const rtmpPort = await freePort();
  if (target === 'nginx-rtmp') {
    const s = await peers.startNginxRtmp({ rtmpPort, workDir: path.join(workDir, 'nginx') });
    return { pids: [...s.pids], endpoints: { port: rtmpPort, httpPort: 0 }, stop: () => s.stop() };
  }
  const httpPort = await freePort();
  const s = await peers.startNodeMediaServer({ rtmpPort, httpPort });
  return { pids: [...s.pids], endpoints: { port: rtmpPort, httpPort }, stop: () => s.stop() };
}

/** Runs one load process, bounded by `budgetS`: past it the process is killed and the run recorded as failed. */
function runLoad(config: BenchLoadConfig, budgetS: number): Promise<BenchLoadResult> {
  const failed = (error: string): BenchLoadResult =>
    ({
      ok: false,
      error,
      target: config.target,
      scenario: config.scenario.name,
      withAudio: config.audioFile !== null,
    }) as BenchLoadResult;
  return new Promise((resolve) => {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', path.join(BENCH_DIR, 'load.ts'), JSON.stringify(config)],
      {
        cwd: REPO,
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    let out = '';
    let timedOut = false;
    child.stdout.setEncoding('utf8').on('data', (s: string) => {
      out += s;
    });
    const timer = setTimeout(() => {
      timedOut = true;
      if (child.pid !== undefined) process.kill(child.pid, 'SIGKILL');
    }, budgetS * 1000);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      const line = out.split('\n').find((l) => l.startsWith(RESULT_MARK));
      if (timedOut) resolve(failed(`load process overran its ${budgetS} s budget and was killed`));
      else if (!line) resolve(failed(`load process exited (${signal ?? code}) without a result`));
      else resolve(JSON.parse(line.slice(RESULT_MARK.length)) as BenchLoadResult);
    });
  });
}

async function runOne(
  scenario: Scenario,
  target: TargetName,
  opts: Options,
  clipFile: string,
  audioFile: string | null,
): Promise<BenchLoadResult> {
  const workDir = mkdtempSync(path.join(os.tmpdir(), 'framewire-bench-'));
  let server: RunningServer | null = null;
  try {
    server = await startTarget(target, opts, workDir);
    const subs = subscriptionCount(scenario);
    // A WebRTC player needs an ICE check and a DTLS handshake (werift's in JavaScript): 50 at once take longer.
    const connectTimeoutS = 20 + Math.ceil(subs / (WEBRTC_TARGETS.includes(target) ? 4 : 50));
    const config: BenchLoadConfig = {
      target,
      scenario,
      audioFile,
      endpoints: server.endpoints,
      serverPids: server.pids,
      clipFile,
      warmupS: opts.warmupS,
      windowS: opts.windowS,
      graceS: GRACE_S,
      connectTimeoutS,
    };
    const budgetS = 30 + connectTimeoutS * 2 + opts.warmupS + opts.windowS + GRACE_S;
    return await runLoad(config, budgetS);
  } catch (err) {
    return {
      ok: false,
      error: (err as Error).message,
      target,
      scenario: scenario.name,
      withAudio: audioFile !== null,
    } as BenchLoadResult;
  } finally {
    await server?.stop().catch(() => {});
    rmSync(workDir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const opts = options();
  mkdirSync(RESULTS_DIR, { recursive: true });
  // One log per `npm run bench`; each server run appends to it.
  writeFileSync(SERVER_LOG, '');
  const clipFile = ensureClip();
  const clip = loadClip(clipFile);
  /** What settings.clip says of a clip. */
  const clipInfo = (file: string, c: Clip) => ({
    file: path.relative(REPO, file),
    width: c.spec.width,
    height: c.spec.height,
    fps: c.fps,
    kbps: Math.round(c.kbps),
    frames: c.frames.length,
    keyframes: c.keyframes,
    codec: c.config.codec,
  });
  const audioFile = opts.audio === 'off' ? null : ensureAudioClip();
  const audio = audioFile ? loadAudioClip(audioFile) : null;
  const notes = audio ? [...NOTES, audioNote(audio.meanBytes, audio.kbps)] : NOTES;
  const machine = machineInfo();
  const settings = {
    windowS: opts.windowS,
    warmupS: opts.warmupS,
    graceS: GRACE_S,
    quick: opts.quick,
    profile: opts.profile,
    clip: clipInfo(clipFile, clip),
    audio: audio
      ? {
          mode: opts.audio,
          file: path.relative(REPO, audio.file),
          codec: audio.config.codec,
          sampleRate: audio.config.sampleRate,
          channels: audio.config.numberOfChannels,
          frameMs: AUDIO_FRAME_MS,
          packetSource: audio.source,
          packetMeanBytes: Math.round(audio.meanBytes * 10) / 10,
          kbps: Math.round(audio.kbps * 10) / 10,
        }
      : { mode: 'off' },
  };
  const audioLine = audio
    ? ` Audio ${opts.audio === 'both' ? 'off, then on' : 'on'} for Framewire: Opus 48 kHz mono, a frame every ${AUDIO_FRAME_MS} ms, ${audio.kbps.toFixed(1)} kbit/s (${audio.meanBytes.toFixed(1)} bytes mean, ${audio.source}).`
    : '';
  // Scenarios with a clip of their own (the 1080p60 screen): made once here, and named in the settings.
  const ownClips = new Map<string, { file: string; clip: Clip }>();
  for (const scenario of opts.scenarios) {
    const spec = clipOf(scenario);
    if (scenario.clip === undefined || ownClips.has(spec.name)) continue;
    const file = ensureClip(spec);
    ownClips.set(spec.name, { file, clip: loadClip(file, spec) });
  }
  const ownClipLine = [...ownClips.values()]
    .map(
      ({ clip: c }) =>
        ` The ${c.spec.what} scenario's clip: ${c.spec.width}x${c.spec.height} ${c.fps} fps H.264 ${Math.round(c.kbps)} kbit/s (${c.config.codec}), keyframe every 2 s.`,
    )
    .join('');
  const settingsLine = `Steady-state window ${opts.windowS} s after a ${opts.warmupS} s warm-up; clip 640x480 30 fps H.264 ${Math.round(clip.kbps)} kbit/s (${clip.config.codec}), keyframe every 2 s.${ownClipLine}${audioLine}`;
  console.log(`framewire bench: ${machine.cpuModel}, ${machine.cores} cores, node ${machine.node}`);
  console.log(settingsLine);
  const reports: ScenarioReport[] = [];
  for (const scenario of opts.scenarios) {
    const results: BenchLoadResult[] = [];
    const own = scenario.clip === undefined ? undefined : ownClips.get(scenario.clip);
    const scenarioClipFile = own?.file ?? clipFile;
    const scenarioSettings = own ? { ...settings, clip: clipInfo(own.file, own.clip) } : settings;
    for (const target of opts.targets) {
      if (WEBRTC_TARGETS.includes(target) && subscriptionCount(scenario) > MAX_WEBRTC_VIEWERS) {
        process.stderr.write(
          `${scenario.name} × ${target}: skipped (WebRTC runs stop at ${MAX_WEBRTC_VIEWERS} viewers: each is a peer connection of the load process)\n`,
        );
        continue;
      }
      for (const withAudio of audioVariants(target, opts.audio)) {
        process.stderr.write(`${scenario.name} × ${target}${withAudio ? ' +audio' : ''} ...\n`);
        const r = await runOne(scenario, target, opts, scenarioClipFile, withAudio ? audioFile : null);
        if (!r.ok) process.stderr.write(`  FAILED: ${r.error}\n`);
        results.push(r);
      }
    }
    const report: ScenarioReport = {
      scenario,
      machine,
      settings: scenarioSettings,
      results,
      ratios: ratios(results),
      audioRatios: audioRatios(results),
      notes,
    };
    reports.push(report);
    console.log(textTable(report));
    writeScenario(RESULTS_DIR, report);
  }
  const summary = writeSummary(RESULTS_DIR, reports, machine, settingsLine, notes);
  console.log(
    `\nwrote ${path.relative(REPO, RESULTS_DIR)}/<scenario>.json and ${path.relative(REPO, summary)}`,
  );
}

main().catch((err) => {
  console.error(`bench: ${err instanceof Error ? err.message : String(err)}`);
  process.exitCode = 1;
});
