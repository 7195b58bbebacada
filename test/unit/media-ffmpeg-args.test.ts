import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { buildEncodeArgs } from '../../src/media/ffmpeg-args.js';

/** The lavfi graph `buildEncodeArgs` gives ffmpeg for a 320x240 test pattern. */
function testPatternGraph(clock: boolean): string {
  const args = buildEncodeArgs({
    input: { kind: 'test-pattern' },
    codec: 'vp8',
    width: 320,
    height: 240,
    fps: 15,
    bitrate: 200_000,
    clock,
  });
  const source = args[args.indexOf('lavfi') + 2];
  const filters = args[args.indexOf('-vf') + 1];
  if (!source?.startsWith('testsrc2=') || !filters) throw new Error(`no testsrc2 graph in ${args.join(' ')}`);
  return `${source},${filters}`;
}

/** Grey pixels of the first frame of `graph`, cropped to `crop` (ffmpeg's crop=w:h:x:y). */
function firstFramePixels(graph: string, crop: string): Buffer {
  return execFileSync('ffmpeg', [
    ...['-loglevel', 'error', '-f', 'lavfi', '-i', `${graph},crop=${crop}`],
    ...['-frames:v', '1', '-f', 'rawvideo', '-pix_fmt', 'gray', '-'],
  ]);
}

describe('the test pattern', () => {
  it("draws its wall clock away from testsrc2's own timestamp (top left)", () => {
    // testsrc2 prints its media time in the top-left corner; our clock must leave it readable.
    const corner = '110:40:0:0';
    const plain = firstFramePixels(testPatternGraph(false), corner);
    const clocked = firstFramePixels(testPatternGraph(true), corner);
    assert.ok(plain.length > 0);
    assert.ok(plain.equals(clocked), 'the top-left corner is the same with and without our clock');
    // And the clock is drawn somewhere: the bottom rows differ.
    const bottom = '320:40:0:200';
    assert.ok(
      !firstFramePixels(testPatternGraph(false), bottom).equals(
        firstFramePixels(testPatternGraph(true), bottom),
      ),
    );
  });
});
