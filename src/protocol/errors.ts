/**
 * Error codes that travel on the wire in an `error` message. They are stable: clients branch on them,
 * so a code is never renamed or reused; the accompanying text is for people.
 */
export const ERROR_CODES = [
  // The bytes themselves are wrong (raised by the codec and the TCP framing).
  'FW_TRUNCATED',
  'FW_UNKNOWN_TYPE',
  'FW_BAD_MESSAGE',
  'FW_TOO_LARGE',
  'FW_BAD_VERSION',
  // The bytes are fine but the message is not allowed here (raised by the server).
  'FW_NOT_HELLO',
  'FW_BAD_NAME',
  'FW_STREAM_EXISTS',
  'FW_NO_SUCH_STREAM',
  'FW_NOT_OWNER',
  'FW_SLOW_CONSUMER',
  'FW_LIMIT',
  'FW_TIMEOUT',
  'FW_UNAUTHORIZED',
  'FW_SHUTDOWN',
  'FW_INTERNAL',
] as const;

/** One of the stable error codes in {@link ERROR_CODES}. */
export type ErrorCode = (typeof ERROR_CODES)[number];

const KNOWN_CODES: ReadonlySet<string> = new Set(ERROR_CODES);

/** True when `code` is one of the codes this version knows (peers may send newer ones). */
export function isKnownErrorCode(code: string): code is ErrorCode {
  return KNOWN_CODES.has(code);
}

/** An error in the bytes of a message or of the framing around it; `code` is what the peer is told. */
export class ProtocolError extends Error {
  override readonly name = 'ProtocolError';
  constructor(
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
  }
}
