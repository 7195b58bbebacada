import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { type WebSocket, WebSocketServer } from 'ws';
import type { Connection } from './connection.js';
import type { Relay } from './relay.js';
import type { Outgoing, Transport } from './transport.js';

/** Path of the WebSocket endpoint on the HTTP port. */
export const WS_PATH = '/ws';

// One options object for every send: no allocation per frame per viewer.
const SEND_OPTIONS = { binary: true } as const;

/** The socket protocol over WebSocket: one protocol message per binary WebSocket message, no prefix. */
class WsTransport implements Transport {
  readonly kind = 'ws';
  conn: Connection | null = null;
  /** Bound once: ws calls it when a message has been handed to the socket, so the queue can refill it. */
  private readonly onSent = () => {
    if (this.conn && !this.conn.closing) this.conn.queue.pump();
  };

  readonly remote: string;

  constructor(
    private readonly ws: WebSocket,
    readonly ip: string,
    port: number | undefined,
  ) {
    this.remote = `${ip}:${port}`;
  }

  get bufferedBytes(): number {
    return this.ws.bufferedAmount;
  }

  write(message: Outgoing): void {
    this.ws.send(message.body, SEND_OPTIONS, this.onSent);
  }

  // ws writes each message through its own sender; batching there would mean reaching into its socket.
  cork(): void {}

  uncork(): void {}

  end(): void {
    this.ws.close(1000);
  }

  destroy(): void {
    this.ws.terminate();
  }
}

/** Accepts WebSocket upgrades on {@link WS_PATH} and feeds their messages to the relay. */
export class WsEndpoint {
  private readonly wss: WebSocketServer;

  constructor(private readonly relay: Relay) {
    // maxPayload: ws refuses a larger message (close code 1009) before buffering it whole.
    this.wss = new WebSocketServer({
      noServer: true,
      maxPayload: relay.config.maxMessageBytes,
      perMessageDeflate: false,
    });
  }

  /** Handles an HTTP upgrade request; anything but {@link WS_PATH} is refused. */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const path = (req.url ?? '').split('?')[0];
    if (path !== WS_PATH) {
      socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\n\r\n');
      return;
    }
    this.wss.handleUpgrade(req, socket, head, (ws) => this.accept(ws, req));
  }

  private accept(ws: WebSocket, req: IncomingMessage): void {
    const transport = new WsTransport(ws, req.socket.remoteAddress ?? 'unknown', req.socket.remotePort);
    const conn = this.relay.accept(transport);
    transport.conn = conn;
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      if (conn.closing) return;
      if (!isBinary) {
        conn.fail('FW_BAD_MESSAGE', 'text WebSocket messages are not part of the protocol; send binary');
        return;
      }
      this.relay.receive(conn, data);
    });
    ws.on('error', (err: Error & { code?: string }) => {
      this.relay.log.info('socket-error', { conn: conn.id, error: err.code ?? err.message });
    });
    ws.on('close', (code: number) =>
      this.relay.disconnect(conn, conn.closing ? 'closed by server' : `closed by peer (${code})`),
    );
  }

  /** Closes the endpoint (connections are closed by the relay). */
  close(): void {
    this.wss.close();
  }
}
