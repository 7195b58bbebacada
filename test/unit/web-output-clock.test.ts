// The browser's audio output clock (web/src/output-clock.ts): a context time mapped to the moment it is
// heard, from `currentTime` readings that move in render-callback steps, kept true after a stall.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CALIBRATE_AFTER_MS, OutputClock, WINDOW_MS } from '../../web/src/output-clock.js';

/** A render thread that renders `stepMs` at a time, `aheadMs` ahead of the wall clock, read every 7 ms. */
function feed(clock: OutputClock, fromMs: number, toMs: number, aheadMs: number, stepMs = 20): void {
  for (let now = fromMs; now < toMs; now += 7) {
    // currentTime as the page sees it: the last step rendered.
    const rendered = Math.floor((now + aheadMs) / stepMs) * stepMs;
    clock.observe(rendered / 1000, now);
  }
}

describe('OutputClock', () => {
  it('maps to the render position plus the stated latency, whatever the phase of the steps', () => {
    const clock = new OutputClock();
    clock.setOutput(0.03, null, 0);
    feed(clock, 0, 2000, 50);
    // Rendered at context 2.5 s: the render thread is 50 ms ahead, so that is wall 2450 ms; heard 30 ms later.
    assert.ok(Math.abs(clock.heardAt(2.5) - 2480) <= 7, `${clock.heardAt(2.5)}`);
  });

  it('measures the lead against the browser timestamp once enough readings follow it', () => {
    const clock = new OutputClock();
    feed(clock, 0, 500, 50);
    // The browser says context 0.6 s is heard at wall 612 ms: 62 ms after its rendering at 550 ms.
    clock.setOutput(0.01, { contextTime: 0.6, performanceTime: 612 }, 500);
    assert.equal(clock.outputLeadMs, 10, 'the stated latency until measured');
    feed(clock, 500, 500 + CALIBRATE_AFTER_MS + 10, 50);
    assert.ok(Math.abs(clock.outputLeadMs - 62) <= 7, `lead ${clock.outputLeadMs}`);
  });

  it('follows a render thread that stalled and stayed behind, within a window', () => {
    const clock = new OutputClock();
    clock.setOutput(0, { contextTime: 0.6, performanceTime: 562 }, 500);
    feed(clock, 0, 3000, 50);
    const before = clock.heardAt(4);
    // A 1.4 s stall: the context's time stops, then runs on 1.4 s behind where it was.
    for (let now = 3000; now < 4400; now += 7) clock.observe(3.04, now);
    feed(clock, 4400, 4400 + WINDOW_MS + 100, 50 - 1400);
    const after = clock.heardAt(4);
    assert.ok(Math.abs(after - before - 1400) <= 7, `moved ${after - before} ms`);
  });
});
