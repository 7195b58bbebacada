// A nats-server of our own, for `serve --workers` when no --cluster names one: the workers of one machine
// need a NATS to coordinate through, and a person who asked for two cores should not have to run one.
// It is Debian's (or any) `nats-server` binary, never a home-made broker.
import { type ChildProcess, spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import { ClusterError } from './config.js';

/** How long nats-server may take to say it is ready (JetStream included). */
const READY_TIMEOUT_MS = 10_000;
/** How long it may take to exit after SIGTERM before it is killed. */
const STOP_GRACE_MS = 2000;
/** How much of its log is kept for an error message. */
const LOG_KEPT_CHARS = 4000;
/** Where packages put it when PATH lacks the folder (Debian: /usr/sbin, not on a user's PATH). */
const USUAL_DIRS = ['/usr/sbin', '/usr/local/sbin', '/usr/local/bin', '/usr/bin'];

/** A running nats-server with JetStream. */
export interface NatsProcess {
  /** `nats://127.0.0.1:PORT`. */
  readonly url: string;
  readonly port: number;
  readonly child: ChildProcess;
  /** Resolves when the process has exited (stopped, killed or crashed). */
  readonly exited: Promise<void>;
  /** SIGTERM, then SIGKILL after a grace; resolves once it has exited. Safe to call twice. */
  stop(): Promise<void>;
}

/** The nats-server binary: $FRAMEWIRE_NATS_SERVER, else the first on PATH or in the usual folders; null if none. */
export function findNatsServer(env: NodeJS.ProcessEnv = process.env): string | null {
  if (env.FRAMEWIRE_NATS_SERVER) return env.FRAMEWIRE_NATS_SERVER;
  const dirs = [...(env.PATH ?? '').split(delimiter).filter((d) => d !== ''), ...USUAL_DIRS];
  for (const dir of dirs) {
    const file = join(dir, 'nats-server');
    try {
      accessSync(file, constants.X_OK);
      return file;
    } catch {
      // Not here: the next folder.
    }
  }
  return null;
}

/**
 * Starts `nats-server -js` on 127.0.0.1 (`port`, or any free one when 0) with its JetStream store in
 * `storeDir` and `extraArgs` (e.g. `--user U --pass P`); resolves once its log says it is ready. Killed
 * with this process if it exits first.
 */
export async function startNatsServer(
  bin: string,
  storeDir: string,
  port = 0,
  extraArgs: readonly string[] = [],
): Promise<NatsProcess> {
  // -p -1: nats-server picks a free port itself and logs it, so no port is raced for.
  const args = [
    '-a',
    '127.0.0.1',
    '-p',
    port === 0 ? '-1' : String(port),
    '-js',
    '-sd',
    storeDir,
    ...extraArgs,
  ];
  const child = spawn(bin, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  const killWithUs = () => child.kill('SIGKILL');
  process.once('exit', killWithUs);
  const exited = new Promise<void>((resolve) =>
    child.once('exit', () => {
      process.off('exit', killWithUs);
      resolve();
    }),
  );
  let log = '';
  let ready = false;
  const listening = new Promise<number>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new ClusterError('FW_CLUSTER_UNREACHABLE', `${bin} not ready within 10 s: ${log}`)),
      READY_TIMEOUT_MS,
    );
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(new ClusterError('FW_CLUSTER_UNREACHABLE', `cannot start ${bin}: ${err.message}`));
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new ClusterError('FW_CLUSTER_UNREACHABLE', `${bin} exited (${code ?? signal}): ${log}`));
    });
    child.stderr?.setEncoding('utf8').on('data', (text: string) => {
      // Read to the end (an unread pipe would stall it), kept only until it is ready.
      if (ready) return;
      log = (log + text).slice(-LOG_KEPT_CHARS);
      const at = /Listening for client connections on [^\s]*:(\d+)/.exec(log);
      // JetStream is ready a moment after the port opens; the log says so.
      if (at && log.includes('Server is ready')) {
        ready = true;
        clearTimeout(timer);
        resolve(Number(at[1]));
      }
    });
  });
  let stopping: Promise<void> | null = null;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
      await exited;
      clearTimeout(timer);
    })();
    return stopping;
  };
  let actualPort: number;
  try {
    actualPort = await listening;
  } catch (err) {
    await stop();
    throw err;
  }
  return { url: `nats://127.0.0.1:${actualPort}`, port: actualPort, child, exited, stop };
}
