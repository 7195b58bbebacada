import { formatAddress } from '../protocol/address.js';
import { type ErrorCode, isKnownErrorCode } from '../protocol/errors.js';

// Re-exported: part of the client library's API; it lives in src/protocol so the server shares it too.
export { formatAddress } from '../protocol/address.js';

/** Codes raised by the client itself, as opposed to the server's codes that arrive in `error` messages. */
export const CLIENT_ERROR_CODES = [
  'FW_CONNECT_FAILED',
  'FW_HANDSHAKE_FAILED',
  'FW_CONNECTION_LOST',
  'FW_CLIENT_CLOSED',
  'FW_TIMEOUT',
  'FW_TOO_MANY_PENDING',
  'FW_TLS_FAILED',
  'FW_NOT_FRAMEWIRE',
] as const;

/** Stable codes a ClientError can carry: the client's own and every server code of protocol v1. */
export type ClientErrorCode = (typeof CLIENT_ERROR_CODES)[number] | ErrorCode;

/** A failure seen by the client, with a stable code to branch on; the message is for people. */
export class ClientError extends Error {
  override readonly name = 'ClientError';
  constructor(
    readonly code: ClientErrorCode,
    message: string,
    /** The code exactly as the server sent it, when the error came from the server. */
    readonly serverCode?: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }

  /**
   * Wraps an `error` message from the server. A code this version does not know (from a newer server)
   * is treated as FW_INTERNAL, as protocol.md asks, and kept as sent in `serverCode`.
   */
  static fromServer(code: string, message: string): ClientError {
    return new ClientError(isKnownErrorCode(code) ? code : 'FW_INTERNAL', message, code);
  }
}

// Socket errno values people hit in practice, said in words.
const ERRNO_WORDS: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset',
  ENOTFOUND: 'host not found',
  EAI_AGAIN: 'host name lookup failed',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  ETIMEDOUT: 'timed out',
};

/** The FW_CONNECT_FAILED error for a socket error raised while connecting to `host:port`. */
export function connectFailed(host: string, port: number, cause: unknown): ClientError {
  const errno = (cause as NodeJS.ErrnoException | undefined)?.code;
  const words = (errno && ERRNO_WORDS[errno]) ?? (cause instanceof Error ? cause.message : String(cause));
  return new ClientError(
    'FW_CONNECT_FAILED',
    `cannot reach the server at ${formatAddress(host, port)}: ${words} — is \`framewire serve\` running?`,
    undefined,
    { cause },
  );
}

/**
 * FW_NOT_FRAMEWIRE: the peer answered our hello in HTTP, so `host:port` is a web server (typically
 * Framewire's own HTTP port, an easy mistake for the socket protocol's). Raised by the client, never sent.
 */
export class NotFramewireError extends ClientError {
  constructor(
    readonly host: string,
    readonly port: number,
    /** True when we spoke TLS to it (then it is an HTTPS server). */
    readonly tls: boolean,
    /** The first line it answered, e.g. `HTTP/1.1 400 Bad Request`. */
    readonly statusLine: string,
  ) {
    super(
      'FW_NOT_FRAMEWIRE',
      `the server at ${formatAddress(host, port)} answered in HTTP ("${statusLine}"), not in Framewire's socket protocol: this is an HTTP port, such as the one of Framewire's web app`,
    );
  }
}

/** Why a TLS connection failed: each has its own fix (trust a CA, use another name, renew, drop TLS). */
export type TlsFailure = 'untrusted' | 'wrong-host' | 'expired' | 'not-tls';

/** FW_TLS_FAILED: the TLS handshake with the server failed; {@link TlsError.failure} says why. */
export class TlsError extends ClientError {
  constructor(
    readonly failure: TlsFailure,
    message: string,
    /** The TLS library's own words ("self-signed certificate"), for a line that adds its own fix. */
    readonly detail: string,
    options?: { cause?: unknown },
  ) {
    super('FW_TLS_FAILED', message, undefined, options);
  }
}

// OpenSSL's verify results (X509_V_ERR_* without the prefix) that mean "no trusted CA signed this".
const UNTRUSTED = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'CERT_SIGNATURE_FAILURE',
  'INVALID_CA',
]);

const EXPIRED = new Set(['CERT_HAS_EXPIRED', 'CERT_NOT_YET_VALID']);

// What is wrong with the certificate, after "the certificate of the server at H:P".
const CERT_WORDS: Record<Exclude<TlsFailure, 'not-tls'>, string> = {
  untrusted: 'is not trusted: no trusted CA signed it',
  'wrong-host': 'names another host',
  expired: 'is out of its validity period',
};

/**
 * The FW_TLS_FAILED error for a failure after the TCP connection to `host:port` was made and before the
 * TLS handshake finished: a certificate we do not trust, or a server that does not speak TLS there.
 */
export function tlsFailed(host: string, port: number, cause: unknown): TlsError {
  const code = (cause as NodeJS.ErrnoException | undefined)?.code ?? '';
  // OpenSSL's errors carry a short `reason` ("wrong version number"); their message is a raw multi-line dump.
  const reason = (cause as { reason?: unknown } | undefined)?.reason;
  const detail =
    typeof reason === 'string'
      ? reason
      : ((cause instanceof Error ? cause.message : String(cause)).split('\n')[0] ?? '');
  // Anything unrecognised: the peer closed, or answered bytes that are not TLS (a server without TLS).
  const failure: TlsFailure = UNTRUSTED.has(code)
    ? 'untrusted'
    : EXPIRED.has(code)
      ? 'expired'
      : code === 'ERR_TLS_CERT_ALTNAME_INVALID'
        ? 'wrong-host'
        : 'not-tls';
  const where = formatAddress(host, port);
  const message =
    failure === 'not-tls'
      ? `the TLS handshake with the server at ${where} failed (${detail})`
      : `the certificate of the server at ${where} ${CERT_WORDS[failure]} (${detail})`;
  return new TlsError(failure, message, detail, { cause });
}
