// What the page's ?token= says it grants. The page cannot check the signature (only the server holds the
// secret), but the payload is plain base64url JSON: enough to decide what to offer. The server still
// decides what is allowed; a forged payload fails at hello.

import { roomGranted } from '../../src/protocol/index.js';

/** The rights a token's payload claims. */
export interface TokenGrant {
  /** A room name, or a prefix of room names when `prefix` is true. */
  room: string;
  prefix: boolean;
  publish: boolean;
  view: boolean;
  /** An operator's token (`framewire token --admin`): every room, and the server-wide reads. */
  admin: boolean;
  /** Expiry, ms since the epoch; null when the token has none. */
  expiresAt: number | null;
}

/** Reads the payload of a token (a JWT); null when it is not one the page can read. */
export function readGrant(token: string): TokenGrant | null {
  const part = token.split('.')[1];
  if (!part) return null;
  try {
    const base64 = part.replace(/-/g, '+').replace(/_/g, '/');
    const bytes = Uint8Array.from(atob(base64.padEnd(Math.ceil(base64.length / 4) * 4, '=')), (c) =>
      c.charCodeAt(0),
    );
    const p: unknown = JSON.parse(new TextDecoder().decode(bytes));
    if (typeof p !== 'object' || p === null) return null;
    const claims = p as Record<string, unknown>;
    if (typeof claims.room !== 'string') return null;
    return {
      room: claims.room,
      prefix: claims.prefix === true,
      publish: claims.pub === true,
      view: claims.view === true,
      admin: claims.admin === true,
      expiresAt: typeof claims.exp === 'number' ? claims.exp * 1000 : null,
    };
  } catch {
    return null;
  }
}

/** The page's own access token, from `?token=` in its address; '' when it has none. */
export function pageToken(): string {
  return new URLSearchParams(location.search).get('token') ?? '';
}

/**
 * Options for a fetch from the server's HTTP API that carry `token` (as `Authorization: Bearer`, which
 * keeps it out of the server's request lines), when there is one; never cached (the answers are live).
 */
export function apiRequest(token: string): RequestInit {
  return { cache: 'no-store', headers: token ? { authorization: `Bearer ${token}` } : {} };
}

/** The command whoever runs the server types to mint a token for `room` with `action`. */
export function tokenCommand(room: string, action: 'publish' | 'view'): string {
  return action === 'publish' ? `framewire token --room ${room} --publish` : `framewire token --room ${room}`;
}

/** Why the server refused a request, from the reason that ends its message, e.g. "... (not-allowed)". */
export type RefusalReason = 'expired' | 'revoked' | 'wrong-room' | 'not-allowed';

/** The reason at the end of a FW_UNAUTHORIZED message; `not-allowed` when it names none. */
export function refusalReason(serverMessage: string): RefusalReason {
  const m = /\((expired|revoked|wrong-room|not-allowed)\)\s*$/.exec(serverMessage);
  return (m?.[1] as RefusalReason | undefined) ?? 'not-allowed';
}

/** Why `grant` cannot do `action` in `room`, or null when it claims it can. */
export function grantRefusal(
  grant: TokenGrant,
  action: 'publish' | 'view',
  room: string,
): RefusalReason | null {
  if (!roomGranted(grant.room, grant.prefix, room)) return 'wrong-room';
  return grant[action] ? null : 'not-allowed';
}

/** What to tell a person whose link cannot do `action` in `room`, and which link to ask for. */
export function refusalMessage(action: 'publish' | 'view', room: string, reason: RefusalReason): string {
  const ask = `ask whoever runs the server for a link with ${action} access (${tokenCommand(room, action)})`;
  if (reason === 'expired') return `Your link's access has expired: ${ask}.`;
  if (reason === 'revoked') return `Your link's access was withdrawn: ${ask}.`;
  if (reason === 'wrong-room') return `Your link is for another room, not "${room}": ${ask}.`;
  return action === 'publish'
    ? `Your link lets you watch this room, not send: ${ask}.`
    : `Your link lets you send to this room, not watch it: ${ask}.`;
}
