// A sample of what a canvas shows, for tests and for people checking a tile: read on whichever thread
// holds the canvas (the paint worker, or the page where there is none).

/** `channels` values (R, or R G B) at every `1/count` of an RGBA image's bytes. */
export function samplePixels(data: Uint8ClampedArray, count: number, channels: 1 | 3): number[] {
  const out: number[] = [];
  const step = Math.max(4, Math.floor(data.length / count / 4) * 4);
  for (let i = 0; i + 2 < data.length; i += step) {
    out.push(data[i] ?? 0);
    if (channels === 3) out.push(data[i + 1] ?? 0, data[i + 2] ?? 0);
  }
  return out;
}
