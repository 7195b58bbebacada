import net from 'node:net';
import { MessageDeframer } from '../protocol/index.js';
import type { Relay } from './relay.js';
import type { Outgoing, Transport } from './transport.js';

/** The socket protocol over plain TCP: each message behind a 4-byte length prefix. */
class TcpTransport implements Transport {
  readonly kind = 'tcp';
  readonly remote: string;
  readonly ip: string;

  constructor(private readonly socket: net.Socket) {
    this.ip = socket.remoteAddress ?? 'unknown';
    this.remote = `${this.ip}:${socket.remotePort}`;
  }

  get bufferedBytes(): number {
    return this.socket.writableLength;
  }

  write(message: Outgoing): void {
    this.socket.write(message.framed);
  }

  end(): void {
    this.socket.end();
  }

  destroy(): void {
    this.socket.destroy();
  }
}

/** Accepts TCP connections on host:port and feeds their messages to the relay. */
export function listenTcp(relay: Relay, host: string, port: number): Promise<net.Server> {
  const server = net.createServer((socket) => {
    // Frames are written whole and latency matters more than packet count.
    socket.setNoDelay(true);
    const conn = relay.accept(new TcpTransport(socket));
    const deframer = new MessageDeframer(relay.config.maxMessageBytes);
    const onMessage = (body: Uint8Array, framed: Uint8Array) => relay.receive(conn, body, framed);
    socket.on('data', (chunk: Buffer) => {
      if (conn.closing) return;
      try {
        deframer.push(chunk, onMessage);
      } catch (err) {
        relay.reject(conn, err);
      }
    });
    socket.on('drain', () => conn.queue.pump());
    socket.on('error', (err: NodeJS.ErrnoException) => {
      relay.log.info('socket-error', { conn: conn.id, error: err.code ?? err.message });
    });
    socket.on('close', () => relay.disconnect(conn, conn.closing ? 'closed by server' : 'closed by peer'));
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve(server);
    });
  });
}
