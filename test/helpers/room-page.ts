/// <reference lib="dom" />
// Looking at a room page of the web app in Chromium: its figures, its camera, and whether a tile shows live
// video. Functions passed to page.evaluate run in the page, so this file needs the DOM types.
import assert from 'node:assert/strict';
import type { Page } from 'playwright-core';
import { poll } from './cli.js';

/** What `window.framewire.stats()` returns, as far as the tests read it. */
export interface PageStats {
  publisher: { framesSent: number; codec: string | null } | null;
  streams: Record<
    string,
    { framesReceived: number; framesPainted: number; latencyP50Ms: number; codec: string }
  >;
}

/** The page's `window.framewire.stats()`. */
export function stats(page: Page): Promise<PageStats> {
  return page.evaluate(() => (window as unknown as { framewire: { stats(): PageStats } }).framewire.stats());
}

/** Clicks Start camera and waits until the page has sent frames. */
export async function startCamera(page: Page): Promise<void> {
  await page.click('#start-camera');
  await page.waitForFunction(
    () =>
      ((window as unknown as { framewire: { stats(): PageStats } }).framewire.stats().publisher?.framesSent ??
        0) > 0,
    undefined,
    { timeout: 10_000 },
  );
}

/**
 * A small fingerprint of what a tile shows now (sampled pixels): its canvas, or the video that takes the
 * canvas's place for a shared screen where the page writes pictures into a track (web/src/picture-sink.ts),
 * drawn into a scratch canvas to be read.
 */
export function canvasPixels(page: Page, streamName: string): Promise<number[]> {
  return page.evaluate((name) => {
    const tile = document.querySelector(`[data-stream-name="${name}"]`);
    const video = tile?.querySelector('video');
    let source: HTMLCanvasElement | null = tile?.querySelector('canvas') ?? null;
    if (video && video.videoWidth > 0) {
      source = document.createElement('canvas');
      source.width = 320;
      source.height = Math.max(1, Math.round((320 * video.videoHeight) / video.videoWidth));
      source.getContext('2d')?.drawImage(video, 0, 0, source.width, source.height);
    }
    if (!source || source.width === 0) return [];
    const ctx = source.getContext('2d');
    if (!ctx) return [];
    const { data } = ctx.getImageData(0, 0, source.width, source.height);
    const out: number[] = [];
    for (let i = 0; i < data.length; i += Math.max(4, Math.floor(data.length / 4096 / 4) * 4))
      out.push(data[i] ?? 0);
    return out;
  }, streamName);
}

/** Waits until the tile of `streamName` has painted frames, then checks its picture changes over time. */
export async function expectLiveTile(page: Page, streamName: string, withinMs: number): Promise<void> {
  await page.waitForSelector(`[data-stream-name="${streamName}"] canvas`, { timeout: withinMs });
  await poll(
    async () => ((await stats(page)).streams[streamName]?.framesPainted ?? 0) >= 2,
    withinMs,
    `frames painted for ${streamName}`,
  );
  const first = await canvasPixels(page, streamName);
  assert.ok(
    first.some((v) => v !== 0),
    'the tile shows a picture, not a black canvas',
  );
  const changed = await poll(
    async () => {
      const now = await canvasPixels(page, streamName);
      return now.some((v, i) => v !== first[i]) ? now : undefined;
    },
    5000,
    `the picture of ${streamName} to change`,
  );
  assert.ok(changed.length > 0);
}
