import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { Logger } from '../../src/server/ops/log.js';
import {
  addRevocation,
  idOnlyExpiry,
  MAX_REVOCATIONS,
  RevocationError,
  RevocationList,
  readRevocations,
  revocationsFile,
} from '../../src/server/ops/revocations.js';

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** A fresh state folder's revocation file (the folder itself not made: the writers make it). */
function freshFile(): string {
  const dir = mkdtempSync(join(tmpdir(), 'fw-revocations-'));
  dirs.push(dir);
  return revocationsFile(join(dir, 'state'));
}

const quiet = new Logger(() => {});

/** Polls `probe` every 20 ms until it is true, for at most `ms`. */
async function until(probe: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!probe()) {
    if (Date.now() > deadline) assert.fail(`not true within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const id = (n: number) => `token-id-${String(n).padStart(6, '0')}`;

describe('revocation file', () => {
  it('appends entries, creating the folder (0700) and the file (0600); reads back the unexpired ones', async () => {
    const file = freshFile();
    const now = Date.now();
    assert.deepEqual(await readRevocations(file), []);
    assert.equal(await addRevocation(file, { id: id(1), expiresAt: now + 60_000 }, now), 'added');
    assert.equal(await addRevocation(file, { id: id(2), expiresAt: now + 1000 }, now), 'added');
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.equal(statSync(join(file, '..')).mode & 0o777, 0o700);
    // The same id again, no later expiry: nothing written.
    assert.equal(await addRevocation(file, { id: id(1), expiresAt: now + 30_000 }, now), 'already');
    assert.equal(readFileSync(file, 'utf8').trim().split('\n').length, 2);
    assert.deepEqual(
      (await readRevocations(file, now)).map((r) => r.id),
      [id(1), id(2)],
    );
    // Past the second one's expiry it is no longer listed.
    assert.deepEqual(
      (await readRevocations(file, now + 2000)).map((r) => r.id),
      [id(1)],
    );
  });

  it('rewrites the file without expired entries when it adds one (the file stays bounded)', async () => {
    const file = freshFile();
    const now = Date.now();
    for (let i = 0; i < 50; i++) await addRevocation(file, { id: id(i), expiresAt: now + 1000 }, now);
    assert.equal(readFileSync(file, 'utf8').trim().split('\n').length, 50);
    // An hour later all 50 have expired: the next write leaves only itself.
    const later = now + 3600_000;
    await addRevocation(file, { id: id(99), expiresAt: later + 1000 }, later);
    assert.deepEqual(readFileSync(file, 'utf8').trim().split('\n'), [
      JSON.stringify({ id: id(99), exp: later + 1000 }),
    ]);
  });

  it('refuses a revocation past the bound of unexpired entries, and takes one once an entry expires', async () => {
    const file = freshFile();
    const now = Date.now();
    const max = 5;
    for (let i = 0; i < max; i++)
      await addRevocation(file, { id: id(i), expiresAt: now + 1000 * (i + 1) }, now, max);
    await assert.rejects(addRevocation(file, { id: id(10), expiresAt: now + 60_000 }, now, max), (err) => {
      assert.ok(err instanceof RevocationError);
      assert.equal(err.code, 'FW_LIMIT');
      assert.match(err.message, /change the server's secret/);
      return true;
    });
    // Re-revoking one already there is no new entry: allowed at the bound.
    assert.equal(await addRevocation(file, { id: id(0), expiresAt: now + 500 }, now, max), 'already');
    // Once the first has expired there is room again.
    assert.equal(
      await addRevocation(file, { id: id(10), expiresAt: now + 60_000 }, now + 1500, max),
      'added',
    );
    assert.equal((await readRevocations(file, now + 1500)).length, max);
    assert.equal(MAX_REVOCATIONS, 10_000);
  });

  it('skips lines that do not parse (a write cut by a crash) and refuses ids of the wrong shape', async () => {
    const file = freshFile();
    const now = Date.now();
    await addRevocation(file, { id: id(1), expiresAt: now + 60_000 }, now);
    writeFileSync(file, `${readFileSync(file, 'utf8')}{"id":"tok\n{"id":"x y","exp":1e15}\n`);
    assert.deepEqual(
      (await readRevocations(file, now)).map((r) => r.id),
      [id(1)],
    );
    await assert.rejects(
      addRevocation(file, { id: 'no spaces allowed', expiresAt: now + 1 }, now),
      RevocationError,
    );
  });

  it('refuses a file too large to be ours', async () => {
    const file = freshFile();
    await addRevocation(file, { id: id(1), expiresAt: Date.now() + 60_000 });
    writeFileSync(file, 'x'.repeat(5 * 1024 * 1024));
    await assert.rejects(
      readRevocations(file),
      (err) => err instanceof RevocationError && err.code === 'FW_BAD_CONFIG',
    );
  });

  it('an entry made from an id alone lasts as long as the longest token can (a year and the tolerance)', () => {
    const now = Date.now();
    assert.equal(idOnlyExpiry(now), now + (365 * 86_400 + 5) * 1000);
  });
});

describe('RevocationList', () => {
  it('revokes in memory at once, tells its listeners once per id, and persists to the file', async () => {
    const file = freshFile();
    const list = new RevocationList(file, quiet);
    await list.load();
    const told: string[] = [];
    list.listeners.add((revoked) => told.push(revoked));
    const revoking = list.revoke(id(1), Date.now() + 60_000);
    // Refused from the moment revoke() is called, before the file is written.
    assert.equal(list.has(id(1)), true);
    assert.deepEqual(told, [id(1)]);
    assert.equal(await revoking, 'revoked');
    assert.equal(await list.revoke(id(1), Date.now() + 60_000), 'already');
    assert.deepEqual(told, [id(1)]);
    assert.deepEqual(
      (await readRevocations(file)).map((r) => r.id),
      [id(1)],
    );
    // A list started later from the same file (a restart) refuses it too.
    const restarted = new RevocationList(file, quiet);
    await restarted.load();
    assert.equal(restarted.has(id(1)), true);
    assert.equal(restarted.has(id(2)), false);
  });

  it('forgets entries whose tokens expired, and holds at most `max` unexpired ones', async () => {
    const list = new RevocationList(null, quiet, 3);
    const now = Date.now();
    await list.revoke(id(1), now + 150);
    await list.revoke(id(2), now + 60_000);
    await list.revoke(id(3), now + 60_000);
    await assert.rejects(
      list.revoke(id(4), now + 60_000),
      (err) => err instanceof RevocationError && err.code === 'FW_LIMIT',
    );
    assert.equal(list.has(id(4)), false);
    await until(() => Date.now() > now + 200);
    assert.equal(list.size, 2);
    assert.equal(list.has(id(1)), false);
    assert.equal(await list.revoke(id(4), now + 60_000), 'revoked');
    assert.deepEqual(
      list.list().map((r) => r.id),
      [id(2), id(3), id(4)],
    );
  });

  it('picks up a revocation another process wrote to the file (framewire token --revoke), within a second', async () => {
    const file = freshFile();
    const list = new RevocationList(file, quiet);
    await list.load();
    list.watch();
    try {
      const told: string[] = [];
      list.listeners.add((revoked) => told.push(revoked));
      // Written as the CLI writes it, into a file that did not exist when the watch began.
      await addRevocation(file, { id: id(7), expiresAt: Date.now() + 60_000 });
      await until(() => list.has(id(7)), 5000);
      assert.deepEqual(told, [id(7)]);
      // A rewrite (rename over the file) is seen too.
      await addRevocation(file, { id: id(8), expiresAt: Date.now() + 60_000 }, Date.now() + 3600_000);
      await until(() => list.has(id(8)), 5000);
      assert.deepEqual(told, [id(7), id(8)]);
    } finally {
      list.close();
    }
  });

  it('without a file, keeps the list in memory only', async () => {
    const list = new RevocationList(null, quiet);
    await list.load();
    list.watch();
    assert.equal(await list.revoke(id(1), Date.now() + 60_000), 'revoked');
    assert.equal(list.has(id(1)), true);
    list.close();
  });
});
