import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { CliError, EXIT_USAGE } from '../../src/cli/errors.js';
import { tokenCommand } from '../../src/cli/token.js';
import { allows, allowsAdmin, mintToken, readTokenId, verifyToken } from '../../src/server/ops/auth.js';
import { readRevocations, revocationsFile } from '../../src/server/ops/revocations.js';

const SECRET = 'cli-token-test-secret-long-enough-for-hs256';

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function stateDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'fw-cli-token-'));
  dirs.push(dir);
  return join(dir, 'state');
}

/** Runs `framewire token argv...` in this process; its exit code and what it wrote. */
async function token(argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const code = await tokenCommand.run(argv, {
    stdout: { write: (t: string) => (stdout += t) },
    stderr: { write: (t: string) => (stderr += t) },
    signal: new AbortController().signal,
  });
  return { code, stdout, stderr };
}

/** The CliError `framewire token argv...` fails with. */
async function failure(argv: string[]): Promise<CliError> {
  try {
    await token(argv);
  } catch (err) {
    assert.ok(err instanceof CliError, String(err));
    return err;
  }
  assert.fail(`framewire token ${argv.join(' ')} succeeded`);
}

describe('framewire token --admin', () => {
  it('mints an admin token that views every room, and prints its id', async () => {
    const r = await token(['--admin', '--ttl', '10m', '--secret', SECRET]);
    assert.equal(r.code, 0);
    const grant = await verifyToken(SECRET, r.stdout.trim());
    assert.equal(grant.admin, true);
    assert.equal(allowsAdmin(grant), null);
    assert.equal(allows(grant, 'view', 'any-room'), null);
    assert.equal(allows(grant, 'publish', 'any-room')?.reason, 'not-allowed');
    assert.match(r.stderr, new RegExp(`^token: admin\\+view on every room, expires \\S+, id ${grant.id} `));
    assert.match(r.stderr, new RegExp(`framewire token --revoke ${grant.id}`));
  });

  it('--admin --publish also publishes everywhere; --admin with --room is a usage error', async () => {
    const r = await token(['--admin', '--publish', '--secret', SECRET]);
    const grant = await verifyToken(SECRET, r.stdout.trim());
    assert.equal(allows(grant, 'publish', 'lab'), null);
    const err = await failure(['--admin', '--room', 'lab', '--secret', SECRET]);
    assert.equal(err.exitCode, EXIT_USAGE);
    assert.match(err.message, /--admin is a token for every room/);
  });

  it('a room token is no admin, and its summary names its id', async () => {
    const r = await token(['--room', 'lab', '--publish', '--secret', SECRET]);
    const grant = await verifyToken(SECRET, r.stdout.trim());
    assert.equal(grant.admin, false);
    assert.equal(allowsAdmin(grant)?.reason, 'not-admin');
    assert.match(r.stderr, /publish on room "lab", expires \S+, id [\w-]{22} /);
  });
});

describe('framewire token --revoke', () => {
  it('revokes by id into the state folder, kept for the longest lifetime; a second time says so', async () => {
    const dir = stateDir();
    const minted = await token(['--room', 'lab', '--secret', SECRET]);
    const { id } = readTokenId(minted.stdout.trim()) ?? assert.fail('no id');
    const r = await token(['--revoke', id, '--state-dir', dir]);
    assert.equal(r.code, 0);
    assert.equal(r.stdout, '');
    assert.match(
      r.stderr,
      new RegExp(`^revoked token ${id} \\(listed until \\S+ in ${revocationsFile(dir)}\\)`),
    );
    const [entry] = await readRevocations(revocationsFile(dir));
    assert.equal(entry?.id, id);
    assert.ok((entry?.expiresAt ?? 0) > Date.now() + 364 * 86_400_000);
    const again = await token(['--revoke', id, '--state-dir', dir]);
    assert.match(again.stderr, /is revoked already/);
  });

  it('takes an id that starts with "-" as the value of --revoke, as printed (1 in 64 ids do)', async () => {
    const dir = stateDir();
    const id = '-_6dkKzS7XJvmMa7ROSNaQ';
    const r = await token(['--revoke', id, '--state-dir', dir]);
    assert.equal(r.code, 0, r.stderr);
    const [entry] = await readRevocations(revocationsFile(dir));
    assert.equal(entry?.id, id);
  });

  it('revokes a whole token until it expires, needing no secret', async () => {
    const dir = stateDir();
    const t = await mintToken(SECRET, { room: 'lab', publish: false, view: true, ttlSec: 600 });
    const claims = readTokenId(t) ?? assert.fail('no id');
    const saved = process.env.FRAMEWIRE_SECRET;
    delete process.env.FRAMEWIRE_SECRET;
    try {
      assert.equal((await token(['--revoke', t, '--state-dir', dir])).code, 0);
    } finally {
      if (saved !== undefined) process.env.FRAMEWIRE_SECRET = saved;
    }
    const [entry] = await readRevocations(revocationsFile(dir));
    assert.deepEqual(entry, { id: claims.id, expiresAt: claims.expiresAt + 5000 });
  });

  it('refuses what is neither a token nor an id, and flags that do not go with it', async () => {
    const dir = stateDir();
    const bad = await failure(['--revoke', 'not an id!', '--state-dir', dir]);
    assert.equal(bad.exitCode, EXIT_USAGE);
    assert.match(bad.message, /neither a token nor a token id/);
    const extra = await failure(['--revoke', 'abcdefgh12', '--room', 'lab', '--state-dir', dir]);
    assert.match(extra.message, /--revoke takes only --state-dir, not --room/);
    const stray = await failure(['--room', 'lab', '--state-dir', dir, '--secret', SECRET]);
    assert.match(stray.message, /--state-dir goes with --revoke/);
    assert.equal(existsSync(revocationsFile(dir)), false);
  });

  it('--help documents --admin and --revoke', () => {
    assert.match(tokenCommand.usage, /--admin +an operator's token/);
    assert.match(tokenCommand.usage, /--revoke X +revoke the token X/);
  });
});
