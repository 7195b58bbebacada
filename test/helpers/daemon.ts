// A helper process a test starts and must end (Xvfb, ffplay, PulseAudio, nats-server): spawned with its
// stderr kept for error messages, killed if the test process exits first, and stopped by its PID.
import { type ChildProcess, type SpawnOptions, spawn } from 'node:child_process';

/** A running helper process. */
export interface Daemon {
  readonly child: ChildProcess;
  /** What it has written to stderr so far (for the error a test throws when it fails to start). */
  stderr(): string;
  /** Ends it (SIGTERM, then SIGKILL after 2 s) and waits for it to exit; safe to call twice. */
  stop(): Promise<void>;
}

/** How long a process may take to exit after SIGTERM before it is killed. */
const TERM_GRACE_MS = 2000;

/** Sends SIGTERM to `child` (SIGKILL after {@link TERM_GRACE_MS}) and waits for it to exit. */
export async function endProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), TERM_GRACE_MS);
  await exited;
  clearTimeout(timer);
}

/**
 * Spawns `command` with stderr piped (and kept) unless `options.stdio` says otherwise. A test that ends
 * without stopping it must not leave it behind (such daemons never exit by themselves), so the test
 * process's exit kills it.
 */
export function startDaemon(command: string, args: readonly string[], options: SpawnOptions = {}): Daemon {
  const child = spawn(command, args, { stdio: ['ignore', 'ignore', 'pipe'], ...options });
  const onExit = () => child.kill('SIGKILL');
  process.once('exit', onExit);
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (s: string) => {
    stderr += s;
  });
  return {
    child,
    stderr: () => stderr,
    stop: async () => {
      process.off('exit', onExit);
      await endProcess(child);
    },
  };
}
