// `publish --mic [DEVICE]`: which device a value names, and the errors a missing microphone gets.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { micFailure, micPreflight, resolveMic } from '../../src/media/mic.js';

describe('--mic', () => {
  it('names PulseAudio and ALSA devices by prefix; a bare name is ALSA', () => {
    const env = { PULSE_SERVER: 'unix:/x' };
    assert.deepEqual(resolveMic('pulse:desk', env), { kind: 'mic', backend: 'pulse', device: 'desk' });
    assert.deepEqual(resolveMic('alsa:hw:1,0', env), { kind: 'mic', backend: 'alsa', device: 'hw:1,0' });
    assert.deepEqual(resolveMic('hw:2,0', env), { kind: 'mic', backend: 'alsa', device: 'hw:2,0' });
    assert.deepEqual(resolveMic('pulse:', env), { kind: 'mic', backend: 'pulse', device: 'default' });
  });

  it('alone, picks PulseAudio when its server is named, else ALSA', () => {
    assert.equal(resolveMic(undefined, { PULSE_SERVER: 'unix:/x' }).backend, 'pulse');
    assert.equal(
      resolveMic('', { XDG_RUNTIME_DIR: '/nonexistent' }).backend,
      existsSync('/run/pulse/native') ? 'pulse' : 'alsa',
    );
  });

  it('an ALSA microphone on a machine without a sound card is FW_MIC_MISSING before ffmpeg starts', () => {
    const cards = existsSync('/proc/asound/cards') ? readFileSync('/proc/asound/cards', 'utf8') : '';
    const err = micPreflight({ kind: 'mic', backend: 'alsa', device: 'default' });
    if (cards.trim() === '' || /no soundcards/i.test(cards)) {
      assert.equal(err?.code, 'FW_MIC_MISSING');
      assert.match(err?.message ?? '', /no microphone.*--no-audio/s);
    } else {
      assert.equal(err, null, 'a machine with a sound card is left to ffmpeg');
    }
    assert.equal(micPreflight({ kind: 'mic', backend: 'pulse', device: 'default' }), null);
  });

  it('ffmpeg failing to open the named device becomes FW_MIC_MISSING; other failures do not', () => {
    const mic = { kind: 'mic', backend: 'alsa', device: 'hw:3,0' } as const;
    const err = micFailure(
      mic,
      '[alsa @ 0x1] cannot open audio device hw:3,0 (No such file or directory)\nhw:3,0: Input/output error',
    );
    assert.equal(err?.code, 'FW_MIC_MISSING');
    assert.match(err?.message ?? '', /alsa:hw:3,0 could not be opened/);
    assert.equal(micFailure(mic, 'Unknown encoder libfoo'), null);
  });
});
