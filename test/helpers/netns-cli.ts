// The real CLI on the "other machine": `framewire` commands run inside a test network namespace (netns.ts).
import type { ChildProcess } from 'node:child_process';
import { BIN, type Served, servedAt, started } from './cli.js';
import type { NetNs } from './netns.js';

/**
 * Runs `framewire args...` inside `ns`, as a process on the other machine; it joins {@link started}, so
 * killStarted ends it by PID. Its stdout is piped only when `readStdout`: a pipe nobody reads would fill up
 * and stall it. Its stderr is always piped, and read (add a listener to keep what it says).
 */
export function cliInNamespace(ns: NetNs, args: string[], readStdout = false): ChildProcess {
  const stdout = readStdout ? 'pipe' : 'ignore';
  const child = ns.exec(process.execPath, [BIN, ...args], { stdio: ['ignore', stdout, 'pipe'] });
  // Read, so that it never blocks on a full pipe; serve's is kept by servedAt for its error message.
  child.stderr?.resume();
  started.add(child);
  child.on('close', () => started.delete(child));
  return child;
}

/** `framewire serve` inside `ns` on the namespace's address, on free ports, with `extra` flags. */
export function serveInNamespace(ns: NetNs, extra: string[] = []): Promise<Served> {
  const args = ['serve', '--host', ns.nsAddr, '--tcp-port', '0', '--http-port', '0', ...extra];
  return servedAt(cliInNamespace(ns, args, true), ns.nsAddr);
}
