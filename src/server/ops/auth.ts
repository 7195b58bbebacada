import { webcrypto } from 'node:crypto';
import { errors, type JWTPayload, jwtVerify, SignJWT } from 'jose';
import { AuthError, CLOCK_TOLERANCE_SEC, expired, type Grant, type TokenVerifier } from '../core/access.js';

export { AuthError, type AuthReason, allows, type Grant } from '../core/access.js';

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

/** Mints an HS256 token granting `publish` and/or `view` on a room (or room prefix) for `ttlSec` seconds. */
export async function mintToken(
  secret: string,
  grant: { room: string; prefix?: boolean; publish: boolean; view: boolean; ttlSec: number },
): Promise<string> {
  if (grant.room === '') throw new RangeError('a token needs a room (or a room prefix)');
  if (!grant.publish && !grant.view) throw new RangeError('a token must grant publish, view or both');
  if (!Number.isFinite(grant.ttlSec) || grant.ttlSec <= 0) {
    throw new RangeError(`ttl ${grant.ttlSec} s is not a positive number of seconds`);
  }
  const iat = Math.floor(Date.now() / 1000);
  return new SignJWT({
    room: grant.room,
    prefix: grant.prefix ?? false,
    pub: grant.publish,
    view: grant.view,
  })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setIssuer(ISSUER)
    .setIssuedAt(iat)
    .setExpirationTime(iat + Math.ceil(grant.ttlSec))
    .sign(await keyFor(secret));
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
  const { room, prefix, pub, view, exp } = payload;
  if (
    typeof room !== 'string' ||
    room === '' ||
    typeof prefix !== 'boolean' ||
    typeof pub !== 'boolean' ||
    typeof view !== 'boolean' ||
    typeof exp !== 'number'
  ) {
    // Signed by our secret but not shaped like our tokens: never guess rights from a partial payload.
    throw malformed();
  }
  return { room, prefix, publish: pub, view, expiresAt: exp * 1000 };
}

/** Token mode's verifier for the relay: tokens signed with `secret`. */
export function tokenVerifier(secret: string): TokenVerifier {
  return (token) => verifyToken(secret, token);
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
