// Where `watch --out FILE` goes on when the stream's tracks change: FILE-2, FILE-3... before the extension,
// skipping names already taken unless --force.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { nextOutPath, numberedOutPath } from '../../src/cli/out-file.js';

describe('numbered --out files', () => {
  test('the number goes before the extension', () => {
    assert.equal(numberedOutPath('rec/cam.webm', 2), 'rec/cam-2.webm');
    assert.equal(numberedOutPath('/tmp/a.b.mp4', 3), '/tmp/a.b-3.mp4');
    assert.equal(numberedOutPath('cam.MKV', 10), 'cam-10.MKV');
  });

  test('a name taken is skipped, unless --force', () => {
    const dir = mkdtempSync(join(tmpdir(), 'framewire-roll-'));
    try {
      const out = join(dir, 'cam.webm');
      writeFileSync(join(dir, 'cam-2.webm'), 'an earlier run');
      writeFileSync(join(dir, 'cam-3.webm'), 'an earlier run');
      assert.deepStrictEqual(nextOutPath(out, 2, false), { path: join(dir, 'cam-4.webm'), n: 4 });
      assert.deepStrictEqual(nextOutPath(out, 2, true), { path: join(dir, 'cam-2.webm'), n: 2 });
      assert.deepStrictEqual(nextOutPath(out, 5, false), { path: join(dir, 'cam-5.webm'), n: 5 });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
