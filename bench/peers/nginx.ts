/** nginx with the RTMP module as a benchmark peer: our config in a temp dir, one worker. */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { childPids, stopProcesses } from './processes.js';
import type { PeerServer } from './server.js';
import { PeerStartError } from './server.js';
import { waitForPort } from './wait-port.js';

const NGINX = '/usr/sbin/nginx';
const RTMP_MODULE = '/usr/lib/nginx/modules/ngx_rtmp_module.so';
const START_TIMEOUT_MS = 10_000;

/**
 * The config a sensible low-latency operator would run, module defaults unless said otherwise:
 * - worker_processes 1: nginx-rtmp's live module shares streams only within a worker (without
 *   rtmp_auto_push), and one core is what we compare against one Node process.
 * - live on, record off: relay only, no disk.
 * - wait_key on: a new player starts at a keyframe, so it can decode its first frame. nginx-rtmp has no GOP
 *   cache, so a player joining mid-GOP waits for the next keyframe (up to one GOP, 2 s at -g 60 / 30 fps).
 * - wait_video on: do not send audio before the first video frame (we publish video only anyway).
 * - chunk_size 4096 (the default) outgoing; the publisher sets its own 65536 for what it sends.
 * - max_message 16M: the 1M default would drop the publisher on a large 4K keyframe.
 * - ack_window 5000000, ping 60s / ping_timeout 30s, out_queue 256, out_cork 32: defaults, kept so the
 *   comparison is with stock nginx-rtmp; our players answer pings and send acknowledgements.
 * - worker_connections 4096 / worker_rlimit_nofile 8192: room for 1000+ players plus the publisher.
 */
function config(host: string, port: number, workDir: string): string {
  return `# Written by bench/peers/nginx.ts; see the comment there for why each setting.
load_module ${RTMP_MODULE};
daemon off;
master_process on;
worker_processes 1;
worker_rlimit_nofile 8192;
pid ${path.join(workDir, 'nginx.pid')};
error_log ${path.join(workDir, 'error.log')} warn;

events {
  worker_connections 4096;
}

rtmp {
  server {
    listen ${host}:${port};
    chunk_size 4096;
    max_message 16M;

    application live {
      live on;
      record off;
      wait_key on;
      wait_video on;
    }
  }
}
`;
}

/**
 * Starts nginx-rtmp on host:rtmpPort (host 127.0.0.1 unless given: the slow-link bench listens on a veth
 * address) with its files in workDir; resolves when the port accepts connections.
 */
export async function startNginxRtmp(opts: {
  rtmpPort: number;
  workDir: string;
  host?: string;
}): Promise<PeerServer> {
  const host = opts.host ?? '127.0.0.1';
  for (const file of [NGINX, RTMP_MODULE]) {
    if (!existsSync(file)) {
      throw new PeerStartError(
        'FW_BENCH_PEER_MISSING',
        `${file} not found: install with scripts/install-bench-deps.sh`,
      );
    }
  }
  await mkdir(opts.workDir, { recursive: true });
  const confPath = path.join(opts.workDir, 'nginx.conf');
  const errorLog = path.join(opts.workDir, 'error.log');
  await writeFile(confPath, config(host, opts.rtmpPort, opts.workDir));
  // -e: the compiled-in error log (/var/log/nginx) is opened before the config is read; keep it ours.
  const child = spawn(NGINX, ['-p', opts.workDir, '-c', confPath, '-e', errorLog], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (s: string) => {
    stderr += s;
  });
  const master = child.pid;
  if (master === undefined) {
    await once(child);
    throw new PeerStartError('FW_BENCH_PEER_START', `could not spawn ${NGINX}: ${stderr}`);
  }
  const died = async (): Promise<Error> => {
    const log = await readFile(errorLog, 'utf8').catch(() => '');
    return new PeerStartError(
      'FW_BENCH_PEER_START',
      `nginx exited during start-up (code ${child.exitCode}): ${(stderr + log).trim() || 'no output'}`,
    );
  };
  let workers: number[] = [];
  try {
    await waitForPort(opts.rtmpPort, {
      host,
      timeoutMs: START_TIMEOUT_MS,
      alive: () => (child.exitCode !== null ? new Error('exited') : null),
    });
    // The master listens before it forks the worker; wait for the worker so pids are complete.
    const deadline = Date.now() + START_TIMEOUT_MS;
    for (;;) {
      workers = childPids(master);
      if (workers.length > 0) break;
      if (child.exitCode !== null) throw new Error('exited');
      if (Date.now() > deadline) throw new PeerStartError('FW_BENCH_PEER_START', 'nginx started no worker');
      await sleep(10);
    }
  } catch (err) {
    await stopProcesses(child, childPids(master), 'SIGTERM', 2000);
    throw child.exitCode !== null && !(err instanceof PeerStartError) ? await died() : err;
  }
  const pids = [master, ...workers];
  let stopping: Promise<void> | null = null;
  return {
    pids,
    // SIGTERM is nginx's fast stop: SIGQUIT (graceful) would wait for every player to disconnect.
    stop: () => {
      stopping ??= stopProcesses(child, workers, 'SIGTERM');
      return stopping;
    },
  };
}

function once(child: ReturnType<typeof spawn>): Promise<void> {
  return new Promise((resolve) => child.once('close', () => resolve()));
}
