import net from 'node:net';
import tls from 'node:tls';
import { MessageDeframer } from '../../protocol/index.js';
import type { Outgoing, Transport } from '../core/transport.js';
import type { ServerRelay } from '../ops/config.js';
import { secureServer, type TlsCredentials } from './tls.js';

/** The socket protocol over TCP, or over TLS on TCP: each message behind a 4-byte length prefix. */
class TcpTransport implements Transport {
  readonly remote: string;
  readonly ip: string;

  constructor(
    private readonly socket: net.Socket,
    readonly kind: 'tcp' | 'tls',
  ) {
    this.ip = socket.remoteAddress ?? 'unknown';
    this.remote = `${this.ip}:${socket.remotePort}`;
  }

  get bufferedBytes(): number {
    return this.socket.writableLength;
  }

  write(message: Outgoing): void {
    this.socket.write(message.framed);
  }

  cork(): void {
    this.socket.cork();
  }

  uncork(): void {
    this.socket.uncork();
  }

  end(): void {
    this.socket.end();
  }

  destroy(): void {
    this.socket.destroy();
  }
}

/**
 * Accepts connections on host:port and feeds their messages to the relay: plain TCP, or TLS when given
 * credentials (one port, no plain fallback). A TLS socket reaches the relay only once its handshake is
 * done, and from then on takes the same path as a plain one.
 */
export function listenTcp(
  relay: ServerRelay,
  host: string,
  port: number,
  credentials: TlsCredentials | null = null,
  /** `exclusive`: in a worker of Node's cluster module, a port of this process's own (see net.listen). */
  options: { exclusive?: boolean } = {},
): Promise<net.Server> {
  const kind = credentials ? 'tls' : 'tcp';
  const onConnection = (socket: net.Socket): void => {
    // Frames are written whole and latency matters more than packet count.
    socket.setNoDelay(true);
    const session = relay.accept(new TcpTransport(socket, kind));
    const { conn } = session;
    const deframer = new MessageDeframer(relay.config.maxMessageBytes);
    const onMessage = (body: Uint8Array, framed: Uint8Array) => session.receive(body, framed);
    socket.on('data', (chunk: Buffer) => {
      if (conn.closing) return;
      try {
        deframer.push(chunk, onMessage);
      } catch (err) {
        session.reject(err);
      }
    });
    socket.on('drain', () => conn.queue.pump());
    socket.on('error', (err: NodeJS.ErrnoException) => {
      relay.log.info('socket-error', { conn: conn.id, error: err.code ?? err.message });
    });
    socket.on('close', () => relay.disconnect(conn, conn.closing ? 'closed by server' : 'closed by peer'));
  };
  const server: net.Server = credentials
    ? secureServer(
        (options) => tls.createServer(options, onConnection),
        credentials,
        relay.config.helloTimeoutMs,
        relay.log,
        'tcp',
      )
    : net.createServer(onConnection);
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port, host, exclusive: options.exclusive ?? false }, () => {
      server.off('error', reject);
      resolve(server);
    });
  });
}
