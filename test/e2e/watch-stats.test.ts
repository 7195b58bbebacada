import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type RelayServer, startServer } from '../../src/server/index.js';
import { ensureBuilt, killStarted, poll, run } from '../helpers/cli.js';
import { type LivePublisher, startLivePublisher } from '../helpers/live-publisher.js';

const FPS = 15;

describe('watch --stats', { timeout: 60_000 }, () => {
  let server: RelayServer;
  let pub: LivePublisher;

  before(async () => {
    ensureBuilt();
    server = await startServer({ tcpPort: 0, httpPort: 0, log: () => {} });
    // One keyframe in 10 s: whoever joins after a second gets a cached GOP of a second or more at once.
    pub = await startLivePublisher(server.tcpPort, 'lab', 'cam', {
      codec: 'vp8',
      fps: FPS,
      keyframeIntervalSec: 10,
    });
  });
  after(async () => {
    await pub?.stop();
    await killStarted();
    await server?.close();
  });

  it('reports the cached-GOP burst apart: the first line shows the live rate and how many frames caught up', async () => {
    await poll(
      () => (server.stats().streams[0]?.gopCacheBytes ?? 0) > 0 && pub.sent.frames >= 2 * FPS,
      10_000,
      'two seconds cached',
    );
    const watched = await run([
      'watch',
      '--server',
      `127.0.0.1:${server.tcpPort}`,
      '--room',
      'lab',
      '--name',
      'cam',
      '--stats',
      '--duration',
      '3',
    ]);
    assert.equal(watched.code, 0, watched.stderr);
    const lines = watched.stdout.trim().split('\n');
    const first =
      /^lab\/cam: ([\d.]+) fps, \d+ kbit\/s, latency (\d+|-) ms, drops \d+(?:, caught up (\d+) cached frames)?$/.exec(
        lines[0] ?? '',
      );
    assert.ok(first, `a stats line: ${lines[0]}`);
    const [, fps, latency, caughtUp] = first;
    assert.ok(
      Number(caughtUp) >= FPS,
      `the burst of at least a second of frames is counted apart: ${lines[0]}`,
    );
    // Without the split the first second counted the burst too: 2-3 times the live rate, and its latency.
    assert.ok(Number(fps) <= FPS * 1.5, `the first line's fps is the live rate: ${lines[0]}`);
    assert.ok(
      latency === '-' || Number(latency) < 500,
      `the first line's latency is the live edge's: ${lines[0]}`,
    );
    for (const line of lines.slice(1)) assert.doesNotMatch(line, /caught up/, 'only the join has a burst');
  });
});
