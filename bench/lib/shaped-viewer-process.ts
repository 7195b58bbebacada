import type { ChildProcess } from 'node:child_process';
import path from 'node:path';
import { createInterface } from 'node:readline';
import type { NetNs } from '../../test/helpers/netns.js';
import { stopProcess } from '../framewire/server.js';

/** One line the shaped viewer prints a second. */
export interface ShapedSecond {
  /** Date.now() when printed. */
  at: number;
  /** Seconds since its previous line (the fps denominator). */
  seconds: number;
  /** Capture-to-arrival latency of each live frame that arrived in that second, ms. */
  latencies: number[];
  /** Frames received, catch-up included. */
  frames: number;
  keyframes: number;
  /** Frames of its catch-up on joining (the cached GOP, captured before it subscribed): no latency taken. */
  catchUp: number;
  /** Frames skipped by the relay at the live edge (gaps in the sequence). */
  drops: number;
  /** Frames skipped right after its catch-up on joining. */
  joinDrops: number;
  /** Gaps that did not end on a keyframe (a policy violation). */
  violations: number;
  /** The link state the relay last told it. */
  link: string;
  /** True while it has the stream (connected and subscribed). */
  watching: boolean;
  /** Connections it had to make again since it started, and why the last one ended. */
  reconnects: number;
  failure: string | null;
}

/** The shaped viewer, running in the namespace. */
export interface ShapedViewerProcess {
  readonly pid: number;
  /** The last lines it wrote to stderr (why it failed, if it did). */
  stderr(): string;
  /** Ends it by its PID: SIGTERM, then SIGKILL after a grace period. */
  stop(): Promise<void>;
}

/**
 * Starts bench/lib/shaped-viewer.ts inside `ns` (`ip netns exec` execs node, so the PID is the viewer's),
 * watching `room/name` on `host:port` for at most `seconds`, and hands each of its per-second lines to
 * `onSecond`. It also ends when our end of its stdin closes, so a killed soak does not leave it running.
 */
export function startShapedViewer(
  ns: NetNs,
  opts: { repo: string; host: string; port: number; room: string; name: string; seconds: number },
  onSecond: (s: ShapedSecond) => void,
): ShapedViewerProcess {
  const script = path.join(opts.repo, 'bench', 'lib', 'shaped-viewer.ts');
  const args = ['--import', 'tsx', script, '--host', opts.host, '--port', String(opts.port)];
  args.push('--room', opts.room, '--name', opts.name, '--seconds', String(Math.ceil(opts.seconds)));
  const child: ChildProcess = ns.exec(process.execPath, args, {
    cwd: opts.repo,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const pid = child.pid;
  if (pid === undefined) throw new Error(`could not start the shaped viewer in namespace ${ns.name}`);
  let errText = '';
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (s: string) => {
    // Only the tail: what it says last is why it stopped.
    errText = (errText + s).slice(-4000);
  });
  createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
    try {
      onSecond(JSON.parse(line) as ShapedSecond);
    } catch {
      errText = `${errText}\nnot a stats line: ${line}`.slice(-4000);
    }
  });
  return {
    pid,
    stderr: () => errText,
    stop: () => {
      child.stdin?.end();
      return stopProcess(child, 3000);
    },
  };
}
