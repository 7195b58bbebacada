import assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { connect } from '../../src/client/client.js';
import { NotFramewireError } from '../../src/client/errors.js';
import { type RelayServer, startServer } from '../../src/server/index.js';
import {
  probe,
  publishTestPattern,
  type Result,
  run,
  type Served,
  serve,
  tempDirForFile,
} from '../helpers/cli.js';
import { makeTestPki, type TestPki } from '../helpers/tls-certs.js';

// Mistakes a new user makes in the first hour (issue 11), each run through the real CLI from dist/:
// every one must end in one line that says what is wrong and what to do, with no stack and no harm done.

const tmpDir = tempDirForFile('framewire-mistakes-', { build: true });

/** Asserts `r` failed with `code` and exactly one `framewire: ...` line on stderr, and returns that line. */
function oneLineFailure(r: Result, code: number): string {
  assert.equal(r.code, code, `exit code, stderr:\n${r.stderr}`);
  assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
  assert.doesNotMatch(r.stderr, /unexpected error/);
  const lines = r.stderr.split('\n').filter((l) => l !== '' && !/^framewire: stream \S+ \(/.test(l));
  assert.equal(lines.length, 1, `one line of error, got:\n${r.stderr}`);
  assert.match(lines[0] as string, /^framewire: /);
  return lines[0] as string;
}

/** A port nothing listens on: bound by us, then released. A command that fails there has not connected. */
async function closedPort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address() as net.AddressInfo;
  await new Promise((r) => s.close(r));
  return port;
}

describe('watch --out: the file is checked before anything is touched', { timeout: 60_000 }, () => {
  let server: Served;
  let nowhere = '';
  before(async () => {
    server = await serve();
    // Against a closed port: a command that got past its checks would say "cannot reach the server".
    nowhere = `127.0.0.1:${await closedPort()}`;
  });

  it('--out x.txt is a usage error (exit 2) before connecting, and creates no file', async () => {
    const out = join(tmpDir(), 'x.txt');
    const r = await run(['watch', '--server', nowhere, '--room', 'r', '--out', out]);
    const line = oneLineFailure(r, 2);
    assert.match(line, /--out ".*x\.txt" must end in \.webm or \.mkv .* or \.mp4 /);
    assert.equal(existsSync(out), false);
  });

  it('--out nodir/y.mp4 says the folder does not exist (exit 1), no stack, before connecting', async () => {
    const out = join(tmpDir(), 'nodir', 'y.mp4');
    const r = await run(['watch', '--server', nowhere, '--room', 'r', '--out', out]);
    assert.equal(
      oneLineFailure(r, 1),
      `framewire: cannot record to ${out}: the folder "${join(tmpDir(), 'nodir')}" does not exist: create it or choose another --out`,
    );
  });

  it('an existing --out file is refused without --force, and left as it was', async () => {
    const out = join(tmpDir(), 'exists.webm');
    writeFileSync(out, 'an earlier recording');
    const r = await run(['watch', '--server', nowhere, '--room', 'r', '--out', out]);
    assert.equal(
      oneLineFailure(r, 1),
      `framewire: ${out} already exists: pass --force to overwrite it, or choose another --out`,
    );
    assert.equal(readFileSync(out, 'utf8'), 'an earlier recording');
  });

  it('an H.264 stream into .webm stops watch at once naming .mp4; the existing file (--force) is untouched', async () => {
    const existing = join(tmpDir(), 'h264.webm');
    const fresh = join(tmpDir(), 'h264-new.mkv');
    writeFileSync(existing, 'an earlier recording');
    const srv = `127.0.0.1:${server.port}`;
    const room = 'mismatch';
    const started = Date.now();
    const timed = (args: string[]) =>
      run(args).then((r) => ({ ...r, seconds: (Date.now() - started) / 1000 }));
    // --duration 30: before the fix these ran to the end, printing "0 frames recorded".
    const watchers = Promise.all([
      timed(['watch', '--server', srv, '--room', room, '--out', existing, '--force', '--duration', '30']),
      timed(['watch', '--server', srv, '--room', room, '--out', fresh, '--duration', '30']),
    ]);
    const pub = await publishTestPattern(server.port, room, 'cam', { codec: 'h264', durationSec: 4 });
    const [overwrite, create] = await watchers;
    assert.equal(pub.code, 0, pub.stderr);
    assert.match(
      oneLineFailure(overwrite, 1),
      new RegExp(
        `^framewire: the stream is H\\.264 \\(avc1\\.[0-9a-f]{6}\\): \\.webm cannot hold it; use --out ${join(tmpDir(), 'h264')}\\.mp4$`,
      ),
    );
    assert.match(oneLineFailure(create, 1), /\.mkv cannot hold it; use --out .*h264-new\.mp4$/);
    assert.doesNotMatch(overwrite.stderr, /frames recorded/, 'it said so at once, not after a run');
    // Both stopped when the stream appeared, while the 4 s publisher still ran.
    for (const r of [overwrite, create]) assert.ok(r.seconds < 10, `watch ran ${r.seconds} s`);
    assert.equal(readFileSync(existing, 'utf8'), 'an earlier recording');
    assert.equal(existsSync(fresh), false);
  });

  it('--force overwrites an existing file with a recording that plays', async () => {
    const out = join(tmpDir(), 'force.webm');
    writeFileSync(out, 'an earlier recording');
    const srv = `127.0.0.1:${server.port}`;
    const watching = run([
      'watch',
      '--server',
      srv,
      '--room',
      'forced',
      '--out',
      out,
      '--force',
      '--duration',
      '5',
    ]);
    const pub = await publishTestPattern(server.port, 'forced', 'cam', { codec: 'vp8', durationSec: 4 });
    const watch = await watching;
    assert.equal(pub.code, 0, pub.stderr);
    assert.equal(watch.code, 0, watch.stderr);
    const { codec, frames } = await probe(out);
    assert.equal(codec, 'vp8');
    assert.ok(frames > 0, `${frames} frames`);
  });

  it('--force without --out is a usage error, and watch --help documents --force', async () => {
    oneLineFailure(await run(['watch', '--room', 'r', '--force']), 2);
    const help = await run(['watch', '--help']);
    assert.match(help.stdout, /^ {2}--force {13}with --out: overwrite FILE if it exists$/m);
  });
});

describe('--server on the HTTP port: said as such, not as FW_TOO_LARGE', { timeout: 30_000 }, () => {
  let server: RelayServer;
  before(async () => {
    server = await startServer({ tcpPort: 0, httpPort: 0, log: () => {} });
  });
  after(() => server.close());

  it('the client library rejects with FW_NOT_FRAMEWIRE, quoting the HTTP status line', async () => {
    const err = await connect({
      host: '127.0.0.1',
      port: server.httpPort,
      role: 'viewer',
      timeoutMs: 3000,
    }).then(
      () => assert.fail('connected to an HTTP port'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof NotFramewireError, String(err));
    assert.equal(err.code, 'FW_NOT_FRAMEWIRE');
    // Node's own answer to bytes that are not HTTP: what our hello gets from the HTTP port.
    assert.equal(err.statusLine, 'HTTP/1.1 400 Bad Request');
  });

  it('an HTTP answer split across reads ("HTT" then "P/1.1 ...") is still recognised', async () => {
    const sockets = new Set<net.Socket>();
    const raw = net.createServer((socket) => {
      sockets.add(socket);
      socket.on('error', () => {}); // the client hangs up on it
      socket.write('HTT');
      setTimeout(() => socket.end('P/1.1 200 OK\r\ncontent-length: 0\r\n\r\n'), 50);
    });
    await new Promise<void>((r) => raw.listen(0, '127.0.0.1', r));
    const { port } = raw.address() as net.AddressInfo;
    try {
      const err = await connect({ host: '127.0.0.1', port, role: 'viewer', timeoutMs: 3000 }).then(
        () => assert.fail('connected'),
        (e: unknown) => e,
      );
      assert.ok(err instanceof NotFramewireError, String(err));
      assert.equal(err.statusLine, 'HTTP/1.1 200 OK');
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise((r) => raw.close(r));
    }
  });

  for (const command of ['watch', 'publish'] as const) {
    it(`${command} --server HOST:<http port> names the socket protocol port, in one line`, async () => {
      const args = ['--server', `127.0.0.1:${server.httpPort}`, '--room', 'r'];
      if (command === 'publish') args.push('--name', 'n', '--test-pattern');
      const line = oneLineFailure(await run([command, ...args]), 1);
      assert.equal(
        line,
        `framewire: 127.0.0.1:${server.httpPort} answered in HTTP ("HTTP/1.1 400 Bad Request"): this is Framewire's HTTP port (or another web server); the socket protocol is on 7420 unless serve was given --tcp-port: use --server 127.0.0.1:7420`,
      );
      assert.doesNotMatch(line, /FW_TOO_LARGE|1213486160/);
    });
  }

  describe('with TLS', () => {
    let pki: TestPki;
    let secure: RelayServer;
    before(async () => {
      pki = makeTestPki();
      secure = await startServer({
        tcpPort: 0,
        httpPort: 0,
        tlsCert: pki.certFile,
        tlsKey: pki.keyFile,
        log: () => {},
      });
    });
    after(async () => {
      await secure.close();
      rmSync(pki.dir, { recursive: true, force: true });
    });

    it('watch --server tls://HOST:<https port> keeps tls:// in the address it suggests', async () => {
      const r = await run([
        'watch',
        '--server',
        `tls://127.0.0.1:${secure.httpPort}`,
        '--ca',
        pki.caFile,
        '--room',
        'r',
      ]);
      assert.match(
        oneLineFailure(r, 1),
        /this is Framewire's HTTP port .*: use --server tls:\/\/127\.0\.0\.1:7420$/,
      );
    });
  });
});

describe('watch --display without a display', { timeout: 30_000 }, () => {
  // The environment of an SSH session or a container: no X11, no Wayland, no SDL driver chosen.
  const headless: NodeJS.ProcessEnv = { ...process.env };
  delete headless.DISPLAY;
  delete headless.WAYLAND_DISPLAY;
  delete headless.SDL_VIDEODRIVER;

  it('fails in one line before ffplay (and before connecting), suggesting --out and the /live/ URL', async () => {
    const nowhere = `127.0.0.1:${await closedPort()}`;
    const r = await run(
      ['watch', '--server', nowhere, '--room', 'lab', '--name', 'cam', '--display'],
      20_000,
      headless,
    );
    const line = oneLineFailure(r, 1);
    assert.match(
      line,
      /^framewire: cannot --display: there is no display here \(DISPLAY and WAYLAND_DISPLAY are not set\): /,
    );
    assert.match(line, /--out FILE/);
    assert.match(line, /http:\/\/127\.0\.0\.1:7480\/live\/lab\/cam\.webm/);
    assert.doesNotMatch(line, /ffplay|XDG_RUNTIME_DIR/);
  });

  it('without --name the URL names the stream as a placeholder', async () => {
    const nowhere = `127.0.0.1:${await closedPort()}`;
    const r = await run(['watch', '--server', nowhere, '--room', 'lab', '--display'], 20_000, headless);
    assert.match(oneLineFailure(r, 1), /\/live\/lab\/<stream>\.webm/);
  });
});

describe('a flag value that starts with "-": one line naming the flag, for every command', {
  timeout: 30_000,
}, () => {
  it('watch --duration -1', async () => {
    const r = await run(['watch', '--room', 'r', '--duration', '-1']);
    assert.equal(
      oneLineFailure(r, 2),
      'framewire: --duration takes a number of seconds > 0, got "-1": see `framewire watch --help`',
    );
  });

  for (const [command, args, flag] of [
    ['publish', ['--room', 'r', '--name', 'n', '--test-pattern', '--duration', '-1'], '--duration'],
    ['publish', ['--room', 'r', '--name', 'n', '--test-pattern', '--fps', '-30'], '--fps'],
    ['serve', ['--tcp-port', '-1'], '--tcp-port'],
    ['token', ['--room', 'r', '--ttl', '-1h'], '--ttl'],
  ] as const) {
    it(`${command} ${args.join(' ')}`, async () => {
      const line = oneLineFailure(await run([command, ...args]), 2);
      assert.match(
        line,
        new RegExp(`^framewire: ${flag} takes .+, got .+: see \`framewire ${command} --help\`$`),
      );
      assert.doesNotMatch(line, /ambiguous|Did you forget/);
    });
  }
});
