/// <reference lib="dom" />
// The sound figures of a room page of the web app (`window.framewire.stats()`): what a page plays of each
// remote stream, and what its own microphone sends. Functions passed to page.evaluate run in the page.
import type { Page } from 'playwright-core';

/** A remote stream's sound, as `stats().streams[name].audio` gives it. */
export interface RemoteAudioStats {
  codec: string;
  problem: string | null;
  speakerOn: boolean;
  kbps: number;
  framesReceived: number;
  framesDecoded: number;
  framesLost: number;
  framesNotPlayed: number;
  underruns: number;
  skips: number;
  samplesPlayed: number;
  depthMs: number;
  depthMeanMs: number;
  targetMs: number;
  jitterTargetMs: number;
  syncNeedMs: number;
  jitterMs: number;
  playoutDelayMs: number | null;
  playedPeak: number;
  playedRms: number;
  playedPeakMax: number;
  audibleMs: number;
  avOffsetP50Ms: number | null;
  avOffsetAbsP95Ms: number | null;
  avOffsetSamples: number;
  videoDelayP95Ms: number;
}

/** The parts of `window.framewire.stats()` the audio tests read. */
export interface AudioPageStats {
  audio: { state: string; problem: string | null; outputLeadMs: number };
  publisher: {
    name: string;
    codec: string | null;
    framesSent: number;
    audio: {
      codec: string | null;
      capture: string;
      opus: object | null;
      muted: boolean;
      failed: string | null;
      framesSent: number;
      chunksCaptured: number;
    } | null;
  } | null;
  streams: Record<string, { codec: string | null; framesPainted: number; audio: RemoteAudioStats | null }>;
}

/** The page's `window.framewire.stats()`, typed for sound. */
export function audioStats(page: Page): Promise<AudioPageStats> {
  return page.evaluate(() =>
    (window as unknown as { framewire: { stats(): AudioPageStats } }).framewire.stats(),
  );
}

/** The name of the first remote stream on `page` whose name starts with `prefix`, if any. */
export async function streamNamed(page: Page, prefix: string): Promise<string | undefined> {
  return Object.keys((await audioStats(page)).streams).find((n) => n.startsWith(prefix));
}

/** The sound of remote stream `name` on `page`, or null while it has none (yet). */
export async function remoteAudio(page: Page, name: string): Promise<RemoteAudioStats | null> {
  return (await audioStats(page)).streams[name]?.audio ?? null;
}

/**
 * Makes every getUserMedia call that asks for video fail as a refused camera would, before the page loads:
 * the microphone is still granted (Chromium's fake one), so the page must publish sound only.
 */
export async function refuseCamera(page: Page): Promise<void> {
  await page.addInitScript(() => {
    const md = navigator.mediaDevices;
    const original = md.getUserMedia.bind(md);
    md.getUserMedia = (constraints?: MediaStreamConstraints) =>
      constraints?.video
        ? Promise.reject(new DOMException('Permission denied', 'NotAllowedError'))
        : original(constraints);
  });
}
