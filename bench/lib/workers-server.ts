import { spawn } from 'node:child_process';
import { createWriteStream, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { stopProcess } from '../framewire/server.js';

/** A `framewire serve [--workers N]` under test, with every process whose CPU counts as the server's. */
export interface WorkersServer {
  tcpPort: number;
  httpPort: number;
  /** The primary (or the one process), the workers and the nats-server the primary started. */
  pids: number[];
  /** Worker node name → pid; empty for one process. */
  nodes: Map<string, number>;
  stop(): Promise<void>;
}

/** How long a worker may take to finish after the primary asks (serve-workers' grace), plus a margin. */
const STOP_GRACE_MS = 15_000;

/**
 * Starts the real CLI (`bin/framewire serve`, `--workers N` when N > 1) on free ports and resolves once every
 * worker listens. The pids come from its log (`nats-started pid=`, `worker-listening ... pid=`), which goes
 * to `logFile`. All viewers come from 127.0.0.1 and watch one stream, so those two limits are raised.
 */
export async function startWorkersServer(opts: {
  repo: string;
  workDir: string;
  logFile: string;
  workers: number;
  timeoutMs: number;
}): Promise<WorkersServer> {
  mkdirSync(opts.workDir, { recursive: true });
  const configFile = path.join(opts.workDir, 'framewire-workers-bench.json');
  // The default maxViewersPerStream (2000) is per process: it would cap one process at 2000 and two workers
  // at 4000, and the bench would measure the setting instead of the machine.
  const config = { maxConnectionsPerIp: 20_000, maxViewersPerStream: 20_000 };
  writeFileSync(configFile, `${JSON.stringify(config)}\n`);
  const args = ['serve', '--tcp-port', '0', '--http-port', '0', '--config', configFile];
  if (opts.workers > 1) args.push('--workers', String(opts.workers));
  // The launcher itself (its shebang's `env -S node FLAGS` execs node): the pid is the primary's, and the
  // node flags are the ones users get.
  const child = spawn(path.join(opts.repo, 'bin', 'framewire'), args, {
    cwd: opts.repo,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  if (child.pid === undefined) throw new Error('could not start bin/framewire serve');
  const primary = child.pid;
  const log = createWriteStream(opts.logFile, { flags: 'a' });
  const nodes = new Map<string, number>();
  const helpers: number[] = [];
  let tcpPort = 0;
  let httpPort = 0;
  const stop = async () => {
    // SIGTERM to the primary stops its workers, then its nats-server; whatever is left after the grace
    // (ours, started through it) is killed by pid.
    await stopProcess(child, STOP_GRACE_MS);
    for (const pid of [...nodes.values(), ...helpers]) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone, as it should be
      }
    }
    log.end();
  };
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`serve did not listen within ${opts.timeoutMs} ms (log: ${opts.logFile})`)),
        opts.timeoutMs,
      );
      const check = () => {
        if (tcpPort > 0 && httpPort > 0 && (opts.workers === 1 || nodes.size === opts.workers)) {
          clearTimeout(timer);
          resolve();
        }
      };
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`serve exited (${code}) before listening (log: ${opts.logFile}); npm run build?`));
      });
      createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
        log.write(`${line}\n`);
        const m = /\b(tcp|http):\/\/\S+:(\d+)/.exec(line);
        if (m?.[1] === 'tcp') tcpPort = Number(m[2]);
        if (m?.[1] === 'http') httpPort = Number(m[2]);
        check();
      });
      createInterface({ input: child.stderr as NodeJS.ReadableStream }).on('line', (line) => {
        log.write(`${line}\n`);
        const w = /\bworker-listening worker=\d+ node=(\S+) pid=(\d+)/.exec(line);
        if (w) nodes.set(w[1] as string, Number(w[2]));
        const n = /\bnats-started .*\bpid=(\d+)/.exec(line);
        if (n) helpers.push(Number(n[1]));
        check();
      });
    });
  } catch (err) {
    await stop();
    throw err;
  }
  child.removeAllListeners('exit');
  return { tcpPort, httpPort, pids: [primary, ...nodes.values(), ...helpers], nodes, stop };
}
