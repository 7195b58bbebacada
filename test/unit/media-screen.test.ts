import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { CaptureStatus } from '../../src/cli/capture-status.js';
import { CliError, EXIT_USAGE } from '../../src/cli/errors.js';
import { parseScreenFlags, type ScreenFlags } from '../../src/cli/screen-flags.js';
import { CapturePace } from '../../src/media/capture-pace.js';
import { buildEncodeArgs } from '../../src/media/ffmpeg-args.js';
import { type ScreenInput, screenFailure, screenPreflight } from '../../src/media/screen.js';

/** The usage error parseScreenFlags throws for `flags`. */
function flagError(flags: ScreenFlags, env: NodeJS.ProcessEnv = {}): string {
  try {
    parseScreenFlags(flags, env);
  } catch (err) {
    assert.ok(err instanceof CliError, String(err));
    assert.equal(err.exitCode, EXIT_USAGE);
    return err.message;
  }
  assert.fail(`parsed ${JSON.stringify(flags)}`);
}

describe('publish --screen flags', () => {
  it('--screen alone takes $DISPLAY; --screen :N names the display', () => {
    assert.deepEqual(parseScreenFlags({ screen: '' }, { DISPLAY: ':0' }), { kind: 'screen', display: ':0' });
    assert.deepEqual(parseScreenFlags({ screen: ':99.0' }, { DISPLAY: ':0' }), {
      kind: 'screen',
      display: ':99.0',
    });
  });

  it('--window takes xwininfo hex or decimal ids; --region takes X geometry', () => {
    const input = parseScreenFlags({ screen: ':1', window: '0x1e00007', region: '1280x720+10+20' });
    assert.deepEqual(input, {
      kind: 'screen',
      display: ':1',
      windowId: 0x1e00007,
      region: { width: 1280, height: 720, x: 10, y: 20 },
    });
    assert.equal(parseScreenFlags({ window: '31457287' }, { DISPLAY: ':1' }).windowId, 31457287);
  });

  it('refuses what x11grab cannot take, naming the flag', () => {
    assert.match(flagError({ screen: '' }), /--screen needs an X display/);
    assert.match(flagError({ screen: 'wayland-0' }), /--screen "wayland-0" is not an X display/);
    assert.match(flagError({ screen: ':0', window: 'firefox' }), /--window "firefox" is not an X window id/);
    assert.match(flagError({ screen: ':0', window: '0' }), /--window "0"/);
    assert.match(flagError({ screen: ':0', region: '1281x720+0+0' }), /--region "1281x720\+0\+0" is not/);
    assert.match(flagError({ screen: ':0', region: '1280x720' }), /--region "1280x720" is not/);
  });
});

describe('the screen input of ffmpeg', () => {
  const base = { codec: 'h264', fps: 60, bitrate: 4_000_000 } as const;

  it('grabs the whole screen at its own size with x11grab, at the asked rate, stamped on arrival', () => {
    const args = buildEncodeArgs({ ...base, input: { kind: 'screen', display: ':99' } });
    const at = args.indexOf('x11grab');
    assert.deepEqual(args.slice(at - 1, at + 5), ['-f', 'x11grab', '-framerate', '60', '-i', ':99']);
    assert.ok(!args.includes('-video_size'), 'no size: x11grab takes the screen’s own');
    const vf = args[args.indexOf('-vf') + 1] ?? '';
    assert.match(vf, /^crop=trunc\(iw\/2\)\*2:trunc\(ih\/2\)\*2,settb=AVTB,setpts=RTCTIME$/);
    assert.deepEqual(args.slice(args.indexOf('-tune') - 2, args.indexOf('-tune') + 2), [
      '-preset',
      'ultrafast',
      '-tune',
      'zerolatency',
    ]);
    // The keyframe interval is the same 2 s as for every input.
    assert.equal(args[args.indexOf('-g') + 1], '120');
    assert.ok(!args.includes('[a]'), 'no sound of its own');
  });

  it('a window and a region: -window_id, -video_size and the offset in the input name', () => {
    const input: ScreenInput = {
      kind: 'screen',
      display: ':1.0',
      windowId: 4194305,
      region: { width: 640, height: 360, x: 8, y: 16 },
    };
    const args = buildEncodeArgs({ ...base, codec: 'vp8', input, width: 320, height: 180 });
    assert.equal(args[args.indexOf('-window_id') + 1], '4194305');
    assert.equal(args[args.indexOf('-video_size') + 1], '640x360');
    assert.equal(args[args.indexOf('-i') + 1], ':1.0+8,16');
    assert.match(args[args.indexOf('-vf') + 1] ?? '', /,scale=320:180,/);
    assert.equal(args[args.indexOf('-deadline') + 1], 'realtime');
  });

  it('with a microphone, the sound is stamped on arrival as the picture is', () => {
    const args = buildEncodeArgs({
      ...base,
      input: { kind: 'screen', display: ':1' },
      audio: { kind: 'mic', backend: 'pulse', device: 'default' },
    });
    assert.match(args[args.indexOf('-filter_complex') + 1] ?? '', /setpts=RTCTIME\[v\];\[1:a:0\]/);
  });
});

describe('screen failures', () => {
  it('a local display without its socket is refused before ffmpeg starts', () => {
    const dir = mkdtempSync(join(tmpdir(), 'fw-x11-'));
    try {
      writeFileSync(join(dir, 'X5'), '');
      assert.equal(screenPreflight({ kind: 'screen', display: ':5.0' }, dir), null);
      const err = screenPreflight({ kind: 'screen', display: ':6' }, dir);
      assert.equal(err?.code, 'FW_DISPLAY_MISSING');
      assert.match(err?.message ?? '', /^cannot open X display :6: is an X server running there\?/);
      // A remote display is ffmpeg's to try.
      assert.equal(screenPreflight({ kind: 'screen', display: 'host:0' }, dir), null);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("x11grab's words become codes: no display, a region off the screen", () => {
    const input: ScreenInput = { kind: 'screen', display: ':3' };
    assert.equal(
      screenFailure(input, '[x11grab @ 0x1] Cannot open display :3, error 1.')?.code,
      'FW_DISPLAY_MISSING',
    );
    const off = screenFailure(input, 'Capture area 800x600 at position 0.0 outside the screen size 640x480');
    assert.match(off?.message ?? '', /the region does not fit on display :3/);
    assert.equal(screenFailure(input, 'something else'), null);
    const gone = screenFailure(
      { ...input, windowId: 12345 },
      "[x11grab @ 0x1] Can't find window '0x3039', aborting.",
    );
    assert.equal(gone?.code, 'FW_WINDOW_MISSING');
  });
});

describe('CapturePace: pictures missed against the requested rate', () => {
  const period = 1e6 / 60;

  it('misses none while the stamps keep the rate, jitter and all', () => {
    const pace = new CapturePace(60);
    for (let i = 0; i < 600; i++) pace.frame(1e15 + i * period + (i % 2 ? 4000 : -4000));
    assert.equal(pace.missed, 0);
    assert.equal(pace.captured, 600);
  });

  it('counts the pictures a slow encoder did not take (40 of 60 a second)', () => {
    const pace = new CapturePace(60);
    for (let i = 0; i < 120; i++) pace.frame(i * 25_000);
    // 119 gaps of 25 ms span 2.975 s: 179 pictures were due, 120 taken.
    assert.equal(pace.missed, 59);
  });

  it('takes back what x11grab catches up after a stall', () => {
    const pace = new CapturePace(60);
    let t = 0;
    const at = (step: number): number => {
      t += step;
      return t;
    };
    for (let i = 0; i < 60; i++) pace.frame(at(period));
    pace.frame(at(210_000)); // a 210 ms stall: 11 pictures of the schedule fall in it
    assert.equal(pace.missed, 11);
    // x11grab grabs back to back until it is on schedule again.
    for (let i = 0; i < 12; i++) pace.frame(at(1000));
    for (let i = 0; i < 10; i++) pace.frame(at(period));
    assert.ok(pace.missed <= 1, `${pace.missed} missed after catching up`);
  });
});

describe('CaptureStatus', () => {
  it('warns once, with the fix, when a second misses more than a tenth of its pictures', () => {
    const status = new CaptureStatus(60, 'vp8');
    for (let i = 0; i < 60; i++) status.frame(i * (1e6 / 60));
    assert.equal(status.tick(), null);
    for (let i = 0; i < 40; i++) status.frame(1e6 + i * 25_000);
    assert.match(status.tick() ?? '', /does not keep up with 60 fps \(\d+ pictures missed.*--codec h264$/);
    for (let i = 0; i < 40; i++) status.frame(2e6 + i * 25_000);
    assert.equal(status.tick(), null, 'said once');
    assert.match(status.statusPart(), /^, capture missed \d+$/);
    assert.match(
      status.summary(),
      /^the capture took 140 pictures and missed \d+ \(\d+\.\d %\) of \d+ due at 60 fps$/,
    );
  });
});
