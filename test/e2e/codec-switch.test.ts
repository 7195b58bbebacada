// A publisher switches its stream from VP8 to H.264 in place (protocol v3 `update`), with real ffmpeg frames:
// `framewire watch --out` finishes its file and goes on in FILE-2 (or stops when FILE's container cannot
// hold the new codec), the server's own recording starts a new file, and a /live response ends.
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { startServer } from '../../src/server/index.js';
import { exited, poll, run, startCli, tempDirForFile } from '../helpers/cli.js';
import { type Clip, encodeClip, publishClips } from '../helpers/codec-clips.js';
import { ffprobe } from '../helpers/live-publisher.js';

const FPS = 15;
const tmpDir = tempDirForFile('framewire-switch-', { build: true });

describe('a stream that switches codec (VP8 → H.264)', { timeout: 120_000 }, () => {
  let vp8: Clip;
  let h264: Clip;

  before(async () => {
    [vp8, h264] = await Promise.all([
      encodeClip('vp8', { width: 320, height: 240, fps: FPS, seconds: 2 }),
      encodeClip('h264', { width: 320, height: 240, fps: FPS, seconds: 2 }),
    ]);
  });

  it('watch --out x.mp4 goes on in x-2.mp4; the server records two files; /live ends', async () => {
    const dir = tmpDir();
    const recordDir = join(dir, 'rec');
    const lines: string[] = [];
    const server = await startServer({ tcpPort: 0, httpPort: 0, recordDir, log: (l) => lines.push(l) });
    try {
      const out = join(dir, 'watched.mp4');
      const watch = startCli([
        'watch',
        '--server',
        `127.0.0.1:${server.tcpPort}`,
        '--room',
        'sw',
        '--out',
        out,
      ]);
      await poll(() => server.stats().rooms.some((r) => r.name === 'sw' && r.viewers === 1), 10_000, 'watch');

      // A player of the live WebM: it was built for VP8, so the switch ends it.
      let liveBytes = 0;
      const live = poll(() => server.stats().streams.length === 1, 10_000, 'the stream').then(async () => {
        const res = await fetch(`http://127.0.0.1:${server.httpPort}/live/sw/cam.webm`);
        // Resolves once the server ends the response.
        liveBytes = (await res.arrayBuffer()).byteLength;
      });
      const pub = await publishClips(server.tcpPort, 'sw', 'cam', [vp8, h264], FPS);
      await live;
      // The last frames reach watch, then it stops cleanly (as on Ctrl-C).
      const total = pub.sent.reduce((a, b) => a + b, 0);
      await poll(
        () => (server.stats().streams[0]?.viewers[0]?.framesSent ?? 0) >= total,
        10_000,
        'every frame sent to watch',
      );
      watch.child.kill('SIGINT');
      assert.equal(await exited(watch.child), 0, watch.stderr());
      await pub.client.close();

      // One line says where the recording goes on.
      const second = join(dir, 'watched-2.mp4');
      const said = watch
        .stderr()
        .split('\n')
        .filter((l) => l.includes('changed to'));
      assert.deepStrictEqual(said, [
        `framewire: sw/cam changed to ${h264.config.codec} 320x240: ${out} finished, recording goes on in ${second}`,
      ]);
      assert.match(watch.stderr(), new RegExp(`recorded \\d+ frames of sw/cam to ${out}, ${second}\\n`));
      // Each file holds one codec, every frame decodable.
      const first = await ffprobe(out);
      assert.equal(first.codec, 'vp8');
      assert.equal(first.frames, vp8.frames.length);
      assert.equal(first.errors, '');
      const next = await ffprobe(second);
      assert.equal(next.codec, 'h264');
      assert.equal(next.frames, h264.frames.length);
      assert.equal(next.errors, '');

      assert.ok(liveBytes > 1000, `the live WebM carried ${liveBytes} bytes before it ended`);
      assert.ok(lines.some((l) => / live-end .*reason=reconfigured/.test(l)));
    } finally {
      await server.close();
    }
    // The server's recording: the VP8 part in WebM, the H.264 part in a new MP4.
    assert.ok(lines.some((l) => / record-end .*reason=reconfigured/.test(l)));
    assert.equal(lines.filter((l) => / record-start /.test(l)).length, 2);
    const files = readdirSync(join(recordDir, 'sw'));
    assert.equal(files.length, 2, files.join(', '));
    const byExt = Object.fromEntries(
      files.map((f) => [f.slice(f.lastIndexOf('.') + 1), join(recordDir, 'sw', f)]),
    );
    assert.equal((await ffprobe(byExt.webm as string)).codec, 'vp8');
    assert.equal((await ffprobe(byExt.mp4 as string)).codec, 'h264');
  });

  it('watch --out x.webm stops when the stream switches to H.264, keeping x.webm', async () => {
    const dir = tmpDir();
    const server = await startServer({ tcpPort: 0, httpPort: 0, log: () => {} });
    try {
      const out = join(dir, 'refused.webm');
      const watch = startCli([
        'watch',
        '--server',
        `127.0.0.1:${server.tcpPort}`,
        '--room',
        'no',
        '--out',
        out,
      ]);
      await poll(() => server.stats().rooms.some((r) => r.name === 'no' && r.viewers === 1), 10_000, 'watch');
      const pub = await publishClips(server.tcpPort, 'no', 'cam', [vp8, h264], FPS);
      const code = await exited(watch.child);
      await pub.client.close();
      assert.equal(code, 1, watch.stderr());
      const text = watch.stderr();
      assert.match(
        text,
        new RegExp(
          `framewire: no/cam changed to ${h264.config.codec} 320x240: the stream is H\\.264 \\(${h264.config.codec}\\): \\.webm cannot hold it; use --out ${join(dir, 'refused.mp4')}; recorded until then: ${out}\\n`,
        ),
      );
      assert.ok(!existsSync(join(dir, 'refused-2.webm')));
      const kept = await ffprobe(out);
      assert.equal(kept.codec, 'vp8');
      assert.equal(kept.frames, vp8.frames.length);
    } finally {
      await server.close();
    }
  });

  it('says so in watch --help', async () => {
    const help = await run(['watch', '--help']);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /recording goes on in FILE-2/);
  });
});
