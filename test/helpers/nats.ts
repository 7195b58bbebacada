import type { ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findNatsServer, startNatsServer } from '../../src/server/cluster/nats-process.js';
import { startDaemon } from './daemon.js';

/** Debian's package puts the server in /usr/sbin (`apt-get install nats-server`). */
const NATS_BIN = process.env.NATS_SERVER ?? findNatsServer() ?? 'nats-server';

/** A nats-server started for one test file, on a free loopback port with its own JetStream store. */
export interface NatsServer {
  url: string;
  port: number;
  /** Kills this server with SIGKILL (by its pid), keeping its store, as a crash would. */
  kill(): Promise<void>;
  /** Starts it again on the same port with the same store; resolves once it is ready. */
  restart(): Promise<void>;
  /** Kills this server (by its pid) and removes its store. */
  stop(): Promise<void>;
}

/**
 * Starts `nats-server -js` on a free port of 127.0.0.1 with a temporary store (and `extraArgs`, such as
 * credentials); resolves once it accepts.
 */
export async function startNats(extraArgs: readonly string[] = []): Promise<NatsServer> {
  const port = await freePort();
  const dir = await mkdtemp(join(tmpdir(), 'fw-nats-'));
  let running = await spawnNats(port, dir, extraArgs);
  const kill = async () => {
    const { child, exited } = running;
    if (child.exitCode === null && child.signalCode === null && child.pid !== undefined)
      process.kill(child.pid, 'SIGKILL');
    await exited;
  };
  return {
    url: `nats://127.0.0.1:${port}`,
    port,
    kill,
    async restart() {
      await kill();
      running = await spawnNats(port, dir, extraArgs);
    },
    async stop() {
      await kill();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Runs nats-server on `port` with its store in `dir` (the product's own launcher); resolves once ready. */
async function spawnNats(
  port: number,
  dir: string,
  extraArgs: readonly string[],
): Promise<{ child: ChildProcess; exited: Promise<void> }> {
  try {
    return await startNatsServer(NATS_BIN, dir, port, extraArgs);
  } catch (err) {
    throw new Error(`${(err as Error).message} (apt-get install nats-server)`);
  }
}

/** A port that was free a moment ago (listen on 0, read it, close). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

/** A cluster node running in a child process (test/helpers/cluster-node.ts). */
export interface ChildNode {
  tcpPort: number;
  httpPort: number;
  /** Kills the node with SIGKILL (no goodbye: its presence and directory entries stay behind). */
  kill(): Promise<void>;
}

/** Starts a cluster node named `nodeName` in its own process; resolves once it listens. */
export async function startChildNode(
  natsUrl: string,
  nodeName: string,
  env: NodeJS.ProcessEnv = {},
): Promise<ChildNode> {
  const script = join(import.meta.dirname, 'cluster-node.ts');
  const { child, stderr } = startDaemon(process.execPath, ['--import', 'tsx', script, natsUrl, nodeName], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let out = '';
  const ports = await new Promise<{ tcpPort: number; httpPort: number }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`node ${nodeName} did not start: ${stderr()}`)), 20_000);
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      const line = out.split('\n')[0];
      if (out.includes('\n') && line) {
        clearTimeout(timer);
        resolve(JSON.parse(line));
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`node ${nodeName} exited (${code}): ${stderr()}`));
    });
  });
  return {
    ...ports,
    async kill() {
      if (child.exitCode === null && child.signalCode === null && child.pid !== undefined)
        process.kill(child.pid, 'SIGKILL');
      await exited;
    },
  };
}
