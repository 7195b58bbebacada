import { AuthError, allows, allowsAdmin, type Grant, type TokenVerifier } from '../core/access.js';
import type { Log } from '../core/log.js';
import { type HttpRequest, notFound, sendError } from './reply.js';

/** A request the guard let through: its grant, or null in open mode (no secret: everything is allowed). */
export interface Admitted {
  grant: Grant | null;
}

/** The token a request carries: `Authorization: Bearer …`, else `?token=`; '' when none. */
export function requestToken(request: HttpRequest): string {
  const header = request.req.headers.authorization;
  if (header !== undefined && /^bearer /i.test(header)) return header.slice(7).trim();
  return request.query.get('token') ?? '';
}

/**
 * Who may read and do what over HTTP, in token mode (in open mode it lets everything through). Every
 * refusal is our JSON error shape, and none tells a caller anything about a room it may not see:
 *
 * - 401 FW_UNAUTHORIZED: no token, or one we do not accept (malformed, forged, expired, revoked);
 * - 404 FW_NOT_FOUND, word for word the answer for a room that does not exist: a genuine token that may
 *   not view the room a read names;
 * - 403 FW_UNAUTHORIZED: a genuine token that may not do this (publish there, or an admin's task). Its
 *   text names only what the caller named itself.
 *
 * It also holds the long answers (live video, ingests) per token id, so a revocation can cut them.
 */
export class HttpGuard {
  /** Closers of the long answers open under each token id. */
  private readonly holds = new Map<string, Set<() => void>>();

  constructor(
    private readonly verifier: TokenVerifier | null,
    private readonly log: Log,
  ) {}

  /** Any genuine token (for reads that answer only what the token may see); open mode lets all through. */
  async token(request: HttpRequest): Promise<Admitted | null> {
    if (this.verifier === null) return { grant: null };
    try {
      return { grant: await this.verifier(requestToken(request)) };
    } catch (err) {
      if (!(err instanceof AuthError)) throw err;
      this.refuse(request, 401, err);
      return null;
    }
  }

  /**
   * A token that may `action` in `room`. A read (`view`) the token does not allow answers exactly as
   * {@link notFound} does for `what` (e.g. `room lab`): the same as when it does not exist. A publish it
   * does not allow is 403.
   */
  async room(
    request: HttpRequest,
    action: 'publish' | 'view',
    room: string,
    what: string,
  ): Promise<Admitted | null> {
    const admitted = await this.token(request);
    const grant = admitted?.grant;
    if (!admitted || !grant) return admitted;
    const refusal = allows(grant, action, room);
    if (refusal === null) return admitted;
    if (refusal.reason === 'expired') {
      this.refuse(request, 401, refusal);
    } else if (action === 'view') {
      this.log.warn('http-unauthorized', { path: request.path, reason: refusal.reason, status: 404 });
      notFound(request.res, what);
    } else {
      this.refuse(request, 403, refusal);
    }
    return null;
  }

  /** An admin token: for every room's list, metrics, recording controls and revocations. */
  async admin(request: HttpRequest): Promise<Admitted | null> {
    const admitted = await this.token(request);
    const grant = admitted?.grant;
    if (!admitted || !grant) return admitted;
    const refusal = allowsAdmin(grant);
    if (refusal === null) return admitted;
    this.refuse(request, refusal.reason === 'expired' ? 401 : 403, refusal);
    return null;
  }

  /**
   * Registers `close` as the way to end a long answer made under `grant`, until the returned function is
   * called (when the answer ends); a revocation of the token calls it. Nothing to hold in open mode.
   */
  hold(grant: Grant | null, close: () => void): () => void {
    if (grant === null) return () => {};
    let closers = this.holds.get(grant.id);
    if (!closers) {
      closers = new Set();
      this.holds.set(grant.id, closers);
    }
    closers.add(close);
    return () => {
      closers.delete(close);
      if (closers.size === 0 && this.holds.get(grant.id) === closers) this.holds.delete(grant.id);
    };
  }

  /** Ends every long answer held under token `id`; returns how many. */
  revoked(id: string): number {
    const closers = this.holds.get(id);
    if (!closers) return 0;
    this.holds.delete(id);
    for (const close of closers) close();
    return closers.size;
  }

  private refuse(request: HttpRequest, status: 401 | 403, refusal: AuthError): void {
    this.log.warn('http-unauthorized', { path: request.path, reason: refusal.reason, status });
    // RFC 6750: a 401 names the scheme that would have worked.
    if (status === 401) request.res.setHeader('www-authenticate', 'Bearer realm="framewire"');
    // The reason ends the text as at hello, "(expired)", which the web app reads.
    sendError(request.res, status, refusal.code, `${refusal.message} (${refusal.reason})`);
  }
}
