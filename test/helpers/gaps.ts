import assert from 'node:assert/strict';

/** What the gap check needs of a received frame. */
export interface SeqFrame {
  seq: number;
  key: boolean;
}

/**
 * Asserts a viewer's frames of one stream rise in seq and every gap (frames the relay skipped) ends on a
 * keyframe: drops are whole runs, never single deltas. Returns the number of gaps.
 */
export function assertGapsEndOnKeyframes(frames: readonly SeqFrame[]): number {
  let gaps = 0;
  for (let i = 1; i < frames.length; i++) {
    const prev = frames[i - 1] as SeqFrame;
    const cur = frames[i] as SeqFrame;
    assert.ok(cur.seq > prev.seq, `out of order: ${prev.seq} then ${cur.seq}`);
    if (cur.seq !== prev.seq + 1) {
      gaps++;
      assert.equal(cur.key, true, `after a gap ${prev.seq} -> ${cur.seq} the next frame must be a keyframe`);
    }
  }
  return gaps;
}
