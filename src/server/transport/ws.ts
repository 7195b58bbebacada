import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocket, WebSocketServer } from 'ws';
import type { Outgoing, Transport } from '../core/transport.js';
import type { ServerRelay } from '../ops/config.js';
import { wsBinaryFrame } from './ws-frame.js';

/** Path of the WebSocket endpoint on the HTTP port. */
export const WS_PATH = '/ws';

/**
 * The socket protocol over WebSocket: one protocol message per binary WebSocket message, no prefix.
 *
 * `ws` reads the socket and answers pings and closes; our messages skip its sender and go straight to
 * the socket as frames built once per message ({@link wsBinaryFrame}). That is safe because with
 * compression off `ws` writes each of its own frames whole and at once, so frames never interleave.
 */
class WsTransport implements Transport {
  readonly kind = 'ws';
  readonly remote: string;

  constructor(
    private readonly ws: WebSocket,
    private readonly socket: Duplex,
    readonly ip: string,
    port: number | undefined,
  ) {
    this.remote = `${ip}:${port}`;
  }

  get bufferedBytes(): number {
    return this.ws.bufferedAmount;
  }

  write(message: Outgoing): void {
    // Once a close frame has gone out, nothing may follow it.
    if (this.ws.readyState !== WebSocket.OPEN) return;
    message.wsFrame ??= wsBinaryFrame(message.body);
    this.socket.write(message.wsFrame);
  }

  cork(): void {
    this.socket.cork();
  }

  uncork(): void {
    this.socket.uncork();
  }

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

  constructor(private readonly relay: ServerRelay) {
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
    // req.socket is the socket ws reads from and writes its own frames to.
    const { socket } = req;
    const transport = new WsTransport(ws, socket, socket.remoteAddress ?? 'unknown', socket.remotePort);
    const conn = this.relay.accept(transport);
    socket.on('drain', () => {
      if (!conn.closing) conn.queue.pump();
    });
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
