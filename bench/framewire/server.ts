import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';

/** A Framewire server process under test. */
export interface FramewireServer {
  pid: number;
  tcpPort: number;
  httpPort: number;
  stop(): Promise<void>;
}

/**
 * Starts `bin/framewire serve` as its own process on free ports (what users run; never the
 * in-process startServer, whose CPU would mix with the load's). Its log goes to `logFile`.
 * All viewers of a run come from one address, so the per-IP connection limit is raised for the bench.
 * On a `host` other than 127.0.0.1 (the soak's, which a network namespace can reach) it listens there
 * in plain TCP and HTTP (`--no-tls`); `extraConfig` goes into its config file.
 */
export async function startFramewire(opts: {
  repo: string;
  workDir: string;
  logFile: string;
  profileDir: string | null;
  timeoutMs: number;
  host?: string;
  extraConfig?: Record<string, unknown>;
}): Promise<FramewireServer> {
  mkdirSync(opts.workDir, { recursive: true });
  const configFile = path.join(opts.workDir, 'framewire-bench.json');
  const config = { maxConnectionsPerIp: 10_000, ...opts.extraConfig };
  writeFileSync(configFile, `${JSON.stringify(config)}\n`);
  const hostArgs = opts.host
    ? ['--host', opts.host, '--no-tls', '--state-dir', path.join(opts.workDir, 'state')]
    : [];
  const bin = path.join(opts.repo, 'bin', 'framewire');
  // The launcher's own node flags (its shebang line) apply here as they do for users; --cpu-prof cannot
  // go through NODE_OPTIONS, so node is started directly with both.
  const nodeArgs = launcherNodeFlags(bin);
  if (opts.profileDir) {
    mkdirSync(opts.profileDir, { recursive: true });
    nodeArgs.push('--cpu-prof', '--cpu-prof-dir', opts.profileDir);
  }
  const child = spawn(
    process.execPath,
    [...nodeArgs, bin, 'serve', ...hostArgs, '--tcp-port', '0', '--http-port', '0', '--config', configFile],
    { cwd: opts.repo, stdio: ['ignore', 'pipe', openSync(opts.logFile, 'a')] },
  );
  const pid = child.pid;
  if (pid === undefined) throw new Error('could not start bin/framewire serve');
  let tcp = 0;
  const ports = await untilLine(
    child,
    (line) => {
      // `framewire listening on tcp://H:P`, then `framewire web app and API on http://H:P`.
      const m = /\b(tcp|http):\/\/\S+:(\d+)/.exec(line);
      if (m?.[1] === 'tcp') tcp = Number(m[2]);
      return m?.[1] === 'http' && tcp > 0 ? { tcp, http: Number(m[2]) } : undefined;
    },
    opts.timeoutMs,
    {
      late: `framewire serve did not print its ports within ${opts.timeoutMs} ms (log: ${opts.logFile})`,
      exited: (code) =>
        `framewire serve exited with ${code} before listening (log: ${opts.logFile}); run npm run build`,
    },
  );
  return { pid, tcpPort: ports.tcp, httpPort: ports.http, stop: () => stopProcess(child, 5000) };
}

/**
 * Resolves with what `match` makes of the first of `child`'s stdout lines it accepts. Rejects with
 * `errors.late` (and kills the child) after `timeoutMs`, or with `errors.exited` if it exits first.
 */
function untilLine<T>(
  child: ChildProcess,
  match: (line: string) => T | undefined,
  timeoutMs: number,
  errors: { late: string; exited: (code: number | null) => string },
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(errors.late));
    }, timeoutMs);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(errors.exited(code)));
    });
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
      const value = match(line);
      if (value === undefined) return;
      clearTimeout(timer);
      child.removeAllListeners('exit');
      resolve(value);
    });
  });
}

/** The node flags on the launcher's first line (`#!/usr/bin/env -S node FLAGS`). */
function launcherNodeFlags(bin: string): string[] {
  const first = readFileSync(bin, 'utf8').split('\n', 1)[0] ?? '';
  const m = /^#!.*\bnode((?:\s+--\S+)*)\s*$/.exec(first);
  if (!m)
    throw new Error(`${bin}: expected a first line like "#!/usr/bin/env -S node --flag", got "${first}"`);
  return (m[1] ?? '').trim().split(/\s+/).filter(Boolean);
}

/** SIGTERM (so a --cpu-prof profile is written), then SIGKILL after `graceMs`. */
export function stopProcess(child: ChildProcess, graceMs: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise<void>((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

/** The werift WHEP sidecar (werift-whep.ts) fed by a Framewire server: its process and HTTP port. */
export interface WeriftWhep {
  pid: number;
  httpPort: number;
  stop(): Promise<void>;
}

/**
 * Starts the werift WHEP sidecar against Framewire's TCP port `tcpPort` (stderr to `logFile`) and waits
 * for its `werift-whep listening on http://127.0.0.1:PORT` line.
 */
export async function startWeriftWhep(
  repo: string,
  tcpPort: number,
  logFile: string,
  timeoutMs: number,
): Promise<WeriftWhep> {
  const script = path.join(repo, 'bench', 'framewire', 'werift-whep.ts');
  const child = spawn(process.execPath, ['--import', 'tsx', script, String(tcpPort)], {
    cwd: repo,
    stdio: ['ignore', 'pipe', openSync(logFile, 'a')],
  });
  const pid = child.pid;
  if (pid === undefined) throw new Error('could not start the werift WHEP sidecar');
  const httpPort = await untilLine(
    child,
    (line) => {
      const m = /werift-whep listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(line);
      return m ? Number(m[1]) : undefined;
    },
    timeoutMs,
    {
      late: `werift-whep did not say where it listens within ${timeoutMs} ms (log: ${logFile})`,
      exited: (code) => `werift-whep exited with ${code} before listening (log: ${logFile})`,
    },
  );
  return { pid, httpPort, stop: () => stopProcess(child, 5000) };
}
