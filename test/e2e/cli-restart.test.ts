import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  ensureBuilt,
  exited,
  killStarted,
  poll,
  probe,
  publishTestPattern,
  run,
  serve,
} from '../helpers/cli.js';

let tmp = '';
before(() => {
  ensureBuilt();
  tmp = mkdtempSync(join(tmpdir(), 'framewire-restart-'));
});
after(async () => {
  await killStarted();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

/** Streams in a room, from the JSON API; undefined while the server is down. */
async function streamsIn(httpPort: number, room: string): Promise<{ framesIn: number }[] | undefined> {
  try {
    const res = await fetch(`http://127.0.0.1:${httpPort}/api/rooms/${room}`);
    return res.ok ? ((await res.json()) as { streams: { framesIn: number }[] }).streams : undefined;
  } catch {
    return undefined;
  }
}

describe('CLI across a server restart', { timeout: 90_000 }, () => {
  it('publish and watch reconnect by themselves, publish again, and the recording goes on', async () => {
    let server = await serve();
    const ports = { tcp: server.port, http: server.httpPort };
    const room = 'restart';
    const out = join(tmp, 'across.webm');
    const publishing = publishTestPattern(ports.tcp, room, 'cam', { durationSec: 14 });
    const watching = run(
      ['watch', '--server', `127.0.0.1:${ports.tcp}`, '--room', room, '--out', out, '--duration', '14'],
      40_000,
    );
    await poll(
      async () => ((await streamsIn(ports.http, room))?.[0]?.framesIn ?? 0) > 30,
      10_000,
      'frames before the restart',
    );

    server.child.kill('SIGTERM');
    assert.equal(await exited(server.child), 0);
    server = await serve(ports);
    // The publisher comes back on its own and its frames flow again through the new server.
    await poll(
      async () => ((await streamsIn(ports.http, room))?.[0]?.framesIn ?? 0) > 30,
      15_000,
      'frames after the restart',
    );

    const [pub, watch] = await Promise.all([publishing, watching]);
    assert.equal(pub.code, 0, pub.stderr);
    assert.equal(watch.code, 0, watch.stderr);
    assert.match(pub.stderr, /reconnected/);
    assert.match(watch.stderr, /reconnected/);
    const { frames } = await probe(out);
    // About 14 s at 15 fps were recorded, less the gap of the restart: well over the first half alone.
    assert.ok(frames > 120, `${frames} frames recorded across the restart`);
    server.child.kill('SIGTERM');
    await exited(server.child);
  });
});
