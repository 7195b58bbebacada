import { ClientError, NotFramewireError, TlsError, type TlsFailure } from '../client/errors.js';
import { MediaError } from '../media/errors.js';
import { formatAddress } from '../protocol/address.js';
import { DEFAULT_TCP_PORT } from '../server/ops/config.js';

/** Exit code of a usage error (unknown command or flag, bad value), as most Unix tools use. */
export const EXIT_USAGE = 2;

/** Exit code of an expected failure (server unreachable, ffmpeg missing, no such stream...). */
export const EXIT_FAILURE = 1;

/** An expected failure: printed as one line `framewire: <message>`, no stack trace, then `exitCode`. */
export class CliError extends Error {
  override readonly name = 'CliError';
  constructor(
    message: string,
    readonly exitCode: number = EXIT_FAILURE,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** A usage error for `command`, pointing at its --help. */
export function usageError(command: string, problem: string): CliError {
  const help = command ? `framewire ${command} --help` : 'framewire --help';
  return new CliError(`${problem}: see \`${help}\``, EXIT_USAGE);
}

// FW_TLS_FAILED by cause: what went wrong in a user's words, then what to do about it.
const TLS_PROBLEM: Record<TlsFailure, string> = {
  untrusted: "the server's certificate is not trusted",
  'wrong-host': "the server's certificate is for another name",
  expired: "the server's certificate has expired or is not yet valid",
  'not-tls': 'the TLS handshake failed',
};
const TLS_FIX: Record<TlsFailure, string> = {
  untrusted: 'pass --ca FILE with the CA that signed it',
  'wrong-host':
    "use the host name or address the certificate names in --server, or add this one to the certificate's subjectAltName",
  expired: "renew the server's certificate (or check this machine's clock)",
  'not-tls': 'is the server running with --tls-cert? Without TLS, use --server tcp://HOST:PORT',
};

/**
 * Turns the typed errors of the libraries into a CliError with a line a user can act on; returns null
 * for anything unexpected (a bug), which the caller reports with its stack.
 */
export function toCliError(err: unknown): CliError | null {
  if (err instanceof CliError) return err;
  if (err instanceof MediaError) {
    // Media messages already say what to do; ffmpeg failures carry ffmpeg's own last lines.
    return new CliError(err.message, EXIT_FAILURE, { cause: err });
  }
  if (err instanceof TlsError) {
    return new CliError(
      `${TLS_PROBLEM[err.failure]} (${err.detail}): ${TLS_FIX[err.failure]}`,
      EXIT_FAILURE,
      {
        cause: err,
      },
    );
  }
  if (err instanceof NotFramewireError)
    return new CliError(notFramewireMessage(err), EXIT_FAILURE, { cause: err });
  if (err instanceof ClientError) {
    switch (err.code) {
      case 'FW_CONNECT_FAILED':
        return new CliError(err.message, EXIT_FAILURE, { cause: err });
      case 'FW_UNAUTHORIZED':
        return new CliError(
          `the server refused the token (${err.message}): get one with \`framewire token --room R\` and pass it with --token (or FRAMEWIRE_TOKEN)`,
          EXIT_FAILURE,
          { cause: err },
        );
      case 'FW_CONNECTION_LOST':
      case 'FW_TIMEOUT':
        return new CliError(`${err.message}: check that the server is running and reachable`);
      default:
        return new CliError(
          `the server refused (${err.serverCode ?? err.code}): ${err.message}: check the command's flags, or the server log`,
          EXIT_FAILURE,
          { cause: err },
        );
    }
  }
  return null;
}

/**
 * FW_NOT_FRAMEWIRE in a user's words: `--server` names an HTTP port (most often Framewire's own, 7480),
 * and the fix is the socket protocol's port on the same host.
 */
function notFramewireMessage(err: NotFramewireError): string {
  const where = formatAddress(err.host, err.port);
  const answered = `${where} answered in HTTP ("${err.statusLine}")`;
  if (err.port === DEFAULT_TCP_PORT) {
    // Already the socket protocol's default port: some other web server holds it, or serve moved it.
    return `${answered}, but the socket protocol is expected there: is another program on port ${DEFAULT_TCP_PORT}? Use the tcp:// (or tls://) address that \`framewire serve\` prints`;
  }
  const fix = `${err.tls ? 'tls://' : ''}${formatAddress(err.host, DEFAULT_TCP_PORT)}`;
  return `${answered}: this is Framewire's HTTP port (or another web server); the socket protocol is on ${DEFAULT_TCP_PORT} unless serve was given --tcp-port: use --server ${fix}`;
}
