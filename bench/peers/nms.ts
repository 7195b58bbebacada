/** node-media-server v4 as a benchmark peer, in its own Node process (nms-launcher.mjs). */
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { stopProcesses } from './processes.js';
import { type PeerServer, PeerStartError } from './server.js';
import { waitForPort } from './wait-port.js';

const LAUNCHER = fileURLToPath(new URL('./nms-launcher.mjs', import.meta.url));
const START_TIMEOUT_MS = 15_000;
/** Enough of its output to explain a failed start without keeping a growing log in memory. */
const OUTPUT_TAIL = 4096;

/**
 * Starts node-media-server with RTMP on rtmpPort and HTTP-FLV on httpPort, both on host (127.0.0.1 unless
 * given: the slow-link bench listens on a veth address); resolves when both accept connections.
 */
export async function startNodeMediaServer(opts: {
  rtmpPort: number;
  httpPort: number;
  host?: string;
}): Promise<PeerServer> {
  const host = opts.host ?? '127.0.0.1';
  try {
    createRequire(import.meta.url).resolve('node-media-server');
  } catch {
    throw new PeerStartError('FW_BENCH_PEER_MISSING', 'node-media-server not found: run npm install');
  }
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'framewire-bench-nms-'));
  const child = spawn(
    process.execPath,
    [LAUNCHER, String(opts.rtmpPort), String(opts.httpPort), dataDir, host],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let output = '';
  const keep = (s: string): void => {
    output = (output + s).slice(-OUTPUT_TAIL);
  };
  child.stdout?.setEncoding('utf8').on('data', keep);
  child.stderr?.setEncoding('utf8').on('data', keep);
  const cleanup = async (): Promise<void> => {
    await stopProcesses(child, [], 'SIGTERM');
    await rm(dataDir, { recursive: true, force: true });
  };
  try {
    const alive = (): Error | null =>
      child.exitCode !== null || child.signalCode !== null
        ? new PeerStartError(
            'FW_BENCH_PEER_START',
            `node-media-server exited during start-up (code ${child.exitCode}): ${output.trim() || 'no output'}`,
          )
        : null;
    await waitForPort(opts.rtmpPort, { host, timeoutMs: START_TIMEOUT_MS, alive });
    await waitForPort(opts.httpPort, { host, timeoutMs: START_TIMEOUT_MS, alive });
  } catch (err) {
    await cleanup();
    throw err;
  }
  const pid = child.pid as number;
  let stopping: Promise<void> | null = null;
  return {
    pids: [pid],
    stop: () => {
      stopping ??= cleanup();
      return stopping;
    },
  };
}
