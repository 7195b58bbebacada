import { randomBytes, webcrypto } from 'node:crypto';
import { decodeJwt, errors, type JWTPayload, jwtVerify, SignJWT } from 'jose';
import {
  AuthError,
  CLOCK_TOLERANCE_SEC,
  expired,
  type Grant,
  revoked,
  type TokenVerifier,
} from '../core/access.js';

export { AuthError, type AuthReason, allows, allowsAdmin, type Grant } from '../core/access.js';

/** A secret too short for HS256 (or empty): a configuration error, raised at start, never per client. */
export class WeakSecretError extends Error {
  override readonly name = 'WeakSecretError';
}

/** Shortest secret accepted: HS256 is only as strong as its key, and RFC 7518 asks for at least 256 bits. */
export const MIN_SECRET_BYTES = 32;

/** Issuer of every token, checked on verify so a JWT minted for something else with the same secret fails. */
const ISSUER = 'framewire';

/** Longer tokens are refused before any parsing; ours are ~250 characters. */
const MAX_TOKEN_CHARS = 4096;

/**
 * Longest lifetime a token may have. A year bounds the damage of a leaked token, and lets a revocation
 * that knows only a token's id be forgotten a year later: by then the token has expired anyway.
 */
export const MAX_TOKEN_TTL_SEC = 365 * 86_400;

/** What a token id (`jti`) looks like: ours are 22 base64url characters (128 random bits). */
const TOKEN_ID = /^[A-Za-z0-9_-]{8,64}$/;

/** Secrets whose HMAC key is cached: a server has one, so a handful bounds the map without evicting it. */
const MAX_CACHED_KEYS = 4;

const keys = new Map<string, Promise<webcrypto.CryptoKey>>();

/** Throws WeakSecretError when `secret` is shorter than {@link MIN_SECRET_BYTES} bytes; `what` names it. */
export function checkSecret(secret: string, what = 'the secret'): void {
  const bytes = Buffer.byteLength(secret, 'utf8');
  if (bytes < MIN_SECRET_BYTES) {
    throw new WeakSecretError(
      `${what} is ${bytes} bytes: HS256 needs at least ${MIN_SECRET_BYTES} random bytes ` +
        '(make one with `openssl rand -base64 32`)',
    );
  }
}

/** The HMAC key of `secret`, imported once: verifying a token then costs one HMAC, not a key import. */
function keyFor(secret: string): Promise<webcrypto.CryptoKey> {
  let key = keys.get(secret);
  if (!key) {
    checkSecret(secret);
    if (keys.size >= MAX_CACHED_KEYS) keys.clear();
    key = webcrypto.subtle.importKey(
      'raw',
      new TextEncoder().encode(secret),
      { name: 'HMAC', hash: 'SHA-256' },
      false,
      ['sign', 'verify'],
    );
    keys.set(secret, key);
  }
  return key;
}

/**
 * Mints an HS256 token granting `publish` and/or `view` on a room (or room prefix; "" as a prefix is every
 * room), and with `admin` the operator's rights too, for `ttlSec` seconds (at most a year). Each token gets
 * a random id (`jti`), which is what a revocation names.
 */
export async function mintToken(
  secret: string,
  grant: { room: string; prefix?: boolean; publish: boolean; view: boolean; admin?: boolean; ttlSec: number },
): Promise<string> {
  if (grant.room === '' && grant.prefix !== true)
    throw new RangeError('a token needs a room (or a room prefix)');
  if (!grant.publish && !grant.view) throw new RangeError('a token must grant publish, view or both');
  if (!Number.isFinite(grant.ttlSec) || grant.ttlSec <= 0 || grant.ttlSec > MAX_TOKEN_TTL_SEC) {
    throw new RangeError(`ttl ${grant.ttlSec} s is not a number of seconds from 1 to ${MAX_TOKEN_TTL_SEC}`);
  }
  const iat = Math.floor(Date.now() / 1000);
  return new SignJWT({
    room: grant.room,
    prefix: grant.prefix ?? false,
    pub: grant.publish,
    view: grant.view,
    // Only on admin tokens: a room token stays as it was, and older readers of it see nothing new.
    ...(grant.admin ? { admin: true } : {}),
  })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setIssuer(ISSUER)
    .setJti(randomBytes(16).toString('base64url'))
    .setIssuedAt(iat)
    .setExpirationTime(iat + Math.ceil(grant.ttlSec))
    .sign(await keyFor(secret));
}

/** Whether `text` has the shape of a token id (`jti`), as `framewire token` prints it. */
export function isTokenId(text: string): boolean {
  return TOKEN_ID.test(text);
}

/**
 * The id and expiry (ms since the epoch) a token claims, read without checking its signature; null when it
 * is not a token with an id. For revoking by token: revoking a forgery's id costs nothing.
 */
export function readTokenId(token: string): { id: string; expiresAt: number } | null {
  if (token.length > MAX_TOKEN_CHARS) return null;
  try {
    const { jti, exp } = decodeJwt(token);
    if (typeof jti !== 'string' || !isTokenId(jti) || typeof exp !== 'number') return null;
    return { id: jti, expiresAt: exp * 1000 };
  } catch {
    return null;
  }
}

/**
 * Verifies `token` against `secret` and returns what it grants; throws AuthError (missing, malformed,
 * expired, bad-signature). `now` (ms epoch) replaces the clock, for tests.
 */
export async function verifyToken(secret: string, token: string, now?: number): Promise<Grant> {
  if (token === '') {
    throw new AuthError(
      'missing',
      'this server requires an access token: pass --token (CLI) or ?token= in the page address (web app)',
    );
  }
  if (token.length > MAX_TOKEN_CHARS) throw malformed();
  const key = await keyFor(secret);
  let payload: JWTPayload;
  try {
    ({ payload } = await jwtVerify(token, key, {
      algorithms: ['HS256'],
      issuer: ISSUER,
      requiredClaims: ['exp'],
      clockTolerance: CLOCK_TOLERANCE_SEC,
      ...(now === undefined ? {} : { currentDate: new Date(now) }),
    }));
  } catch (err) {
    throw fromJose(err);
  }
  const { room, prefix, pub, view, admin = false, jti, exp } = payload;
  if (
    typeof room !== 'string' ||
    (room === '' && prefix !== true) ||
    typeof prefix !== 'boolean' ||
    typeof pub !== 'boolean' ||
    typeof view !== 'boolean' ||
    typeof admin !== 'boolean' ||
    typeof jti !== 'string' ||
    !isTokenId(jti) ||
    typeof exp !== 'number'
  ) {
    // Signed by our secret but not shaped like our tokens (one minted before tokens had ids included, as
    // those could never be revoked): never guess rights from a partial payload.
    throw malformed();
  }
  return { room, prefix, publish: pub, view, admin, id: jti, expiresAt: exp * 1000 };
}

/** The revoked token ids, as the verifier asks about them. */
export interface RevokedIds {
  has(id: string): boolean;
}

/** Token mode's verifier for the relay: tokens signed with `secret`, and not among `revokedIds`. */
export function tokenVerifier(secret: string, revokedIds: RevokedIds | null = null): TokenVerifier {
  return async (token) => {
    const grant = await verifyToken(secret, token);
    // Asked after the signature: an id is only worth looking up once we know we issued it.
    if (revokedIds?.has(grant.id)) throw revoked();
    return grant;
  };
}

/**
 * The server secret from FRAMEWIRE_SECRET, or null when unset (open mode). Throws WeakSecretError for a
 * set but short (or empty) value: failing at start beats running open by accident.
 */
export function secretFromEnv(env: NodeJS.ProcessEnv = process.env): string | null {
  const secret = env.FRAMEWIRE_SECRET;
  if (secret === undefined) return null;
  checkSecret(secret, 'FRAMEWIRE_SECRET');
  return secret;
}

function malformed(cause?: unknown): AuthError {
  return new AuthError('malformed', 'the access token is not a valid Framewire token', { cause });
}

/** Maps jose's error classes to our reasons; anything that is not a JOSE error is a bug and is rethrown. */
function fromJose(err: unknown): unknown {
  if (err instanceof errors.JWTExpired) {
    const exp = err.payload.exp;
    return typeof exp === 'number'
      ? expired(exp * 1000)
      : new AuthError('expired', 'the access token expired', { cause: err });
  }
  if (err instanceof errors.JWSSignatureVerificationFailed || err instanceof errors.JOSEAlgNotAllowed) {
    // A wrong algorithm (alg "none", RS256...) is as much a forgery as a wrong HMAC.
    return new AuthError('bad-signature', "the access token was not signed with this server's secret", {
      cause: err,
    });
  }
  if (err instanceof errors.JOSEError) return malformed(err);
  return err;
}
