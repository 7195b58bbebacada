import { type ChildProcess, execFile, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before } from 'node:test';

// The real launcher, as a user runs it: it imports the compiled CLI from dist/.
export const ROOT = resolve(import.meta.dirname, '../..');
export const BIN = join(ROOT, 'bin/framewire');

/** How a finished command ended. */
export interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Every child started here and still running, so tests can end exactly those, by PID. */
export const started = new Set<ChildProcess>();

/** Builds dist/ when a test file is run on its own (`npm test` builds first), so no test runs a stale CLI. */
export function ensureBuilt(needs: string[] = ['dist/cli/main.js']): void {
  if (needs.every((p) => existsSync(join(ROOT, p)))) return;
  const build = spawnSync('npm', ['run', 'build'], { cwd: ROOT, stdio: 'inherit' });
  if (build.status !== 0) throw new Error('npm run build failed');
}

/** Runs `framewire args...` to completion (killed by PID at the deadline). */
export function run(
  args: string[],
  timeoutMs = 20_000,
  env: NodeJS.ProcessEnv = process.env,
): Promise<Result> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env });
    started.add(child);
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => {
      stdout += s;
    });
    child.stderr.setEncoding('utf8').on('data', (s: string) => {
      stderr += s;
    });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`framewire ${args.join(' ')} did not finish in ${timeoutMs} ms\n${stderr}`));
    }, timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      started.delete(child);
      resolvePromise({ code, stdout, stderr });
    });
  });
}

/** Starts `framewire args...` in the background (ended by the test, or by killStarted); stderr is kept. */
export function startCli(
  args: string[],
  env: NodeJS.ProcessEnv = process.env,
): { child: ChildProcess; stderr: () => string } {
  const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'ignore', 'pipe'], env });
  started.add(child);
  child.on('close', () => started.delete(child));
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (s: string) => {
    stderr += s;
  });
  return { child, stderr: () => stderr };
}

/** A `framewire serve` child and the ports it printed. */
export interface Served {
  child: ChildProcess;
  port: number;
  httpPort: number;
  /** True when serve printed tls:// (and https://). */
  tls: boolean;
  /** What serve has written to stderr so far (its log). */
  stderr(): string;
  /** What serve has printed on stdout so far (its addresses). */
  stdout(): string;
}

/**
 * Starts `framewire serve` (on free ports unless given) and reads both ports from its first lines, in
 * their plain (tcp://, http://) or TLS (tls://, https://) form; `extra` flags go after the ports.
 */
export function serve(
  ports: { tcp: number; http: number } = { tcp: 0, http: 0 },
  env: NodeJS.ProcessEnv = process.env,
  extra: string[] = [],
): Promise<Served> {
  const args = [BIN, 'serve', '--tcp-port', String(ports.tcp), '--http-port', String(ports.http), ...extra];
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], env });
  started.add(child);
  return servedAt(child, '127.0.0.1');
}

/**
 * Reads the ports a `framewire serve` child listening on `host` prints on its first lines (the child must
 * have piped stdout and stderr); rejects with its stderr if it exits or prints nothing in time. Forgets the
 * child in {@link started} once it has exited.
 */
export function servedAt(child: ChildProcess, host: string): Promise<Served> {
  const at = host.replace(/[.[\]]/g, '\\$&');
  return new Promise((resolvePromise, reject) => {
    let out = '';
    let err = '';
    child.stderr?.setEncoding('utf8').on('data', (s: string) => {
      err += s;
    });
    const timer = setTimeout(() => reject(new Error(`serve printed no address in time\n${err}`)), 10_000);
    child.stdout?.setEncoding('utf8').on('data', (s: string) => {
      out += s;
      const tcp = new RegExp(`^framewire listening on (tcp|tls)://${at}:(\\d+)$`, 'm').exec(out);
      const http = new RegExp(`^framewire web app and API on https?://${at}:(\\d+)$`, 'm').exec(out);
      if (tcp && http) {
        clearTimeout(timer);
        resolvePromise({
          child,
          port: Number(tcp[2]),
          httpPort: Number(http[1]),
          tls: tcp[1] === 'tls',
          stderr: () => err,
          stdout: () => out,
        });
      }
    });
    child.on('close', (code) => {
      started.delete(child);
      clearTimeout(timer);
      reject(new Error(`serve exited with ${code}\n${err}`));
    });
  });
}

/** Resolves with the child's exit code once it has exited. */
export function exited(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((r) => child.once('exit', (code) => r(code)));
}

/** Ends every child this module started (by PID) and waits for them. */
export async function killStarted(): Promise<void> {
  for (const child of started) {
    child.kill('SIGKILL');
    await exited(child);
  }
}

/** Codec name and decoded frame count of a recording, read by ffprobe (which decodes every frame). */
export function probe(path: string): Promise<{ codec: string; frames: number }> {
  return new Promise((resolvePromise, reject) => {
    execFile(
      'ffprobe',
      [
        '-v',
        'error',
        '-count_frames',
        '-select_streams',
        'v:0',
        '-show_entries',
        'stream=codec_name,nb_read_frames',
        '-of',
        'json',
        path,
      ],
      (err, stdout, stderr) => {
        if (err) return reject(new Error(`ffprobe ${path}: ${stderr}`));
        const stream = (JSON.parse(stdout) as { streams: { codec_name: string; nb_read_frames: string }[] })
          .streams[0];
        if (!stream) return reject(new Error(`no video stream in ${path}`));
        resolvePromise({ codec: stream.codec_name, frames: Number(stream.nb_read_frames) });
      },
    );
  });
}

/** Polls `probe` every 100 ms until it returns a value or `ms` passes. */
export async function poll<T>(
  probeFn: () => Promise<T | undefined | false> | T | undefined | false,
  ms: number,
  what: string,
): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await probeFn();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Options of {@link publishTestPattern}. */
export interface TestPatternOptions {
  codec?: 'vp8' | 'h264';
  durationSec: number;
  /** Small and slow by default, so several can run on a 2-core machine. */
  size?: string;
  fps?: number;
  /** Passed as --token. */
  token?: string;
  /** Passed as --server instead of `127.0.0.1:port`, e.g. `tls://127.0.0.1:P`. */
  server?: string;
  /** Passed as --ca. */
  ca?: string;
}

/** Runs `framewire publish --test-pattern` as stream `name` of `room` until its duration ends. */
export function publishTestPattern(
  port: number,
  room: string,
  name: string,
  o: TestPatternOptions,
): Promise<Result> {
  const server = o.server ?? `127.0.0.1:${port}`;
  const args = ['publish', '--server', server, '--room', room, '--name', name, '--test-pattern'];
  args.push('--codec', o.codec ?? 'vp8', '--size', o.size ?? '320x240', '--fps', String(o.fps ?? 15));
  args.push('--duration', String(o.durationSec));
  if (o.token) args.push('--token', o.token);
  if (o.ca) args.push('--ca', o.ca);
  return run(args, (o.durationSec + 20) * 1000);
}

/**
 * A temporary folder for one test file: made before its tests (after building dist/ when `build`), removed
 * after them once every CLI child they started has been ended. A getter, since the folder exists from
 * `before` on.
 */
export function tempDirForFile(prefix: string, opts: { build?: boolean } = {}): () => string {
  let dir = '';
  before(() => {
    if (opts.build) ensureBuilt();
    dir = mkdtempSync(join(tmpdir(), prefix));
  });
  after(async () => {
    await killStarted();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });
  return () => dir;
}
