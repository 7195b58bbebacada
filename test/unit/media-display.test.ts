import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { startDisplay } from '../../src/media/display.js';
import { MediaError } from '../../src/media/errors.js';
import { type EncodedFrame, startEncodedSource } from '../../src/media/source.js';
import type { DecoderConfig } from '../../src/protocol/messages.js';

// No screen in tests: SDL's dummy driver lets ffplay decode and "show" frames without a window.
process.env.SDL_VIDEODRIVER = 'dummy';
process.env.SDL_AUDIODRIVER = 'dummy';

describe('startDisplay', { timeout: 60_000 }, () => {
  it('refuses a codec it cannot show', () => {
    assert.throws(
      () => startDisplay({ codec: 'hvc1.1.6.L93.B0', codedWidth: 2, codedHeight: 2 }),
      (e: unknown) => e instanceof MediaError && e.code === 'FW_UNSUPPORTED_CODEC',
    );
  });

  it('reports a missing ffplay as FW_FFMPEG_MISSING, then exit', async () => {
    const display = startDisplay(
      { codec: 'vp8', codedWidth: 2, codedHeight: 2 },
      { ffplayPath: '/nonexistent/ffplay' },
    );
    const error = new Promise<MediaError>((resolve) => display.on('error', resolve));
    const exit = new Promise<void>((resolve) => display.on('exit', resolve));
    assert.equal((await error).code, 'FW_FFMPEG_MISSING');
    await exit;
    display.write({ key: true, timestamp: 0, data: new Uint8Array(1) }); // ignored, no throw
    await display.close();
  });

  it('Ctrl-C reaching ffplay (it exits 123) is a stop, not an error', async () => {
    const display = startDisplay({ codec: 'vp8', codedWidth: 160, codedHeight: 120 });
    const errors: MediaError[] = [];
    display.on('error', (e) => errors.push(e));
    const exit = new Promise<void>((resolve) => display.on('exit', resolve));
    // The terminal sends SIGINT to the whole process group: here, straight to our ffplay child.
    let pid = '';
    for (let i = 0; i < 50 && pid === ''; i++) {
      try {
        pid = execFileSync('pgrep', ['-n', '-P', String(process.pid), 'ffplay'])
          .toString()
          .trim();
      } catch {
        await new Promise((r) => setTimeout(r, 20));
      }
    }
    assert.notEqual(pid, '', 'ffplay started');
    // Only once ffplay catches SIGINT (its handler installed: bit 2 of SigCgt in /proc) is this the user's
    // Ctrl-C; before that the signal would just kill it.
    const catchesSigint = () => {
      const mask = /SigCgt:\s*([0-9a-f]+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? '0';
      return (BigInt(`0x${mask}`) & 2n) !== 0n;
    };
    for (let i = 0; i < 100 && !catchesSigint(); i++) await new Promise((r) => setTimeout(r, 20));
    assert.ok(catchesSigint(), 'ffplay installed its SIGINT handler');
    process.kill(Number(pid), 'SIGINT');
    await exit;
    assert.deepEqual(errors, []);
    await display.close();
  });

  for (const codec of ['vp8', 'h264'] as const) {
    it(`plays ${codec} from a live source and exits on close`, async () => {
      const source = startEncodedSource({
        input: { kind: 'test-pattern' },
        codec,
        width: 160,
        height: 120,
        fps: 15,
        bitrate: 100_000,
        durationSec: 1,
      });
      // Listening from the start: the first keyframe may come in the same read as the config, before an
      // `await` on the config returns.
      const early: EncodedFrame[] = [];
      let display: ReturnType<typeof startDisplay> | null = null;
      source.on('frame', (f: EncodedFrame) => (display ? display.write(f) : early.push(f)));
      const config = await new Promise<DecoderConfig>((resolve) => source.once('config', resolve));
      display = startDisplay(config, { title: `test ${codec}` });
      const errors: MediaError[] = [];
      display.on('error', (e) => errors.push(e));
      let exited = false;
      display.on('exit', () => {
        exited = true;
      });
      // A delta before any keyframe is useless to a decoder: it must be dropped, not sent.
      display.write({ key: false, timestamp: 0, data: new Uint8Array([1]) });
      for (const f of early) display.write(f);
      await new Promise<void>((resolve, reject) => {
        source.on('end', resolve);
        source.on('error', reject);
      });
      await display.close();
      assert.equal(exited, true);
      assert.deepEqual(errors, []);
      assert.equal(display.droppedFrames, 1);
    });
  }
});
