import type http from 'node:http';
import { isTokenId, readTokenId } from '../../ops/auth.js';
import { entryExpiry, idOnlyExpiry, RevocationError, type RevocationList } from '../../ops/revocations.js';
import type { HttpGuard } from '../guard.js';
import { type HttpRequest, type HttpRoute, readBody, sendError, sendJson } from '../reply.js';

/** Largest body a revocation may have: a token is ~300 characters, an id 22. */
const MAX_BODY_BYTES = 16 * 1024;

/** HTTP status of each refusal of a revocation. */
const REFUSAL_STATUS: Record<RevocationError['code'], number> = {
  FW_BAD_REQUEST: 400,
  FW_LIMIT: 409,
  FW_BAD_CONFIG: 500,
};

/**
 * `/api/revocations`, admin tokens only: GET lists the revoked tokens not yet expired (`{ revoked: [{ id,
 * expiresAt }] }`); POST `{"id": "…"}` or `{"token": "…"}` revokes one (201 `{ id, expiresAt }`, 200 when
 * it was revoked already): refused from then on, and its connections closed. A server without a secret
 * (`revocations` null) has no tokens: 409 FW_OPEN_MODE.
 */
export function revocationRoutes(revocations: RevocationList | null, guard: HttpGuard): HttpRoute[] {
  const openMode = (res: http.ServerResponse) =>
    sendError(res, 409, 'FW_OPEN_MODE', 'this server has no secret (FRAMEWIRE_SECRET): it takes no tokens');
  return [
    {
      methods: ['GET', 'HEAD'],
      path: '/api/revocations',
      handle: async (request) => {
        if (!(await guard.admin(request))) return;
        if (revocations === null) openMode(request.res);
        else sendJson(request.res, 200, { revoked: revocations.list() });
      },
    },
    {
      methods: ['POST'],
      path: '/api/revocations',
      handle: async (request) => {
        if (!(await guard.admin(request))) return;
        if (revocations === null) {
          openMode(request.res);
          return;
        }
        const target = await revocationTarget(request);
        if (target === null) return;
        try {
          const done = await revocations.revoke(target.id, target.expiresAt);
          sendJson(request.res, done === 'revoked' ? 201 : 200, target);
        } catch (err) {
          if (!(err instanceof RevocationError)) throw err;
          sendError(request.res, REFUSAL_STATUS[err.code], err.code, err.message);
        }
      },
    },
  ];
}

/** The id to revoke and until when, from the request's JSON body; null when answered with an error. */
async function revocationTarget(request: HttpRequest): Promise<{ id: string; expiresAt: number } | null> {
  const { res } = request;
  const bad = (message: string) => {
    sendError(res, 400, 'FW_BAD_REQUEST', message);
    return null;
  };
  const body = await readBody(request.req, MAX_BODY_BYTES);
  // A client gone mid-body: nobody is left to answer.
  if (body === 'gone') return null;
  if (body === null) {
    sendError(res, 413, 'FW_TOO_LARGE', `a revocation is a JSON body of at most ${MAX_BODY_BYTES} bytes`);
    return null;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch {
    return bad('the body is not JSON: send {"id": "<token id>"} or {"token": "<token>"}');
  }
  const { id, token } = (typeof parsed === 'object' && parsed !== null ? parsed : {}) as {
    id?: unknown;
    token?: unknown;
  };
  if (typeof token === 'string') {
    const claims = readTokenId(token);
    if (claims === null) return bad('"token" is not a Framewire token with an id');
    // Kept until the token itself would be refused for its age.
    return { id: claims.id, expiresAt: entryExpiry(claims.expiresAt) };
  }
  if (typeof id === 'string' && isTokenId(id)) return { id, expiresAt: idOnlyExpiry() };
  return bad('send {"id": "<token id>"} (as `framewire token` prints it) or {"token": "<token>"}');
}
