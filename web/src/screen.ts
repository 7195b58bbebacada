// Sharing a screen, a window or a tab: asking the browser for it (its own picker), with its sound where the
// browser offers it, tuned for what it shows, and saying clearly why it could not be shared.
import type { VideoProfile } from './codecs.js';

/** What a person shares: documents and slides (sharp text) or a game or a video (smooth motion). */
export type ScreenContent = 'detail' | 'motion';

/** The frame rate asked for each content: text needs no more than 30, a game wants 60. */
const SCREEN_FPS: Record<ScreenContent, number> = { detail: 30, motion: 60 };
/** The largest picture sent: the source's own size up to 4K (the encoder's H.264 level follows). */
const MAX_WIDTH = 3840;
const MAX_HEIGHT = 2160;

/** Whether this browser can share a screen at all (phones have no getDisplayMedia). */
export function canShareScreen(): boolean {
  return typeof navigator.mediaDevices?.getDisplayMedia === 'function';
}

/** The encoder profile for a shared screen of this content, at the rate the browser gives. */
export function screenProfile(content: ScreenContent, track: MediaStreamTrack): VideoProfile {
  const given = track.getSettings().frameRate;
  const fps = Math.round(Math.min(SCREEN_FPS[content], given && given > 0 ? given : SCREEN_FPS[content]));
  return { content, fps };
}

/**
 * Asks the browser for a screen, a window or a tab (its own picker), with its sound if offered, at the
 * source's size (up to 4K) and up to 60 fps. The track's `contentHint` tells the browser's capture what matters:
 * sharp text, or smooth motion. Throws the browser's error (see {@link screenErrorMessage}).
 */
export async function openScreen(content: ScreenContent): Promise<MediaStream> {
  const stream = await navigator.mediaDevices.getDisplayMedia({
    // No size asked: the source's own (a size constraint is a size some captures scale up to).
    video: { frameRate: { ideal: SCREEN_FPS[content], max: 60 } },
    // The tab's or the system's sound, where the browser offers it (Chromium does for tabs and screens).
    audio: true,
  });
  for (const track of stream.getVideoTracks()) {
    track.contentHint = content === 'detail' ? 'text' : 'motion';
    const { width = 0, height = 0 } = track.getSettings();
    // A screen beyond 4K is scaled down to it (keeping its shape): the largest size the H.264 levels carry.
    if (width > MAX_WIDTH || height > MAX_HEIGHT)
      await track
        .applyConstraints({ width: { max: MAX_WIDTH }, height: { max: MAX_HEIGHT } })
        .catch(() => {});
  }
  return stream;
}

/** A sentence a person can act on, for an error from {@link openScreen}. */
export function screenErrorMessage(err: unknown): string {
  const name = err instanceof DOMException || err instanceof Error ? err.name : '';
  switch (name) {
    case 'NotAllowedError':
      return 'Screen sharing was cancelled or not allowed. Click Share screen again and pick a screen, a window or a tab.';
    case 'NotFoundError':
      return 'There is no screen to share here.';
    case 'NotReadableError':
    case 'AbortError':
      return 'The screen could not be captured (another app may be using it). Try again, or pick a single window.';
    default:
      return `The screen could not be shared (${err instanceof Error ? err.message : String(err)}).`;
  }
}
