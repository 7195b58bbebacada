import type { ScreenInput, ScreenRegion } from '../media/screen.js';
import { usageError } from './errors.js';

/** Default --bitrate of a screen: a 1080p screen at 30–60 fps needs several times a camera's 1 Mbit/s. */
export const DEFAULT_SCREEN_BITRATE = '4M';

/**
 * Default --codec of a screen. Measured on a 2-core machine (ffmpeg 5.1, x11grab of an Xvfb with a moving
 * test pattern, the CLI's encoder settings): at 1280x720 60 fps x264 ultrafast keeps 60 fps with 0.42 of a
 * core, VP8 realtime (cpu-used 8) with 0.74; at 1920x1080 60 fps x264 keeps 60 with 0.64 of a core, VP8
 * falls behind (57 fps) with 1.24: half the machine the captured program (a game) needs.
 */
export const DEFAULT_SCREEN_CODEC = 'h264';

/** The screen flags of `publish` as parseArgs gives them (`screen` is '' when given without a display). */
export interface ScreenFlags {
  screen?: string | undefined;
  window?: string | undefined;
  region?: string | undefined;
}

/** Whether any screen flag was given: --window and --region alone share $DISPLAY's screen. */
export function wantsScreen(f: ScreenFlags): boolean {
  return f.screen !== undefined || f.window !== undefined || f.region !== undefined;
}

/** The screen input of `publish --screen [DISPLAY] [--window ID] [--region WxH+X+Y]`. */
export function parseScreenFlags(f: ScreenFlags, env: NodeJS.ProcessEnv = process.env): ScreenInput {
  const display = f.screen || env.DISPLAY || '';
  if (display === '') {
    throw usageError(
      'publish',
      '--screen needs an X display: give one (--screen :0) or run it where DISPLAY is set',
    );
  }
  if (!/^[\w.-]*:\d+(\.\d+)?$/.test(display)) {
    throw usageError('publish', `--screen "${display}" is not an X display such as :0 or :99.0`);
  }
  const input: ScreenInput = { kind: 'screen', display };
  if (f.window !== undefined) input.windowId = parseWindowId(f.window);
  if (f.region !== undefined) input.region = parseRegion(f.region);
  return input;
}

/** An X window id as xwininfo prints it (0x1e00007) or in decimal. */
function parseWindowId(text: string): number {
  const id = /^0x[0-9a-f]{1,8}$/i.test(text) ? Number.parseInt(text.slice(2), 16) : Number(text);
  if (!/^(0x[0-9a-f]{1,8}|\d{1,10})$/i.test(text) || !(id > 0 && id <= 0xffffffff)) {
    throw usageError('publish', `--window "${text}" is not an X window id such as 0x1e00007 (see xwininfo)`);
  }
  return id;
}

/** `WxH+X+Y` (X11's geometry form, as xwininfo prints it), with even sizes for the 4:2:0 encoders. */
function parseRegion(text: string): ScreenRegion {
  const m = /^(\d+)x(\d+)\+(\d+)\+(\d+)$/.exec(text);
  const region = { width: Number(m?.[1]), height: Number(m?.[2]), x: Number(m?.[3]), y: Number(m?.[4]) };
  const { width, height } = region;
  if (!m || width < 16 || height < 16 || width > 8192 || height > 8192 || width % 2 || height % 2) {
    throw usageError(
      'publish',
      `--region "${text}" is not WIDTHxHEIGHT+X+Y (e.g. 1280x720+0+0) with even sizes from 16 to 8192`,
    );
  }
  return region;
}
