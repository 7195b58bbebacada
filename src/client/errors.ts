import { type ErrorCode, isKnownErrorCode } from '../protocol/errors.js';

/** Codes raised by the client itself, as opposed to the server's codes that arrive in `error` messages. */
export const CLIENT_ERROR_CODES = [
  'FW_CONNECT_FAILED',
  'FW_HANDSHAKE_FAILED',
  'FW_CONNECTION_LOST',
  'FW_CLIENT_CLOSED',
  'FW_TIMEOUT',
  'FW_TOO_MANY_PENDING',
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

/** `host:port`, with IPv6 literals bracketed so the port is unambiguous. */
export function formatAddress(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}
