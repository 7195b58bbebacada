// The bench viewer's header-only reader tells audio frames from video ones (flag bit 1, a 27-byte header)
// however the TCP stream is cut into reads. Run: node --import tsx --test bench/lib/audio-skim.test.ts
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FrameSkimmer } from '../../bench/framewire/skim.js';
import { encodeMessage, type FrameMessage, frameMessage } from '../../src/protocol/index.js';

const frames: FrameMessage[] = [
  {
    type: 'frame',
    streamId: 3,
    key: true,
    seq: 0,
    timestamp: 0,
    captureTime: 1,
    payload: new Uint8Array(500),
  },
  {
    type: 'frame',
    streamId: 3,
    key: true,
    track: 'audio',
    audioLevel: 0x8a,
    seq: 0,
    timestamp: 0,
    captureTime: 2,
    payload: new Uint8Array(76),
  },
  {
    type: 'frame',
    streamId: 3,
    key: true,
    track: 'audio',
    audioLevel: 127,
    seq: 1,
    timestamp: 20_000,
    captureTime: 3,
    payload: new Uint8Array(1),
  },
  {
    type: 'frame',
    streamId: 3,
    key: false,
    seq: 1,
    timestamp: 33_333,
    captureTime: 4,
    payload: new Uint8Array(40),
  },
];

const wire = Buffer.concat(frames.map((f) => frameMessage(encodeMessage(f))));
const expected = frames.map((f) => [f.streamId, f.seq, f.key, f.payload.length, f.track === 'audio']);

for (const chunk of [1, 7, 27, 28, 100, wire.length]) {
  test(`audio and video frames are told apart in reads of ${chunk} bytes`, () => {
    const got: unknown[] = [];
    const skim = new FrameSkimmer(
      (id, seq, key, bytes, audio) => got.push([id, seq, key, bytes, audio]),
      () => assert.fail('no control message was sent'),
    );
    // A reused read buffer, as the TCP viewers use: the skimmer must keep nothing that points into it.
    const buf = Buffer.alloc(chunk);
    for (let at = 0; at < wire.length; at += chunk) {
      const n = wire.copy(buf, 0, at, Math.min(wire.length, at + chunk));
      skim.push(buf, n);
      buf.fill(0xff);
    }
    assert.deepEqual(got, expected);
  });
}
