import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { ClientTlsOptions } from '../client/client.js';
import { ClientError } from '../client/errors.js';
import { connectWithReconnect, type ReconnectingClient } from '../client/reconnect.js';
import { parseHostPort } from './args.js';
import { CliError, usageError } from './errors.js';

/** A `--server` value: where the server is and whether it speaks TLS. */
export interface ServerAddress {
  host: string;
  port: number;
  tls: boolean;
  /** More nodes of the same cluster (`--server a:7420,b:7420`): where the client goes when this one is gone. */
  alternates?: { host: string; port: number }[];
}

/**
 * One address (see {@link parseOneServer}) or several, comma-separated: nodes of one cluster, all plain or
 * all TLS; the client connects to the first it reaches and moves on when its node goes.
 */
export function parseServer(command: string, text: string): ServerAddress {
  const [first, ...rest] = text.split(',').map((t) => parseOneServer(command, t.trim()));
  const server = first as ServerAddress;
  if (rest.length === 0) return server;
  if (rest.some((r) => r.tls !== server.tls)) {
    throw usageError(command, `--server "${text}": the nodes of one cluster are all tcp:// or all tls://`);
  }
  return { ...server, alternates: rest.map(({ host, port }) => ({ host, port })) };
}

/** `tls://HOST:PORT`, `tcp://HOST:PORT`, or `HOST:PORT` / `HOST` (plain TCP, as before schemes existed). */
function parseOneServer(command: string, text: string): ServerAddress {
  const m = /^([a-z][a-z0-9+.-]*):\/\/(.*?)\/?$/i.exec(text);
  if (!m) return { ...parseHostPort(command, text), tls: false };
  const scheme = (m[1] as string).toLowerCase();
  if (scheme !== 'tcp' && scheme !== 'tls') {
    // ws://, http://... name the HTTP port, which the CLI does not speak.
    throw usageError(
      command,
      `--server "${text}": the scheme is tcp:// or tls:// (the socket protocol port, not the HTTP one)`,
    );
  }
  return { ...parseHostPort(command, m[2] as string), tls: scheme === 'tls' };
}

/** `tls://H:P` or `tcp://H:P`, for messages (the first address only). */
export function formatServer(server: Pick<ServerAddress, 'host' | 'port' | 'tls'>): string {
  const host = server.host.includes(':') ? `[${server.host}]` : server.host;
  return `${server.tls ? 'tls' : 'tcp'}://${host}:${server.port}`;
}

/**
 * The client's TLS options from `--server` and `--ca`: undefined for plain TCP. The CA file is read and
 * parsed here, so a wrong path is reported as such and not as an untrusted server.
 */
export function tlsFromFlags(
  command: string,
  server: ServerAddress,
  caFile: string | undefined,
): ClientTlsOptions | undefined {
  if (!server.tls) {
    if (caFile !== undefined) throw usageError(command, '--ca only applies to a tls:// --server');
    return undefined;
  }
  if (caFile === undefined) return {};
  let ca: Buffer;
  try {
    ca = readFileSync(caFile);
  } catch (err) {
    throw new CliError(
      `cannot read --ca ${caFile}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
    );
  }
  try {
    new X509Certificate(ca);
  } catch {
    throw new CliError(
      `--ca ${caFile} is not a PEM certificate: pass the CA certificate (-----BEGIN CERTIFICATE-----)`,
    );
  }
  return { ca };
}

/** Who connects: the role and token publish and watch present. */
export interface ConnectAs {
  role: 'publisher' | 'viewer';
  token: string;
}

/**
 * Connects publish or watch to `--server` (reconnecting later). A plain connection the server closes
 * before its hello is what a TLS port does to a plain client, so that failure says to try tls://.
 */
export async function connectToServer(
  server: ServerAddress,
  tls: ClientTlsOptions | undefined,
  as: ConnectAs,
): Promise<ReconnectingClient> {
  try {
    return await connectWithReconnect({
      host: server.host,
      port: server.port,
      alternates: server.alternates,
      tls,
      token: as.token,
      role: as.role,
      agent: 'framewire-cli/0.1.0',
    });
  } catch (err) {
    if (!server.tls && err instanceof ClientError && err.code === 'FW_CONNECTION_LOST') {
      throw new CliError(
        `${err.message} before its hello: if the server runs with --tls-cert, use --server ${formatServer({ ...server, tls: true })}`,
        undefined,
        { cause: err },
      );
    }
    throw err;
  }
}
