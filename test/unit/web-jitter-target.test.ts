// The browser's jitter-buffer target (web/src/jitter-target.ts): at most 60 ms on a good network, grown at
// once when arrivals spread, shrunk back slowly (25 ms a second at 50 frames a second) once they calm down.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { JitterTarget, MAX_TARGET_MS, MIN_TARGET_MS } from '../../web/src/jitter-target.js';

/** A deterministic spread of `spreadMs` (frame i's extra delay cycles through it), as µs of transit. */
function transit(i: number, baseMs: number, spreadMs: number): number {
  return (baseMs + ((i * 7) % 20) * (spreadMs / 19)) * 1000;
}

describe('jitter-buffer target', () => {
  it('stays within 60 ms on a good network (arrivals within 20 ms of each other)', () => {
    const j = new JitterTarget();
    let target = 0;
    for (let i = 0; i < 500; i++) target = j.add(transit(i, 3, 20));
    assert.ok(target <= 60, `target ${target} ms`);
    assert.ok(target >= MIN_TARGET_MS);
    assert.ok(Math.abs(j.jitterMs - 19) <= 1.5, `jitter ${j.jitterMs} ms`);
  });

  it('grows at once when arrivals spread, and shrinks back by 25 ms a second once they calm down', () => {
    const j = new JitterTarget();
    let i = 0;
    for (; i < 300; i++) j.add(transit(i, 3, 10));
    const calm = j.targetMs;
    // Two seconds of a bad network: arrivals spread over 200 ms.
    for (const end = i + 100; i < end; i++) j.add(transit(i, 3, 200));
    assert.ok(j.targetMs >= 20 + 1.5 * 150, `grew to ${j.targetMs} ms`);
    const peak = j.targetMs;
    // Calm again: the spike leaves the 4 s window, and the target may fall 0.5 ms per frame at most.
    const before = j.targetMs;
    for (const end = i + 50; i < end; i++) j.add(transit(i, 3, 10));
    assert.ok(j.targetMs >= before - 25 - 1e-9, `fell at most 25 ms in a second: ${before} → ${j.targetMs}`);
    // Back down within 16 s: about 4 s for the spike to leave the window, then 25 ms a second.
    for (const end = i + 750; i < end; i++) j.add(transit(i, 3, 10));
    assert.ok(j.targetMs <= calm + 1e-9, `back to ${calm} ms within 16 s, is ${j.targetMs} (peak ${peak})`);
  });

  it('never asks for more than 400 ms, whatever the jitter', () => {
    const j = new JitterTarget();
    for (let i = 0; i < 300; i++) j.add(transit(i, 3, 2000));
    assert.equal(j.targetMs, MAX_TARGET_MS);
  });

  it('after reset, the old delays no longer count (a step in the clock is not jitter)', () => {
    const j = new JitterTarget();
    for (let i = 0; i < 100; i++) j.add(transit(i, 3, 10));
    j.reset();
    // The same spread, 80 ms later on the new clock: measured alone, not against the old delays.
    for (let i = 0; i < 100; i++) j.add(transit(i, 83, 10));
    assert.ok(j.jitterMs <= 11, `jitter ${j.jitterMs} ms`);
  });
});
