import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type ParseArgsConfig, parseArgs } from 'node:util';
import { parseArgsProblem, withUsage } from '../../src/cli/args.js';
import { CliError, EXIT_FAILURE, EXIT_USAGE, toCliError } from '../../src/cli/errors.js';
import { checkOutFile, codecMismatch } from '../../src/cli/out-file.js';
import { NotFramewireError } from '../../src/client/errors.js';
import { missingDisplay } from '../../src/media/display.js';

/** The CliError withUsage throws for `argv` parsed with `options` (as the commands call it). */
function usageFailure(
  command: string,
  argv: string[],
  options: NonNullable<ParseArgsConfig['options']>,
  passArgv = true,
): CliError {
  try {
    withUsage(
      command,
      () => parseArgs({ args: argv, strict: true, allowPositionals: false, options }),
      passArgv ? argv : undefined,
    );
  } catch (err) {
    assert.ok(err instanceof CliError, `a CliError, not ${String(err)}`);
    return err;
  }
  assert.fail(`framewire ${command} ${argv.join(' ')} parsed`);
}

describe('withUsage: parseArgs errors as one line naming the flag', () => {
  it('--duration -1: what the flag takes and the value, in one line (parseArgs says it in three)', () => {
    const err = usageFailure('watch', ['--room', 'r', '--duration', '-1'], {
      room: { type: 'string' },
      duration: { type: 'string' },
    });
    assert.equal(err.exitCode, EXIT_USAGE);
    assert.equal(
      err.message,
      '--duration takes a number of seconds > 0, got "-1": see `framewire watch --help`',
    );
  });

  it('a short flag is named by its long name', () => {
    const err = usageFailure('watch', ['-d', '-5'], { duration: { type: 'string', short: 'd' } });
    assert.equal(
      err.message,
      '--duration takes a number of seconds > 0, got "-5": see `framewire watch --help`',
    );
  });

  it('without argv (a command that does not pass it) it still names the flag in one line', () => {
    const err = usageFailure('serve', ['--tcp-port', '-1'], { 'tcp-port': { type: 'string' } }, false);
    assert.equal(
      err.message,
      '--tcp-port takes a port number (0..65535), got a value starting with "-": see `framewire serve --help`',
    );
  });

  it('a file flag says how to pass a value that really starts with "-"', () => {
    const err = usageFailure('watch', ['--out', '-x.webm'], { out: { type: 'string' } });
    assert.match(
      err.message,
      /^--out takes a file name .*, got "-x\.webm" \(if that is the value, write --out=-x\.webm\)/,
    );
  });

  it('a flag given no value at all', () => {
    const err = usageFailure('publish', ['--fps'], { fps: { type: 'string' } });
    assert.equal(
      err.message,
      '--fps takes a number of frames per second > 0, and none was given: see `framewire publish --help`',
    );
  });

  it('other parseArgs messages keep their words, on one line', () => {
    const unknown = usageFailure('token', ['--bogus'], { room: { type: 'string' } });
    assert.equal(unknown.message, "Unknown option '--bogus': see `framewire token --help`");
    const positional = usageFailure('watch', ['x'], { room: { type: 'string' } });
    assert.doesNotMatch(positional.message, /\n/);
  });

  it('every message it makes is one line', () => {
    for (const message of [
      "Option '--ttl' argument is ambiguous.\nDid you forget to specify the option argument for '--ttl'?\nTo specify an option argument starting with a dash use '--ttl=-XYZ'.",
      'Some future message\nwith a second line',
    ]) {
      assert.doesNotMatch(parseArgsProblem(message), /\n/);
    }
  });
});

describe('checkOutFile: where watch --out may write', () => {
  let dir = '';
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'framewire-out-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('takes .webm, .mkv and .mp4 (any case) in an existing folder', () => {
    assert.deepEqual(checkOutFile('watch', join(dir, 'a.webm'), false), {
      path: join(dir, 'a.webm'),
      container: 'webm',
    });
    assert.equal(checkOutFile('watch', join(dir, 'a.MP4'), false).container, 'mp4');
    assert.equal(checkOutFile('watch', join(dir, 'a.mkv'), false).container, 'mkv');
  });

  it('another extension is a usage error naming the ones that work', () => {
    for (const name of ['x.txt', 'x', 'x.webm.part']) {
      assert.throws(
        () => checkOutFile('watch', join(dir, name), false),
        (e: unknown) =>
          e instanceof CliError &&
          e.exitCode === EXIT_USAGE &&
          /must end in \.webm or \.mkv .* or \.mp4/.test(e.message),
      );
    }
  });

  it('a missing folder is a CliError naming it, and creates nothing', () => {
    const path = join(dir, 'nodir', 'y.mp4');
    assert.throws(
      () => checkOutFile('watch', path, false),
      (e: unknown) =>
        e instanceof CliError &&
        e.exitCode === EXIT_FAILURE &&
        e.message ===
          `cannot record to ${path}: the folder "${join(dir, 'nodir')}" does not exist: create it or choose another --out`,
    );
    assert.deepEqual(
      readdirSync(dir).filter((f) => f === 'nodir'),
      [],
    );
  });

  it('a "folder" that is a file is refused', () => {
    writeFileSync(join(dir, 'plain'), 'x');
    assert.throws(
      () => checkOutFile('watch', join(dir, 'plain', 'y.mp4'), false),
      (e: unknown) => e instanceof CliError && /is not a folder/.test(e.message),
    );
  });

  it('an existing file is refused without force, and left as it was', () => {
    const path = join(dir, 'keep.webm');
    writeFileSync(path, 'precious');
    assert.throws(
      () => checkOutFile('watch', path, false),
      (e: unknown) =>
        e instanceof CliError &&
        e.exitCode === EXIT_FAILURE &&
        e.message === `${path} already exists: pass --force to overwrite it, or choose another --out`,
    );
    assert.equal(readFileSync(path, 'utf8'), 'precious');
    assert.equal(checkOutFile('watch', path, true).path, path);
    assert.equal(readFileSync(path, 'utf8'), 'precious', 'checking never writes');
  });

  it('a folder where the file should be is refused even with force', () => {
    mkdirSync(join(dir, 'd.mp4'));
    assert.throws(
      () => checkOutFile('watch', join(dir, 'd.mp4'), true),
      (e: unknown) => e instanceof CliError && /exists and is not a file/.test(e.message),
    );
  });
});

describe('codecMismatch: the stream against the --out container', () => {
  const h264 = { codec: 'avc1.42e01f', codedWidth: 640, codedHeight: 480 };
  const vp8 = { codec: 'vp8', codedWidth: 640, codedHeight: 480 };

  it('H.264 into .webm names the file that fits', () => {
    assert.equal(
      codecMismatch({ path: 'x.webm', container: 'webm' }, h264),
      'the stream is H.264 (avc1.42e01f): .webm cannot hold it; use --out x.mp4',
    );
    assert.equal(
      codecMismatch({ path: 'rec/cam.1.mkv', container: 'mkv' }, h264),
      'the stream is H.264 (avc1.42e01f): .mkv cannot hold it; use --out rec/cam.1.mp4',
    );
  });

  it('pairs that fit give null', () => {
    assert.equal(codecMismatch({ path: 'x.mp4', container: 'mp4' }, h264), null);
    assert.equal(codecMismatch({ path: 'x.webm', container: 'webm' }, vp8), null);
    assert.equal(codecMismatch({ path: 'x.mp4', container: 'mp4' }, vp8), null);
  });

  it('a codec no container holds says to watch without --out', () => {
    assert.match(
      codecMismatch({ path: 'x.mp4', container: 'mp4' }, { ...h264, codec: 'hvc1.1.6.L93.B0' }) ?? '',
      /^the stream is H\.265 \(hvc1\.1\.6\.L93\.B0\): \.mp4 cannot hold it, .*without --out$/,
    );
  });
});

describe('missingDisplay: can ffplay open a window here', () => {
  it('on Linux with neither DISPLAY nor WAYLAND_DISPLAY: no display, said as such', () => {
    assert.equal(
      missingDisplay({}, 'linux'),
      'there is no display here (DISPLAY and WAYLAND_DISPLAY are not set)',
    );
    // An empty DISPLAY names no display either.
    assert.notEqual(missingDisplay({ DISPLAY: '' }, 'freebsd'), null);
  });

  it('X11, Wayland, an SDL driver chosen by hand, macOS and Windows: a display', () => {
    assert.equal(missingDisplay({ DISPLAY: ':0' }, 'linux'), null);
    assert.equal(missingDisplay({ WAYLAND_DISPLAY: 'wayland-0' }, 'linux'), null);
    assert.equal(missingDisplay({ SDL_VIDEODRIVER: 'dummy' }, 'linux'), null);
    assert.equal(missingDisplay({}, 'darwin'), null);
    assert.equal(missingDisplay({}, 'win32'), null);
  });
});

describe('toCliError: FW_NOT_FRAMEWIRE (--server names an HTTP port)', () => {
  it('names the socket protocol port on the same host', () => {
    const err = toCliError(new NotFramewireError('10.0.0.5', 7480, false, 'HTTP/1.1 400 Bad Request'));
    assert.equal(err?.exitCode, EXIT_FAILURE);
    assert.equal(
      err?.message,
      `10.0.0.5:7480 answered in HTTP ("HTTP/1.1 400 Bad Request"): this is Framewire's HTTP port (or another web server); the socket protocol is on 7420 unless serve was given --tcp-port: use --server 10.0.0.5:7420`,
    );
  });

  it('keeps tls:// for a TLS server', () => {
    const err = toCliError(new NotFramewireError('relay.example', 7480, true, 'HTTP/1.1 400 Bad Request'));
    assert.match(err?.message ?? '', /use --server tls:\/\/relay\.example:7420$/);
  });

  it('on 7420 itself it does not send the user back to the same port', () => {
    const err = toCliError(new NotFramewireError('127.0.0.1', 7420, false, 'HTTP/1.0 200 OK'));
    assert.doesNotMatch(err?.message ?? '', /use --server/);
    assert.match(err?.message ?? '', /another program on port 7420/);
  });
});
