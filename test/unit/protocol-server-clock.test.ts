import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ServerClock } from '../../src/protocol/server-clock.js';

describe('the server clock estimate', () => {
  it('is the local clock until a round trip is measured', () => {
    const c = new ServerClock();
    assert.equal(c.synced, false);
    assert.equal(c.offsetUs, 0);
    assert.equal(c.rttMs, -1);
  });

  it('takes the middle of the quickest recent round trip', () => {
    const c = new ServerClock();
    // Server 5 s ahead. A pong held 800 ms behind frames on the way back says 400 ms less; the quick one is right.
    c.addSample(1_000_000, 6_010_000, 1_820_000);
    c.addSample(2_000_000, 7_010_000, 2_020_000);
    c.addSample(3_000_000, 8_010_000, 3_900_000);
    assert.equal(c.synced, true);
    assert.equal(c.offsetUs, 5_000_000);
    assert.equal(c.rttMs, 20);
  });

  it('forgets samples past the last 16, to follow drift', () => {
    const c = new ServerClock();
    c.addSample(0, 1_000, 0);
    for (let i = 1; i <= 16; i++) c.addSample(i * 1e6, i * 1e6 + 2_000 + 50, i * 1e6 + 100);
    assert.equal(c.offsetUs, 2_000);
  });
});
