// The reconnect backoff of the Node client (250 ms..5 s, half jitter) and the web app (500 ms..8 s, ±25%).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { type BackoffJitter, backoffDelay, HALF_JITTER } from '../../src/protocol/index.js';

const WEB_JITTER: BackoffJitter = [0.75, 1.25];
const top = (): number => 1;
const bottom = (): number => 0;
const middle = (): number => 0.5;

describe('backoffDelay', () => {
  test('the first attempt waits about the minimum', () => {
    assert.equal(backoffDelay(0, 250, 5000, top), 250);
    assert.equal(backoffDelay(0, 250, 5000, bottom), 125);
    assert.equal(backoffDelay(0, 500, 8000, middle, WEB_JITTER), 500);
  });

  test('each attempt doubles the step', () => {
    const steps = [0, 1, 2, 3, 4].map((n) => backoffDelay(n, 250, 5000, top));
    assert.deepEqual(steps, [250, 500, 1000, 2000, 4000]);
    const web = [0, 1, 2, 3].map((n) => backoffDelay(n, 500, 8000, middle, WEB_JITTER));
    assert.deepEqual(web, [500, 1000, 2000, 4000]);
  });

  test('the step stops at the maximum, and so does the delay, even after a very long outage', () => {
    assert.equal(backoffDelay(10, 250, 5000, top), 5000);
    assert.equal(backoffDelay(1000, 250, 5000, bottom), 2500);
    assert.equal(backoffDelay(Number.MAX_SAFE_INTEGER, 250, 5000, top), 5000);
    // +25% jitter on a step already at the maximum is cut back to the maximum.
    assert.equal(backoffDelay(10, 500, 8000, top, WEB_JITTER), 8000);
    assert.equal(backoffDelay(10, 500, 8000, bottom, WEB_JITTER), 6000);
  });

  test('the jitter spans [low, high] of the step, in whole ms', () => {
    for (const [jitter, min, max] of [
      [HALF_JITTER, 250, 5000],
      [WEB_JITTER, 500, 8000],
    ] as const) {
      for (let n = 0; n < 8; n++) {
        const step = Math.min(max, min * 2 ** n);
        for (const r of [0, 0.1, 0.25, 0.5, 0.75, 0.999999]) {
          const d = backoffDelay(n, min, max, () => r, jitter);
          assert.ok(Number.isInteger(d), `${d} is whole ms`);
          assert.ok(d >= Math.round(step * jitter[0]), `attempt ${n}, r=${r}: ${d} below the low end`);
          assert.ok(d <= Math.min(max, Math.round(step * jitter[1])), `attempt ${n}, r=${r}: ${d} above`);
        }
      }
    }
  });

  test('the jitter is linear in the random draw', () => {
    assert.equal(
      backoffDelay(2, 250, 5000, () => 0.5),
      750,
    );
    assert.equal(
      backoffDelay(2, 500, 8000, () => 0.25, WEB_JITTER),
      1750,
    );
  });

  test('without a random source it draws from Math.random, within the bounds', () => {
    for (let i = 0; i < 100; i++) {
      const d = backoffDelay(3, 250, 5000);
      assert.ok(d >= 1000 && d <= 2000, `${d}`);
    }
  });
});
