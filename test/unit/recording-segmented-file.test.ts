import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { FrameMuxer, MuxFrame } from '../../src/media/muxer.js';
import { type Segment, SegmentedFile } from '../../src/server/recording/segmented-file.js';

/** A muxer that keeps what it was given, and whether it was finished. */
class FakeMuxer implements FrameMuxer {
  readonly frames: MuxFrame[] = [];
  finished = false;
  async add(frame: MuxFrame): Promise<void> {
    assert.ok(!this.finished, 'no frame after finish');
    this.frames.push(frame);
  }
  async finish(): Promise<boolean> {
    this.finished = true;
    return this.frames.length > 0;
  }
  async cancel(): Promise<void> {}
}

/** A SegmentedFile over fake muxers, with the files it opened and the rolls it reported. */
function setup(segmentUs: number) {
  const muxers: { file: string; muxer: FakeMuxer }[] = [];
  const rolls: { closed: Segment; next: string }[] = [];
  const open = () => {
    const entry = { file: `f${muxers.length}`, muxer: new FakeMuxer() };
    muxers.push(entry);
    return { file: entry.file, muxer: Promise.resolve<FrameMuxer>(entry.muxer) };
  };
  const segmented = new SegmentedFile({
    first: open(),
    next: open,
    segmentUs,
    onRoll: (closed, next) => rolls.push({ closed, next }),
  });
  return { segmented, muxers, rolls };
}

/** Frames at 10 fps (100 ms apart) with a keyframe every `gop` frames. */
async function feed(segmented: SegmentedFile, count: number, gop: number): Promise<void> {
  for (let i = 0; i < count; i++) {
    await segmented.add({ key: i % gop === 0, timestamp: 1_000_000 + i * 100_000, data: new Uint8Array(1) });
  }
}

describe('SegmentedFile', () => {
  it('rolls at the first keyframe at or past the segment length, never between keyframes', async () => {
    const { segmented, muxers, rolls } = setup(1_000_000);
    await feed(segmented, 45, 15); // keyframes at 0, 1.5 s, 3 s
    await segmented.finish();
    assert.deepEqual(
      muxers.map((m) => m.muxer.frames.length),
      [15, 15, 15],
    );
    for (const { muxer } of muxers) {
      assert.equal(muxer.frames[0]?.key, true, 'each file starts on a keyframe');
      assert.equal(muxer.finished, true, 'each file is finished');
    }
    assert.deepEqual(rolls, [
      { closed: { file: 'f0', frames: 15 }, next: 'f1' },
      { closed: { file: 'f1', frames: 15 }, next: 'f2' },
    ]);
    assert.equal(segmented.file, 'f2');
    assert.equal(segmented.seconds, 4.4);
  });

  it('keeps one file when the segment length is 0, and drops deltas before the first keyframe', async () => {
    const { segmented, muxers, rolls } = setup(0);
    await segmented.add({ key: false, timestamp: 0, data: new Uint8Array(1) });
    await feed(segmented, 100, 10);
    await segmented.finish();
    assert.equal(muxers.length, 1);
    assert.equal(muxers[0]?.muxer.frames.length, 100);
    assert.deepEqual(rolls, []);
    assert.equal(segmented.kept, true);
  });

  it('a recording that never got a keyframe is not kept', async () => {
    const { segmented } = setup(1_000_000);
    await segmented.add({ key: false, timestamp: 0, data: new Uint8Array(1) });
    assert.equal(await segmented.finish(), false);
    assert.equal(segmented.kept, false);
  });
});
