import assert from 'node:assert/strict';
import { type ChildProcess, execFile, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';

// The real launcher, as a user runs it: it imports the compiled CLI from dist/.
const ROOT = resolve(import.meta.dirname, '../..');
const BIN = join(ROOT, 'bin/framewire');

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

const started = new Set<ChildProcess>();

/** Runs `framewire args...` to completion (killed by PID at the deadline). */
function run(args: string[], timeoutMs = 20_000): Promise<Result> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    started.add(child);
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => {
      stdout += s;
    });
    child.stderr.setEncoding('utf8').on('data', (s: string) => {
      stderr += s;
    });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`framewire ${args.join(' ')} did not finish in ${timeoutMs} ms\n${stderr}`));
    }, timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      started.delete(child);
      resolvePromise({ code, stdout, stderr });
    });
  });
}

/** Starts `framewire serve` on free ports and reads the TCP port from its first line. */
function serve(): Promise<{ child: ChildProcess; port: number }> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [BIN, 'serve', '--tcp-port', '0', '--http-port', '0'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    started.add(child);
    let out = '';
    let err = '';
    child.stderr.setEncoding('utf8').on('data', (s: string) => {
      err += s;
    });
    const timer = setTimeout(() => reject(new Error(`serve printed no address in time\n${err}`)), 10_000);
    child.stdout.setEncoding('utf8').on('data', (s: string) => {
      out += s;
      const m = /^framewire listening on tcp:\/\/127\.0\.0\.1:(\d+)$/m.exec(out);
      if (m) {
        clearTimeout(timer);
        resolvePromise({ child, port: Number(m[1]) });
      }
    });
    child.on('close', (code) => {
      started.delete(child);
      clearTimeout(timer);
      reject(new Error(`serve exited with ${code}\n${err}`));
    });
  });
}

function exited(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((r) => child.once('exit', (code) => r(code)));
}

/** Codec name and decoded frame count of a recording, read by ffprobe (which decodes every frame). */
function probe(path: string): Promise<{ codec: string; frames: number }> {
  return new Promise((resolvePromise, reject) => {
    execFile(
      'ffprobe',
      [
        '-v',
        'error',
        '-count_frames',
        '-select_streams',
        'v:0',
        '-show_entries',
        'stream=codec_name,nb_read_frames',
        '-of',
        'json',
        path,
      ],
      (err, stdout, stderr) => {
        if (err) return reject(new Error(`ffprobe ${path}: ${stderr}`));
        const stream = (JSON.parse(stdout) as { streams: { codec_name: string; nb_read_frames: string }[] })
          .streams[0];
        if (!stream) return reject(new Error(`no video stream in ${path}`));
        resolvePromise({ codec: stream.codec_name, frames: Number(stream.nb_read_frames) });
      },
    );
  });
}

let tmp = '';
let server: { child: ChildProcess; port: number };

before(() => {
  // `npm test` builds first; a direct run of this file builds here so it never tests a stale dist/.
  if (!existsSync(join(ROOT, 'dist/cli/main.js'))) {
    const build = spawnSync('npm', ['run', 'build'], { cwd: ROOT, stdio: 'inherit' });
    assert.equal(build.status, 0, 'npm run build failed');
  }
  tmp = mkdtempSync(join(tmpdir(), 'framewire-cli-'));
});

after(async () => {
  for (const child of started) {
    child.kill('SIGKILL');
    await exited(child);
  }
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

describe('framewire CLI', { timeout: 60_000 }, () => {
  before(async () => {
    server = await serve();
  });

  for (const { codec, ext, ffprobeName } of [
    { codec: 'vp8', ext: 'webm', ffprobeName: 'vp8' },
    { codec: 'h264', ext: 'mp4', ffprobeName: 'h264' },
  ]) {
    it(`publish --test-pattern --codec ${codec} → watch --out .${ext}: a decodable recording`, async () => {
      const out = join(tmp, `out-${codec}.${ext}`);
      const srv = `127.0.0.1:${server.port}`;
      const room = `room-${codec}`;
      // Watching the whole room, the viewer gets the stream whether it subscribes before or after it
      // is published (then from the cached GOP), so the two can start together.
      const watching = run(['watch', '--server', srv, '--room', room, '--out', out, '--duration', '5']);
      const publishing = run([
        'publish',
        '--server',
        srv,
        '--room',
        room,
        '--name',
        'pattern',
        '--test-pattern',
        '--codec',
        codec,
        '--duration',
        '4',
        '--size',
        '320x240',
        '--fps',
        '15',
      ]);
      const [pub, watch] = await Promise.all([publishing, watching]);
      assert.equal(pub.code, 0, `publish failed:\n${pub.stderr}`);
      assert.equal(watch.code, 0, `watch failed:\n${watch.stderr}`);
      assert.match(pub.stderr, /published \d+ frames/);
      assert.match(watch.stderr, new RegExp(`recorded \\d+ frames of ${room}/pattern`));
      const { codec: found, frames } = await probe(out);
      assert.equal(found, ffprobeName);
      const expected = 4 * 15;
      assert.ok(frames >= 0.7 * expected, `${frames} of ${expected} frames recorded`);
    });
  }

  it('watch --name of a stream that does not exist exits 1 naming FW_NO_SUCH_STREAM', async () => {
    const r = await run(['watch', '--server', `127.0.0.1:${server.port}`, '--room', 'r', '--name', 'nosuch']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^framewire: no stream "nosuch" in room "r" \(FW_NO_SUCH_STREAM\): /);
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
  });

  it('serve stops cleanly on SIGTERM with exit code 0', async () => {
    const own = await serve();
    own.child.kill('SIGTERM');
    assert.equal(await exited(own.child), 0);
  });
});

describe('framewire CLI failures and help', { timeout: 30_000 }, () => {
  it('publish against a closed port exits 1 with "cannot reach the server"', async () => {
    const port = await closedPort();
    const r = await run([
      'publish',
      '--server',
      `127.0.0.1:${port}`,
      '--room',
      'r',
      '--name',
      'n',
      '--test-pattern',
    ]);
    assert.equal(r.code, 1);
    assert.equal(
      r.stderr,
      `framewire: cannot reach the server at 127.0.0.1:${port}: connection refused — is \`framewire serve\` running?\n`,
    );
  });

  for (const args of [['--help'], ['help'], ['serve', '--help'], ['publish', '--help'], ['watch', '-h']]) {
    it(`framewire ${args.join(' ')} prints usage and exits 0`, async () => {
      const r = await run(args);
      assert.equal(r.code, 0);
      assert.match(r.stdout, /^Usage: framewire /);
    });
  }

  for (const args of [['nope'], ['publish', '--room', 'r', '--name', 'n', '--test-pattern', '--bogus'], []]) {
    it(`framewire ${args.join(' ') || '(no command)'} is a usage error: exit 2`, async () => {
      const r = await run(args);
      assert.equal(r.code, 2);
    });
  }

  it('publish with two inputs is a usage error naming the rule', async () => {
    const r = await run([
      'publish',
      '--room',
      'r',
      '--name',
      'n',
      '--test-pattern',
      '--camera',
      '/dev/video0',
    ]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /give exactly one input/);
  });
});

/** A port nothing listens on: bound by us, then released. */
async function closedPort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address() as net.AddressInfo;
  await new Promise((r) => s.close(r));
  return port;
}
