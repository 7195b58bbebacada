import { type ChildProcess, spawn } from 'node:child_process';

/** A container a pushed publisher sends, as ffmpeg's `-f` names it, and the prefix of its stream names. */
const CONTAINERS = [
  { format: 'mpegts', prefix: 'ts' },
  { format: 'matroska', prefix: 'mkv' },
] as const;

/** A restarting pusher pushes for 60–180 s, then is off for 2–5 s, like a camera that reconnects. */
const LIFE_MS = [60_000, 180_000] as const;
const PAUSE_MS = [2000, 5000] as const;
/** Error messages kept for the report: enough to say what went wrong, bounded however long the run. */
const ERRORS_KEPT = 20;

const rand = (lo: number, hi: number) => lo + Math.random() * (hi - lo);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Where the pushers send, what, how many, and until when. */
export interface SoakPushersOptions {
  host: string;
  httpPort: number;
  room: string;
  /** The bench clip (FLV, H.264), looped and sent with `-c copy`. */
  clipFile: string;
  /** Pushers per container (MPEG-TS and Matroska each). */
  perContainer: number;
  /** Of those, how many restart now and then (the rest push for the whole run). */
  restarting: number;
  /** Date.now() at which every pusher ends. */
  until: number;
}

/**
 * Pushed publishers: ffmpeg processes sending the bench clip in real time (`-re`, looped, `-c copy`) to
 * `/ingest/<room>/<name>`, as MPEG-TS (`ts-0`, `ts-1`…) and Matroska (`mkv-0`…), the way a camera is
 * pushed. The steady ones push for the whole run (again if a push fails); the last `restarting` of each
 * container end now and then and push again under the same name. Each ffmpeg ends its body itself (`-t`)
 * at `until`.
 */
export class SoakPushers {
  readonly totals = { sessions: 0, failures: 0 };
  readonly errorMessages: string[] = [];
  /** Names of the pushers that push for the whole run. */
  readonly steadyNames: string[] = [];
  online = 0;
  private readonly running = new Set<ChildProcess>();
  private stopped = false;

  constructor(private readonly opts: SoakPushersOptions) {
    for (const { prefix } of CONTAINERS) {
      for (let k = 0; k < opts.perContainer - opts.restarting; k++) this.steadyNames.push(`${prefix}-${k}`);
    }
  }

  /** Runs every pusher until `until`; resolves when all have ended. */
  async run(): Promise<void> {
    const slots: Promise<void>[] = [];
    for (const { format, prefix } of CONTAINERS) {
      for (let k = 0; k < this.opts.perContainer; k++) {
        const name = `${prefix}-${k}`;
        const restarts = k >= this.opts.perContainer - this.opts.restarting;
        // Started apart, so the workers do not all boot at once.
        slots.push(sleep(slots.length * 300).then(() => this.slot(format, name, restarts)));
      }
    }
    await Promise.all(slots);
  }

  /** Ends every ffmpeg still running (SIGTERM: it ends its body), and waits for them to exit. */
  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all(
      [...this.running].map(
        (child) =>
          new Promise<void>((resolve) => {
            if (child.exitCode !== null || child.signalCode !== null) return resolve();
            const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
            child.once('exit', () => {
              clearTimeout(timer);
              resolve();
            });
            child.kill('SIGTERM');
          }),
      ),
    );
  }

  /**
   * One pusher's run: a restarting one pushes for 1-3 min at a time; a steady one for the rest of the run,
   * and again after a second if its push failed (as a camera would), so it is not lost for the run.
   */
  private async slot(format: string, name: string, restarts: boolean): Promise<void> {
    while (!this.stopped && Date.now() < this.opts.until - 1000) {
      const left = this.opts.until - Date.now();
      const life = restarts ? Math.min(left, rand(...LIFE_MS)) : left;
      await this.pushOnce(format, name, life);
      const pause = restarts ? rand(...PAUSE_MS) : 1000;
      await sleep(Math.min(pause, Math.max(0, this.opts.until - Date.now())));
    }
  }

  /** One ffmpeg, pushing for `ms`; its failure (a non-zero exit before the end) is counted and kept. */
  private pushOnce(format: string, name: string, ms: number): Promise<void> {
    const { host, httpPort, room, clipFile } = this.opts;
    const url = `http://${host}:${httpPort}/ingest/${room}/${name}`;
    const args = ['-hide_banner', '-loglevel', 'error', '-nostdin', '-re', '-stream_loop', '-1'];
    args.push(
      '-i',
      clipFile,
      '-t',
      (ms / 1000).toFixed(1),
      '-c',
      'copy',
      '-f',
      format,
      '-method',
      'PUT',
      url,
    );
    const child = spawn('ffmpeg', args, { stdio: ['ignore', 'ignore', 'pipe'] });
    this.running.add(child);
    this.totals.sessions++;
    this.online++;
    let stderr = '';
    child.stderr?.on('data', (d: Buffer) => {
      stderr = (stderr + d.toString()).slice(-500);
    });
    return new Promise((resolve) => {
      const done = (failure: string | null) => {
        this.running.delete(child);
        this.online--;
        if (failure !== null && !this.stopped) this.error(`pusher ${name}: ${failure}`);
        resolve();
      };
      child.once('error', (err) => done(`cannot run ffmpeg (${err.message})`));
      child.once('exit', (code, signal) =>
        done(code === 0 ? null : `ffmpeg exited with ${code ?? signal}: ${stderr.trim() || 'no message'}`),
      );
    });
  }

  private error(message: string): void {
    this.totals.failures++;
    if (this.errorMessages.length < ERRORS_KEPT) this.errorMessages.push(message);
  }
}
