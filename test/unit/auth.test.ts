import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SignJWT } from 'jose';
import {
  AuthError,
  type AuthReason,
  allows,
  allowsAdmin,
  type Grant,
  mintToken,
  readTokenId,
  secretFromEnv,
  tokenVerifier,
  verifyToken,
  WeakSecretError,
} from '../../src/server/ops/auth.js';

const SECRET = 'a-test-secret-that-is-at-least-32-bytes-long';
const OTHER = 'another-secret-that-is-also-32-bytes-or-more';

/** Asserts that `p` rejects with an AuthError of `reason`. */
async function refused(p: Promise<unknown>, reason: AuthReason): Promise<AuthError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof AuthError, `expected AuthError, got ${String(err)}`);
    assert.equal(err.code, 'FW_UNAUTHORIZED');
    assert.equal(err.reason, reason, err.message);
    return err;
  }
  assert.fail(`expected a refusal (${reason})`);
}

/** A token signed with our secret and issuer but arbitrary claims, as a forger who had the secret would. */
function signRaw(claims: Record<string, unknown>, secret = SECRET, issuer = 'framewire'): Promise<string> {
  return new SignJWT(claims)
    .setProtectedHeader({ alg: 'HS256' })
    .setIssuer(issuer)
    .setIssuedAt()
    .setExpirationTime('1h')
    .sign(new TextEncoder().encode(secret));
}

describe('auth: tokens', () => {
  it('mints and verifies a token (round trip)', async () => {
    const before = Date.now();
    const token = await mintToken(SECRET, { room: 'lab', publish: true, view: false, ttlSec: 600 });
    const grant = await verifyToken(SECRET, token);
    assert.deepEqual(
      { ...grant, expiresAt: 0, id: '' },
      {
        room: 'lab',
        prefix: false,
        publish: true,
        view: false,
        admin: false,
        id: '',
        expiresAt: 0,
      },
    );
    // Each token has an id of its own: 128 random bits, base64url.
    assert.match(grant.id, /^[\w-]{22}$/);
    const again = await verifyToken(
      SECRET,
      await mintToken(SECRET, { room: 'lab', publish: true, view: false, ttlSec: 600 }),
    );
    assert.notEqual(again.id, grant.id);
    // exp has 1 s resolution: within a second of now + ttl.
    assert.ok(Math.abs(grant.expiresAt - (before + 600_000)) <= 1000, String(grant.expiresAt));
  });

  it('refuses an expired token (clock moved past exp and the tolerance)', async () => {
    const token = await mintToken(SECRET, { room: 'lab', publish: false, view: true, ttlSec: 1 });
    const grant = await verifyToken(SECRET, token, Date.now() + 3000); // within the 5 s tolerance
    const err = await refused(verifyToken(SECRET, token, Date.now() + 60_000), 'expired');
    assert.match(err.message, /expired at \d{4}-\d\d-\d\dT/);
    // A grant verified at hello stops allowing new requests once it expires mid-session.
    assert.equal(allows(grant, 'view', 'lab', grant.expiresAt - 1000), null);
    assert.equal(allows(grant, 'view', 'lab', grant.expiresAt + 60_000)?.reason, 'expired');
  });

  it('refuses a token signed with another secret (bad-signature), even an expired one', async () => {
    const forged = await mintToken(OTHER, { room: 'lab', publish: true, view: true, ttlSec: 600 });
    await refused(verifyToken(SECRET, forged), 'bad-signature');
    const old = await mintToken(OTHER, { room: 'lab', publish: true, view: true, ttlSec: 1 });
    await refused(verifyToken(SECRET, old, Date.now() + 60_000), 'bad-signature');
  });

  it('refuses a token whose payload was edited after signing', async () => {
    const token = await mintToken(SECRET, { room: 'lab', publish: false, view: true, ttlSec: 600 });
    const [header, , signature] = token.split('.');
    const payload = Buffer.from(
      JSON.stringify({ room: 'lab', prefix: false, pub: true, view: true, iss: 'framewire', exp: 4e9 }),
    ).toString('base64url');
    await refused(verifyToken(SECRET, `${header}.${payload}.${signature}`), 'bad-signature');
  });

  it('refuses an unsigned (alg "none") token', async () => {
    const enc = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
    const none = `${enc({ alg: 'none' })}.${enc({ room: 'lab', prefix: false, pub: true, view: true, iss: 'framewire', exp: 4e9 })}.`;
    await refused(verifyToken(SECRET, none), 'bad-signature');
  });

  it('refuses garbage and a missing token', async () => {
    for (const garbage of ['garbage', 'a.b.c', '...', 'x'.repeat(10_000), 'eyJhbGciOiJIUzI1NiJ9.e30']) {
      await refused(verifyToken(SECRET, garbage), 'malformed');
    }
    const err = await refused(verifyToken(SECRET, ''), 'missing');
    assert.match(err.message, /--token/);
  });

  it('refuses a well-signed JWT that is not a Framewire token (issuer, claims, no exp)', async () => {
    await refused(
      verifyToken(
        SECRET,
        await signRaw({ room: 'lab', prefix: false, pub: true, view: true }, SECRET, 'other'),
      ),
      'malformed',
    );
    await refused(
      verifyToken(SECRET, await signRaw({ room: 'lab', pub: 'yes', view: true, prefix: false })),
      'malformed',
    );
    await refused(
      verifyToken(SECRET, await signRaw({ room: '', pub: true, view: true, prefix: false })),
      'malformed',
    );
    await refused(verifyToken(SECRET, await signRaw({ sub: 'someone' })), 'malformed');
    // A token without an id (as minted before ids) could never be revoked: refused.
    await refused(
      verifyToken(SECRET, await signRaw({ room: 'lab', pub: true, view: true, prefix: false })),
      'malformed',
    );
    await refused(
      verifyToken(
        SECRET,
        await signRaw({ room: 'lab', pub: true, view: true, prefix: false, jti: 'abcdefgh', admin: 'yes' }),
      ),
      'malformed',
    );
    const noExp = await new SignJWT({ room: 'lab', prefix: false, pub: true, view: true })
      .setProtectedHeader({ alg: 'HS256' })
      .setIssuer('framewire')
      .sign(new TextEncoder().encode(SECRET));
    await refused(verifyToken(SECRET, noExp), 'malformed');
  });

  it('refuses to mint a token that grants nothing, has no room or no lifetime', async () => {
    await assert.rejects(
      mintToken(SECRET, { room: 'lab', publish: false, view: false, ttlSec: 60 }),
      RangeError,
    );
    await assert.rejects(mintToken(SECRET, { room: '', publish: true, view: false, ttlSec: 60 }), RangeError);
    await assert.rejects(
      mintToken(SECRET, { room: 'lab', publish: true, view: false, ttlSec: 0 }),
      RangeError,
    );
  });
});

describe('auth: grants', () => {
  const far = Date.now() + 3600_000;
  const grant = (g: Partial<Grant>): Grant => ({
    room: 'lab',
    prefix: false,
    publish: true,
    view: true,
    admin: false,
    id: 'test-token-id',
    expiresAt: far,
    ...g,
  });

  it('allows the exact room and refuses another one (wrong-room)', () => {
    assert.equal(allows(grant({}), 'publish', 'lab'), null);
    assert.equal(allows(grant({}), 'view', 'lab'), null);
    for (const room of ['lab2', 'la', 'LAB', 'other']) {
      const err = allows(grant({}), 'view', room);
      assert.equal(err?.reason, 'wrong-room', room);
      assert.equal(err?.code, 'FW_UNAUTHORIZED');
    }
  });

  it('a prefix grant allows every room starting with the prefix, and no other', () => {
    const g = grant({ room: 'lab-', prefix: true });
    assert.equal(allows(g, 'view', 'lab-1'), null);
    assert.equal(allows(g, 'publish', 'lab-kitchen.cam'), null);
    assert.equal(allows(g, 'view', 'lab')?.reason, 'wrong-room');
    assert.equal(allows(g, 'view', 'xlab-1')?.reason, 'wrong-room');
  });

  it('a publish-only token is refused for view, a view-only one for publish (not-allowed)', async () => {
    const pubOnly = await verifyToken(
      SECRET,
      await mintToken(SECRET, { room: 'lab', publish: true, view: false, ttlSec: 60 }),
    );
    assert.equal(allows(pubOnly, 'publish', 'lab'), null);
    const err = allows(pubOnly, 'view', 'lab');
    assert.equal(err?.reason, 'not-allowed');
    assert.match(err?.message ?? '', /does not allow viewing/);
    assert.equal(allows(grant({ publish: false }), 'publish', 'lab')?.reason, 'not-allowed');
  });

  it('a prefix token round-trips through mint and verify', async () => {
    const token = await mintToken(SECRET, {
      room: 'cams',
      prefix: true,
      publish: false,
      view: true,
      ttlSec: 60,
    });
    const g = await verifyToken(SECRET, token);
    assert.equal(g.prefix, true);
    assert.equal(allows(g, 'view', 'cams-door'), null);
    assert.equal(allows(g, 'publish', 'cams-door')?.reason, 'not-allowed');
  });
});

describe('auth: secrets', () => {
  it('reads FRAMEWIRE_SECRET, null when unset', () => {
    assert.equal(secretFromEnv({}), null);
    assert.equal(secretFromEnv({ FRAMEWIRE_SECRET: SECRET }), SECRET);
  });

  it('refuses a secret shorter than 32 bytes, or empty, with a clear error', async () => {
    for (const s of ['short', '', 'x'.repeat(31)]) {
      assert.throws(
        () => secretFromEnv({ FRAMEWIRE_SECRET: s }),
        (err: unknown) => {
          assert.ok(err instanceof WeakSecretError);
          assert.match(err.message, /FRAMEWIRE_SECRET is \d+ bytes: HS256 needs at least 32/);
          return true;
        },
      );
    }
    assert.equal(secretFromEnv({ FRAMEWIRE_SECRET: 'x'.repeat(32) }), 'x'.repeat(32));
    await assert.rejects(
      mintToken('short', { room: 'lab', publish: true, view: true, ttlSec: 60 }),
      WeakSecretError,
    );
    await assert.rejects(verifyToken('short', 'a.b.c'), WeakSecretError);
  });

  it('verifies repeatedly without re-importing the key (cheap enough per connection)', async () => {
    const token = await mintToken(SECRET, { room: 'lab', publish: true, view: true, ttlSec: 60 });
    const start = performance.now();
    for (let i = 0; i < 1000; i++) await verifyToken(SECRET, token);
    const perVerify = (performance.now() - start) / 1000;
    // Generous bound for a slow CI machine; a verify is tens of microseconds here.
    assert.ok(perVerify < 2, `${perVerify.toFixed(3)} ms per verify`);
  });
});

describe('auth: admin tokens and revocation', () => {
  it('an admin token views every room and passes allowsAdmin; a room token does not', async () => {
    const admin = await verifyToken(
      SECRET,
      await mintToken(SECRET, {
        room: '',
        prefix: true,
        publish: false,
        view: true,
        admin: true,
        ttlSec: 60,
      }),
    );
    assert.equal(admin.admin, true);
    assert.equal(allowsAdmin(admin), null);
    assert.equal(allows(admin, 'view', 'any-room'), null);
    assert.equal(allows(admin, 'publish', 'any-room')?.reason, 'not-allowed');
    const room = await verifyToken(
      SECRET,
      await mintToken(SECRET, { room: 'lab', publish: true, view: true, ttlSec: 60 }),
    );
    assert.equal(room.admin, false);
    assert.equal(allowsAdmin(room)?.reason, 'not-admin');
    assert.match(allowsAdmin(room)?.message ?? '', /framewire token --admin/);
    assert.equal(allowsAdmin(admin, admin.expiresAt + 60_000)?.reason, 'expired');
  });

  it('refuses a room "" that is not a prefix, minted or signed', async () => {
    await assert.rejects(mintToken(SECRET, { room: '', publish: false, view: true, ttlSec: 60 }), RangeError);
    await refused(
      verifyToken(
        SECRET,
        await signRaw({ room: '', pub: false, view: true, prefix: false, jti: 'abcdefgh' }),
      ),
      'malformed',
    );
  });

  it('refuses to mint a token living longer than a year', async () => {
    await assert.rejects(
      mintToken(SECRET, { room: 'lab', publish: true, view: false, ttlSec: 366 * 86_400 }),
      RangeError,
    );
  });

  it("the verifier refuses a revoked id (after the signature), and readTokenId reads a token's id", async () => {
    const token = await mintToken(SECRET, { room: 'lab', publish: false, view: true, ttlSec: 600 });
    const claims = readTokenId(token);
    assert.ok(claims);
    const revokedIds = new Set<string>();
    const verify = tokenVerifier(SECRET, revokedIds);
    assert.equal((await verify(token)).id, claims.id);
    revokedIds.add(claims.id);
    const err = await refused(verify(token), 'revoked');
    assert.match(err.message, /revoked/);
    // A forgery with a revoked id is still a forgery first.
    const forged = await mintToken(OTHER, { room: 'lab', publish: false, view: true, ttlSec: 600 });
    revokedIds.add(readTokenId(forged)?.id ?? '');
    await refused(verify(forged), 'bad-signature');
    assert.equal(readTokenId('not a token'), null);
    assert.equal(readTokenId(await signRaw({ room: 'lab' })), null);
  });
});
