import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { codecOrder } from '../../web/src/codecs.js';
import { decodersHook } from '../../web/src/decoders.js';

describe('web: which codec a publisher tries first', () => {
  it('with no viewer restricting: H.264, then VP8 (or the chosen codec first)', () => {
    assert.deepEqual(codecOrder('auto'), ['h264', 'vp8']);
    assert.deepEqual(codecOrder('av1'), ['av1', 'h264', 'vp8']);
  });

  it('a room whose viewers all decode VP8 but not H.264 gets VP8 first', () => {
    assert.deepEqual(codecOrder('auto', ['vp8', 'opus']), ['vp8', 'h264']);
  });

  it('H.264 stays first where every viewer decodes it', () => {
    assert.deepEqual(codecOrder('auto', ['avc1', 'vp8']), ['h264', 'vp8']);
  });

  it('a chosen codec the room cannot decode gives way to one it can', () => {
    assert.deepEqual(codecOrder('av1', ['vp8', 'vp09']), ['vp8', 'vp9', 'av1', 'h264']);
  });

  it('with no codec in common, the usual order (some viewer will say it cannot decode)', () => {
    assert.deepEqual(codecOrder('auto', []), ['h264', 'vp8']);
  });

  it('the test hook narrows the decoders to a list of families', () => {
    assert.deepEqual(decodersHook('?decoders=vp8,%20Opus'), ['vp8', 'opus']);
    assert.equal(decodersHook('?name=ada'), null);
  });
});
