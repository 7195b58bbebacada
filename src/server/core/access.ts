import { type ErrorCode, roomGranted } from '../../protocol/index.js';

/** What a verified token lets its holder do, and until when. */
export interface Grant {
  /** A room name, or a room-name prefix when `prefix` is true. */
  room: string;
  /** true: `room` is a prefix ("lab-" grants "lab-1", "lab-2"...). */
  prefix: boolean;
  publish: boolean;
  view: boolean;
  /**
   * Operator rights: the whole-server reads (every room's list, metrics) and controls (recordings,
   * revocation). Admin tokens are minted for every room (room "" as a prefix) with view.
   */
  admin: boolean;
  /** The token's id (`jti`): what a revocation names, and what closes the connections that used it. */
  id: string;
  /** Expiry, ms since the epoch. */
  expiresAt: number;
}

/**
 * Turns a token into what it grants, or rejects with an {@link AuthError}. The relay is given one in token
 * mode (ops/auth.ts verifies HS256 JWTs) and none in open mode; the core never sees a secret.
 */
export type TokenVerifier = (token: string) => Promise<Grant>;

/** Why a token was refused: for logs and for the text the client sees (the wire code is always FW_UNAUTHORIZED). */
export type AuthReason =
  | 'missing'
  | 'malformed'
  | 'expired'
  | 'bad-signature'
  | 'revoked'
  | 'wrong-room'
  | 'not-allowed'
  | 'not-admin';

/**
 * A refused token or request; `code` goes on the wire. A token refused at hello closes the connection; a
 * publish or subscribe the token does not allow is refused alone, and the connection goes on.
 */
export class AuthError extends Error {
  override readonly name = 'AuthError';
  // Typed against the protocol's list so a renamed code breaks the build, not the clients.
  readonly code: Extract<ErrorCode, 'FW_UNAUTHORIZED'> = 'FW_UNAUTHORIZED';
  constructor(
    readonly reason: AuthReason,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Clock skew allowed between the machine that minted a token and the server (exp and nbf). */
export const CLOCK_TOLERANCE_SEC = 5;

/**
 * Whether `grant` allows `action` in `room` at `now`; returns the refusal, or null. Called on every
 * publish and subscribe, not only at hello, so a token that expires mid-session stops new requests
 * (streams already running are not cut).
 */
export function allows(
  grant: Grant,
  action: 'publish' | 'view',
  room: string,
  now = Date.now(),
): AuthError | null {
  // Same tolerance as at hello, so a token accepted there is not refused a moment later.
  if (now >= grant.expiresAt + CLOCK_TOLERANCE_SEC * 1000) return expired(grant.expiresAt);
  if (!roomGranted(grant.room, grant.prefix, room)) {
    const granted = grant.prefix ? `rooms starting with "${grant.room}"` : `room "${grant.room}"`;
    return new AuthError('wrong-room', `the access token is for ${granted}, not room "${room}"`);
  }
  if (!grant[action]) {
    const verb = action === 'publish' ? 'publishing' : 'viewing';
    return new AuthError('not-allowed', `the access token does not allow ${verb} in room "${room}"`);
  }
  return null;
}

/**
 * Whether `grant` carries operator rights at `now`; returns the refusal (`expired`, `not-admin`), or null.
 * Asked by the whole-server routes (every room's list, metrics, recording controls, revocation).
 */
export function allowsAdmin(grant: Grant, now = Date.now()): AuthError | null {
  if (now >= grant.expiresAt + CLOCK_TOLERANCE_SEC * 1000) return expired(grant.expiresAt);
  if (grant.admin) return null;
  return new AuthError('not-admin', 'this needs an admin token: mint one with `framewire token --admin`');
}

/** The refusal of a token that was revoked before it expired. */
export function revoked(): AuthError {
  return new AuthError('revoked', 'the access token was revoked: get a new one');
}

/** The refusal of a token that expired at `expiresAt` (ms since the epoch). */
export function expired(expiresAt: number): AuthError {
  return new AuthError(
    'expired',
    `the access token expired at ${new Date(expiresAt).toISOString()}: get a new one`,
  );
}
