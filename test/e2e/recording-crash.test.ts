import assert from 'node:assert/strict';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { startServer } from '../../src/server/index.js';
import { ensureBuilt, exited, poll, serve, startCli, tempDirForFile } from '../helpers/cli.js';
import { ffprobe, type LivePublisher, startLivePublisher } from '../helpers/live-publisher.js';

// One keyframe a second at 15 fps: "at most one keyframe interval lost" is then at most 15 frames.
const FPS = 15;
const KEYFRAME_SEC = 1;
const GOP_FRAMES = FPS * KEYFRAME_SEC;
const tmpDir = tempDirForFile('framewire-crash-');

/** The recording API's view of room/stream on `httpPort`. */
async function recording(
  httpPort: number,
  room: string,
  name: string,
): Promise<{ file: string; frames: number } | null> {
  const res = await fetch(`http://127.0.0.1:${httpPort}/api/rooms/${room}/streams/${name}/recording`);
  if (!res.ok) return null;
  const body = (await res.json()) as { recording: boolean; file?: string; frames?: number };
  return body.recording ? { file: body.file as string, frames: body.frames as number } : null;
}

describe('recordings that survive a crash', { timeout: 120_000 }, () => {
  for (const { codec, ext } of [
    { codec: 'vp8', ext: 'webm' },
    { codec: 'h264', ext: 'mp4' },
  ] as const) {
    it(`serve --record: after kill -9 the .${ext} plays up to at most one keyframe interval before the kill`, async (t) => {
      ensureBuilt();
      const dir = join(tmpDir(), `serve-${codec}`);
      const served = await serve({ tcp: 0, http: 0 }, process.env, ['--record', dir]);
      let pub: LivePublisher | null = null;
      try {
        pub = await startLivePublisher(served.port, 'lab', 'cam', {
          codec,
          fps: FPS,
          keyframeIntervalSec: KEYFRAME_SEC,
        });
        const before = await poll(
          async () => {
            const r = await recording(served.httpPort, 'lab', 'cam');
            return r && r.frames >= 4 * FPS ? r : undefined;
          },
          20_000,
          'four seconds recorded',
        );
        // Bytes reach the file while it is written, not in 16 MiB chunks.
        assert.ok(statSync(before.file).size > 0, 'the file has bytes on disk before the crash');
        served.child.kill('SIGKILL');
        await exited(served.child);
        const probed = await ffprobe(before.file);
        t.diagnostic(
          `${codec}: ${before.frames} frames muxed before kill -9, ${probed.frames} readable after`,
        );
        assert.equal(probed.codec, codec);
        assert.ok(
          probed.frames >= before.frames - GOP_FRAMES,
          `${probed.frames} frames readable, ${before.frames} muxed: more than one keyframe interval lost`,
        );
        assert.ok(
          probed.frames <= before.frames + GOP_FRAMES,
          'no more frames than were sent before the kill',
        );
      } finally {
        await pub?.stop();
      }
    });
  }

  it('watch --out: after kill -9 the file plays up to at most one keyframe interval before the kill', async (t) => {
    ensureBuilt();
    const server = await startServer({ tcpPort: 0, httpPort: 0, log: () => {} });
    const file = join(tmpDir(), 'watched.webm');
    let pub: LivePublisher | null = null;
    try {
      pub = await startLivePublisher(server.tcpPort, 'lab', 'cam', {
        codec: 'vp8',
        fps: FPS,
        keyframeIntervalSec: KEYFRAME_SEC,
      });
      const watch = startCli([
        'watch',
        '--server',
        `127.0.0.1:${server.tcpPort}`,
        '--room',
        'lab',
        '--name',
        'cam',
        '--out',
        file,
      ]);
      const sent = await poll(
        () => {
          const viewer = server.stats().streams[0]?.viewers[0];
          return viewer && viewer.framesSent >= 4 * FPS ? viewer.framesSent : undefined;
        },
        20_000,
        'four seconds sent to watch',
      );
      watch.child.kill('SIGKILL');
      await exited(watch.child);
      const probed = await ffprobe(file);
      t.diagnostic(`watch: ${sent} frames sent to it before kill -9, ${probed.frames} readable after`);
      assert.equal(probed.codec, 'vp8');
      // A frame or two may still have been on the way to watch when the server counted it sent.
      assert.ok(
        probed.frames >= sent - GOP_FRAMES - 2,
        `${probed.frames} readable of ${sent} sent: ${watch.stderr()}`,
      );
    } finally {
      await pub?.stop();
      await server.close();
    }
  });

  it('serve --record-segment rolls to a new file at a keyframe: every file whole, no frame lost between them', async () => {
    const dir = join(tmpDir(), 'segments');
    const lines: string[] = [];
    const server = await startServer({
      tcpPort: 0,
      httpPort: 0,
      recordDir: dir,
      recordSegmentMs: 2000,
      log: (l) => lines.push(l),
    });
    let pub: LivePublisher | null = null;
    try {
      pub = await startLivePublisher(server.tcpPort, 'lab', 'cam', {
        codec: 'vp8',
        fps: FPS,
        keyframeIntervalSec: KEYFRAME_SEC,
      });
      await poll(() => (pub as LivePublisher).sent.frames >= 5 * FPS + 1, 20_000, 'five seconds sent');
      await pub.stop();
      const sent = pub.sent.frames;
      pub = null;
      await poll(() => lines.some((l) => / record-end /.test(l)), 10_000, 'record-end');
      const rolls = lines.filter((l) => / record-segment /.test(l));
      assert.ok(
        rolls.length >= 2,
        `rolled at least twice in five seconds of 2 s segments:\n${rolls.join('\n')}`,
      );
      const files = readdirSync(join(dir, 'lab')).sort();
      assert.equal(files.length, rolls.length + 1, `one file per segment: ${files.join(', ')}`);
      let total = 0;
      for (const name of files) {
        const probed = await ffprobe(join(dir, 'lab', name));
        assert.equal(probed.errors, '', `${name} is whole`);
        total += probed.frames;
        if (name !== files.at(-1)) {
          // A file closes at the first keyframe 2 s or more into it: it spans 2 s (ffprobe measures to its last
          // frame's start, one frame short) up to one keyframe interval more.
          assert.ok(
            probed.duration >= 2 - 1 / FPS - 0.005 && probed.duration <= 2 + KEYFRAME_SEC + 0.1,
            `${name}: ${probed.duration} s`,
          );
        }
      }
      assert.equal(total, sent, 'every frame sent is in exactly one file');
    } finally {
      await pub?.stop();
      await server.close();
    }
  });
});
