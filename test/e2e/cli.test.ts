import assert from 'node:assert/strict';
import net from 'node:net';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import {
  exited,
  poll,
  probe,
  publishTestPattern,
  run,
  type Served,
  serve,
  tempDirForFile,
} from '../helpers/cli.js';

const tmpDir = tempDirForFile('framewire-cli-', { build: true });
let server: Served;

describe('framewire CLI', { timeout: 60_000 }, () => {
  before(async () => {
    server = await serve();
  });

  for (const { codec, ext, ffprobeName } of [
    { codec: 'vp8', ext: 'webm', ffprobeName: 'vp8' },
    { codec: 'h264', ext: 'mp4', ffprobeName: 'h264' },
  ] as const) {
    it(`publish --test-pattern --codec ${codec} → watch --out .${ext}: a decodable recording`, async () => {
      const out = join(tmpDir(), `out-${codec}.${ext}`);
      const srv = `127.0.0.1:${server.port}`;
      const room = `room-${codec}`;
      // Watching the whole room, the viewer gets the stream whether it subscribes before or after it
      // is published (then from the cached GOP), so the two can start together.
      const watching = run(['watch', '--server', srv, '--room', room, '--out', out, '--duration', '5']);
      const publishing = publishTestPattern(server.port, room, 'pattern', { codec, durationSec: 4 });
      const [pub, watch] = await Promise.all([publishing, watching]);
      assert.equal(pub.code, 0, `publish failed:\n${pub.stderr}`);
      assert.equal(watch.code, 0, `watch failed:\n${watch.stderr}`);
      assert.match(pub.stderr, /published \d+ frames/);
      // The test pattern has sound now: watch records it beside the picture.
      assert.match(watch.stderr, new RegExp(`recorded \\d+ frames and \\d+ audio frames of ${room}/pattern`));
      const { codec: found, frames } = await probe(out);
      assert.equal(found, ffprobeName);
      const expected = 4 * 15;
      assert.ok(frames >= 0.7 * expected, `${frames} of ${expected} frames recorded`);
    });
  }

  it('watch sends receiver reports: the API shows its frames received and latency', async () => {
    const srv = `127.0.0.1:${server.port}`;
    const room = 'reports';
    const publishing = publishTestPattern(server.port, room, 'cam', { durationSec: 5 });
    const watching = run(['watch', '--server', srv, '--room', room, '--duration', '5']);
    type Api = {
      streams: { viewers: { report: { framesReceived: number; latencyP50Ms: number } | null }[] }[];
    };
    const report = await poll(
      async () => {
        const res = await fetch(`http://127.0.0.1:${server.httpPort}/api/rooms/${room}`);
        if (!res.ok) return undefined;
        const r = ((await res.json()) as Api).streams[0]?.viewers[0]?.report;
        return r && r.framesReceived > 0 ? r : undefined;
      },
      8000,
      'a receiver report from watch',
    );
    assert.ok(report.latencyP50Ms >= 0, `latency ${report.latencyP50Ms} ms is known`);
    const [pub, watch] = await Promise.all([publishing, watching]);
    assert.equal(pub.code, 0, pub.stderr);
    assert.equal(watch.code, 0, watch.stderr);
  });

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

  it('serve --http-port 99999 is a usage error naming the flag and the range', async () => {
    const r = await run(['serve', '--http-port', '99999']);
    assert.equal(r.code, 2);
    assert.equal(
      r.stderr,
      'framewire: --http-port "99999" is not a port number (0..65535): see `framewire serve --help`\n',
    );
  });

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
