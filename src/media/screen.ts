import { existsSync } from 'node:fs';
import { MediaError } from './errors.js';

/** A rectangle of the screen (or of the window) to capture, in pixels from its top left corner. */
export interface ScreenRegion {
  width: number;
  height: number;
  x: number;
  y: number;
}

/**
 * An X11 display captured with ffmpeg's x11grab: the whole screen, one window (`windowId`), or a region
 * of either.
 */
export interface ScreenInput {
  kind: 'screen';
  /** The X display, e.g. `:0` or `:99.0` (what DISPLAY holds). */
  display: string;
  /** An X window id (xwininfo prints it): only that window is captured. */
  windowId?: number;
  region?: ScreenRegion;
}

/**
 * The x11grab input arguments for `input` at `fps`. Without a region x11grab takes the size of the screen
 * (or of the window) itself, so a screen is sent at its own resolution unless a size is asked for.
 */
export function screenInputArgs(input: ScreenInput, fps: string): string[] {
  const args = ['-f', 'x11grab', '-framerate', fps];
  if (input.windowId !== undefined) args.push('-window_id', String(input.windowId));
  let url = input.display;
  if (input.region) {
    const { width, height, x, y } = input.region;
    args.push('-video_size', `${width}x${height}`);
    // x11grab reads the region's offset from the input name: DISPLAY+X,Y.
    url += `+${x},${y}`;
  }
  args.push('-i', url);
  return args;
}

/**
 * The filters a captured screen needs before it is encoded: 4:2:0 encoders take only even sizes, and a
 * window (or a screen) can be odd, so an odd last column or row is cropped off; `size` scales it.
 */
export function screenFilters(size: { width?: number; height?: number }): string[] {
  const filters = ['crop=trunc(iw/2)*2:trunc(ih/2)*2'];
  if (size.width !== undefined || size.height !== undefined) {
    filters.push(`scale=${size.width ?? -2}:${size.height ?? -2}`);
  }
  return filters;
}

/**
 * A fast, clear error for a local display (`:N`) with no X server behind it, before ffmpeg is spawned;
 * null when it exists or cannot be checked here (a remote `host:N`, which ffmpeg reports itself).
 */
export function screenPreflight(input: ScreenInput, socketDir = '/tmp/.X11-unix'): MediaError | null {
  const local = /^:(\d+)(?:\.\d+)?$/.exec(input.display);
  if (!local) return null;
  if (existsSync(`${socketDir}/X${local[1]}`)) return null;
  return displayMissing(input.display, '');
}

/** The error for a failed x11grab, from ffmpeg's stderr; null when the words are not x11grab's. */
export function screenFailure(input: ScreenInput, stderr: string): MediaError | null {
  const detail = stderr ? `:\n${stderr}` : '';
  if (/Cannot open display/i.test(stderr)) return displayMissing(input.display, detail);
  // x11grab refuses a region that does not fit: "Capture area WxH at position X.Y outside the screen size".
  if (/outside the screen size/i.test(stderr)) {
    return new MediaError(
      'FW_FFMPEG_FAILED',
      `the region does not fit on display ${input.display}: give a smaller --region (xdpyinfo | grep dimensions)${detail}`,
    );
  }
  // ffmpeg 5.1: "[x11grab @ …] Can't find window '0x3039', aborting."
  if (input.windowId !== undefined && /Can't find window|BadWindow|BadDrawable/i.test(stderr)) {
    return new MediaError(
      'FW_WINDOW_MISSING',
      `window ${input.windowId} not found on display ${input.display}: pick a window id from \`xwininfo\`${detail}`,
    );
  }
  return null;
}

function displayMissing(display: string, detail: string): MediaError {
  return new MediaError(
    'FW_DISPLAY_MISSING',
    `cannot open X display ${display}: is an X server running there? (give --screen :N for the display ` +
      `to share; a Wayland session shares only its X11 windows through XWayland)${detail}`,
  );
}
