import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { StaleFrames } from '../../src/cli/stale-frames.js';

describe('watch discards frames that arrive too old', () => {
  it('passes frames within the bound', () => {
    const f = new StaleFrames(1000);
    assert.deepEqual(
      [f.check(true, 5000), f.check(false, 10), f.check(false, 1000)],
      ['pass', 'pass', 'pass'],
    );
  });

  it('discards from an old delta up to the next keyframe, which passes however old it is', () => {
    const f = new StaleFrames(1000);
    assert.equal(f.check(false, 1001), 'discard-first');
    // Fresh again, but undecodable without the deltas discarded before it.
    assert.equal(f.check(false, 5), 'discard');
    assert.equal(f.check(false, 3000), 'discard');
    assert.equal(f.check(true, 3000), 'pass');
    assert.equal(f.check(false, 20), 'pass');
    assert.equal(f.check(false, 2000), 'discard-first');
  });

  it('with a bound of 0 passes everything', () => {
    const f = new StaleFrames(0);
    assert.deepEqual([f.check(false, 1e9), f.check(false, 1)], ['pass', 'pass']);
  });
});
