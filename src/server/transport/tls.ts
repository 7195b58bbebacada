import { readFile } from 'node:fs/promises';
import type net from 'node:net';
import tls from 'node:tls';
import type { Log } from '../core/log.js';

/** TLS settings that cannot be used: one of the pair missing, or a file unreadable or not PEM. */
export class TlsConfigError extends Error {
  override readonly name = 'TlsConfigError';
  readonly code = 'FW_BAD_TLS';
}

/** The server's certificate chain and private key, read once at start and shared by both ports. */
export interface TlsCredentials {
  cert: Buffer;
  key: Buffer;
  /** File names, for messages. */
  certFile: string;
  keyFile: string;
}

/**
 * Reads `tlsCert` and `tlsKey` (both or neither); null when TLS is off. Every failure is a
 * {@link TlsConfigError} naming the file, so a bad path stops the server at start and not at the first
 * client's handshake.
 */
export async function loadTlsCredentials(
  certFile: string | null,
  keyFile: string | null,
): Promise<TlsCredentials | null> {
  if (certFile === null && keyFile === null) return null;
  if (certFile === null || keyFile === null) {
    const [given, missing] = certFile === null ? ['tlsKey', 'tlsCert'] : ['tlsCert', 'tlsKey'];
    throw new TlsConfigError(`TLS needs both a certificate and a key: ${given} is set but ${missing} is not`);
  }
  const cert = await readPem(certFile, 'certificate');
  const key = await readPem(keyFile, 'private key');
  try {
    // Parses both and checks that the key belongs to the certificate, as the first handshake would.
    tls.createSecureContext({ cert, key });
  } catch (err) {
    throw new TlsConfigError(
      `cannot use TLS certificate ${certFile} with key ${keyFile}: ${(err as Error).message}`,
    );
  }
  return { cert, key, certFile, keyFile };
}

async function readPem(file: string, what: string): Promise<Buffer> {
  let bytes: Buffer;
  try {
    bytes = await readFile(file);
  } catch (err) {
    throw new TlsConfigError(`cannot read TLS ${what} ${file}: ${(err as Error).message}`);
  }
  // OpenSSL's own message for a non-PEM file ("no start line") does not say which file it was.
  if (!bytes.includes('-----BEGIN ')) {
    throw new TlsConfigError(`TLS ${what} ${file} is not PEM (expected a "-----BEGIN ..." block)`);
  }
  return bytes;
}

/**
 * A TLS server (node:tls or node:https, made by `create` from our options) for one of our ports. The
 * handshake is bounded like the hello that follows it, and failed handshakes (a plain client on the TLS
 * port, an untrusting client, a scanner) are logged: they never become connections, so they would
 * otherwise leave no trace.
 */
export function secureServer<S extends tls.Server>(
  create: (options: tls.TlsOptions) => S,
  credentials: TlsCredentials,
  handshakeTimeoutMs: number,
  log: Log,
  port: 'tcp' | 'http',
): S {
  const server = create({
    cert: credentials.cert,
    key: credentials.key,
    handshakeTimeout: handshakeTimeoutMs,
  });
  server.on('tlsClientError', (err: NodeJS.ErrnoException, socket: tls.TLSSocket | net.Socket) => {
    log.info('tls-error', {
      port,
      remote: `${socket.remoteAddress ?? 'unknown'}:${socket.remotePort}`,
      error: err.code ?? err.message,
    });
  });
  return server;
}
