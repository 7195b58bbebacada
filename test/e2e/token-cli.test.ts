import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { allows, verifyToken } from '../../src/server/ops/auth.js';
import { ensureBuilt, killStarted, probe, publishTestPattern, run, serve } from '../helpers/cli.js';

const SECRET = 'e2e-secret-long-enough-for-hs256-0123456789';

// run() passes this process's environment to the CLI: start from a known state.
const saved = process.env.FRAMEWIRE_SECRET;

before(() => {
  ensureBuilt(['dist/cli/main.js', 'dist/cli/token.js']);
  delete process.env.FRAMEWIRE_SECRET;
});

after(async () => {
  await killStarted();
  if (saved === undefined) delete process.env.FRAMEWIRE_SECRET;
  else process.env.FRAMEWIRE_SECRET = saved;
});

describe('framewire token', { timeout: 60_000 }, () => {
  it('prints only a token on stdout that the server secret verifies (--secret)', async () => {
    const r = await run(['token', '--room', 'lab', '--publish', '--ttl', '10m', '--secret', SECRET]);
    assert.equal(r.code, 0, r.stderr);
    const token = r.stdout.trim();
    assert.equal(r.stdout, `${token}\n`);
    assert.match(token, /^[\w-]+\.[\w-]+\.[\w-]+$/);
    const grant = await verifyToken(SECRET, token);
    assert.equal(grant.room, 'lab');
    assert.equal(grant.publish, true);
    assert.equal(grant.view, false);
    assert.ok(Math.abs(grant.expiresAt - (Date.now() + 600_000)) < 10_000);
    assert.match(r.stderr, /publish on room "lab", expires \d{4}-\d\d-\d\dT[\d:.]+Z/);
  });

  it('takes the secret from FRAMEWIRE_SECRET; view only by default; prefix grants', async () => {
    process.env.FRAMEWIRE_SECRET = SECRET;
    try {
      const r = await run(['token', '--room', 'lab-', '--prefix', '--ttl', '7d']);
      assert.equal(r.code, 0, r.stderr);
      const grant = await verifyToken(SECRET, r.stdout.trim());
      assert.deepEqual([grant.prefix, grant.publish, grant.view], [true, false, true]);
      assert.equal(allows(grant, 'view', 'lab-2'), null);
      assert.equal(allows(grant, 'publish', 'lab-2')?.reason, 'not-allowed');
      assert.ok(Math.abs(grant.expiresAt - (Date.now() + 7 * 86_400_000)) < 10_000);
      assert.match(r.stderr, /view on rooms starting with "lab-"/);
    } finally {
      delete process.env.FRAMEWIRE_SECRET;
    }
  });

  it('without a secret: exit 1 with a line saying what to set', async () => {
    const r = await run(['token', '--room', 'lab', '--view']);
    assert.equal(r.code, 1);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /^framewire: .*set FRAMEWIRE_SECRET \(the same value the server uses\).*\n$/);
  });

  it('a short secret, a bad ttl or a bad room: one line, no stack', async () => {
    const short = await run(['token', '--room', 'lab', '--secret', 'short']);
    assert.equal(short.code, 1);
    assert.match(short.stderr, /^framewire: --secret is 5 bytes: HS256 needs at least 32/);
    const ttl = await run(['token', '--room', 'lab', '--ttl', '1w', '--secret', SECRET]);
    assert.equal(ttl.code, 2);
    assert.match(ttl.stderr, /--ttl "1w" is not a lifetime/);
    const room = await run(['token', '--room', 'a/b', '--secret', SECRET]);
    assert.equal(room.code, 2);
    assert.match(room.stderr, /--room "a\/b" is not a room name/);
    for (const r of [short, ttl, room]) assert.doesNotMatch(r.stderr, /\n\s+at /);
  });

  it('--help exits 0 and documents the flags', async () => {
    const r = await run(['token', '--help']);
    assert.equal(r.code, 0);
    assert.match(r.stdout, /^Usage: framewire token --room R/);
    assert.match(r.stdout, /neither --publish nor --view: view only/);
    const tool = await run(['--help']);
    assert.match(tool.stdout, /^ {2}token +mint an access token/m);
  });
});

describe('a server with FRAMEWIRE_SECRET', { timeout: 60_000 }, () => {
  it('refuses a publisher without a token, and relays one with a token minted by `framewire token`', async () => {
    const env = { ...process.env, FRAMEWIRE_SECRET: SECRET };
    const server = await serve({ tcp: 0, http: 0 }, env);
    const srv = `127.0.0.1:${server.port}`;

    const refused = await run(
      ['publish', '--server', srv, '--room', 'lab', '--name', 'cam', '--test-pattern'],
      20_000,
      env,
    );
    assert.equal(refused.code, 1);
    assert.match(
      refused.stderr,
      /^framewire: the server refused the token \(.*missing.*\): get one with `framewire token --room lab --publish`/m,
    );

    const mint = (rights: string[]) => run(['token', '--room', 'lab', ...rights, '--ttl', '5m'], 20_000, env);
    const pubToken = (await mint(['--publish'])).stdout.trim();
    const viewToken = (await mint(['--view'])).stdout.trim();

    // A view token (what `framewire token --room lab` mints) is refused for publishing: the hint must
    // be the command that mints one that publishes, not the one that made this token.
    const withView = await run(
      ['publish', '--server', srv, '--room', 'lab', '--name', 'cam', '--test-pattern', '--token', viewToken],
      20_000,
      env,
    );
    assert.equal(withView.code, 1);
    assert.match(
      withView.stderr,
      /^framewire: the server refused the token \(.*does not allow publishing in room "lab".*not-allowed.*\): get one with `framewire token --room lab --publish`/m,
    );
    assert.doesNotMatch(withView.stderr, /`framewire token --room R`|\n\s+at /);

    const out = join(mkdtempSync(join(tmpdir(), 'fw-token-')), 'lab.webm');
    const watching = run(
      ['watch', '--server', srv, '--room', 'lab', '--token', viewToken, '--out', out, '--duration', '4'],
      20_000,
      env,
    );
    const publishing = publishTestPattern(server.port, 'lab', 'cam', { durationSec: 3, token: pubToken });
    const [pub, watch] = await Promise.all([publishing, watching]);
    assert.equal(pub.code, 0, pub.stderr);
    assert.equal(watch.code, 0, watch.stderr);
    assert.ok((await probe(out)).frames > 20);
  });
});
