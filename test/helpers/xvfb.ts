// A screen for tests on a machine that has none: a private Xvfb on a free display number, and a moving
// picture drawn on it by ffplay (a lavfi test pattern), for `publish --screen` to capture.
import { execFile, spawnSync } from 'node:child_process';
import type { Readable } from 'node:stream';
import { startDaemon } from './daemon.js';

/** A running Xvfb; `display` (`:N`) goes in DISPLAY or `--screen`. */
export interface VirtualScreen {
  readonly display: string;
  readonly width: number;
  readonly height: number;
  /** Ends the server (by its PID) and waits for it; safe to call twice. */
  stop(): Promise<void>;
}

/** A running ffplay window drawing a test pattern. */
export interface MovingPicture {
  /** Ends ffplay (by its PID) and waits for it; safe to call twice. */
  stop(): Promise<void>;
}

/** How long Xvfb may take to open its display, and ffplay to put its first picture on it. */
const START_TIMEOUT_MS = 10_000;

/**
 * Starts Xvfb with one `width`x`height` 24-bit screen on a free display number. Xvfb picks the number
 * itself (`-displayfd`: it tries successive numbers, skipping those with a lock file or a socket) and
 * writes it once the display accepts clients, so there is no race for the number and no polling for
 * readiness. Throws, saying what to install, when Xvfb is missing: a test that needs a screen must fail,
 * not skip.
 */
export async function startXvfb(width = 640, height = 360): Promise<VirtualScreen> {
  if (spawnSync('Xvfb', ['-help']).error) {
    throw new Error(
      'Xvfb not found: install it with `apt-get install xvfb` (or scripts/install-system-deps.sh)',
    );
  }
  const { child, stderr, stop } = startDaemon(
    'Xvfb',
    // -br: a black root window (a capture of nothing drawn is all black); no TCP, no access control
    // beyond the local socket's.
    ['-displayfd', '3', '-screen', '0', `${width}x${height}x24`, '-nolisten', 'tcp', '-br'],
    { stdio: ['ignore', 'ignore', 'pipe', 'pipe'] },
  );
  const number = await new Promise<string>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(
      () => reject(new Error(`Xvfb gave no display in time:\n${stderr()}`)),
      START_TIMEOUT_MS,
    );
    (child.stdio[3] as Readable).setEncoding('utf8').on('data', (s: string) => {
      out += s;
      const m = /^(\d+)\n/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1] as string);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`Xvfb exited (${code}) before opening a display:\n${stderr()}`));
    });
  }).catch(async (err: unknown) => {
    await stop();
    throw err;
  });
  return { display: `:${number}`, width, height, stop };
}

/**
 * Shows ffplay's window at the top left of `screen`, filling it with testsrc2 (moving shapes and a running
 * clock) at `fps`, and resolves once the picture is on the screen (a grab of it is no longer all black).
 */
export async function drawMovingPicture(screen: VirtualScreen, fps = 30): Promise<MovingPicture> {
  const { width, height, display } = screen;
  const { child, stderr, stop } = startDaemon(
    'ffplay',
    [
      ...['-hide_banner', '-loglevel', 'error', '-nostats', '-an', '-noborder', '-left', '0', '-top', '0'],
      ...['-f', 'lavfi', '-i', `testsrc2=size=${width}x${height}:rate=${fps}`],
    ],
    {
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { ...process.env, DISPLAY: display, SDL_VIDEODRIVER: 'x11' },
    },
  );
  const deadline = Date.now() + START_TIMEOUT_MS;
  for (;;) {
    if (child.exitCode !== null) {
      await stop();
      throw new Error(`ffplay could not draw on ${display}:\n${stderr()}`);
    }
    const grey = await grabGrey(display).catch(() => null);
    if (grey?.some((v) => v > 16)) return { stop };
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`ffplay drew nothing on ${display} within ${START_TIMEOUT_MS} ms:\n${stderr()}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** One grab of `display`, as grey bytes, by ffmpeg's x11grab. */
function grabGrey(display: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    execFile(
      'ffmpeg',
      [
        ...['-hide_banner', '-loglevel', 'error', '-f', 'x11grab', '-i', display],
        ...['-frames:v', '1', '-f', 'rawvideo', '-pix_fmt', 'gray', '-'],
      ],
      { encoding: 'buffer', maxBuffer: 64 * 1024 * 1024, timeout: 5000 },
      (err, stdout) => (err ? reject(err) : resolve(stdout)),
    );
  });
}
