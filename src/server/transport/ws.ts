import { type IncomingMessage, STATUS_CODES } from 'node:http';
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
    // With a listener, ws leaves the refusal of a bad handshake (key, Upgrade header, subprotocols) to us,
    // so it gets our JSON error like any other 400, not ws's text/html one.
    this.wss.on('wsClientError', (err: Error, socket: Duplex, req: IncomingMessage) =>
      refuseUpgrade(req, socket, 400, 'FW_BAD_REQUEST', `bad WebSocket handshake: ${err.message}`),
    );
  }

  /** Handles an HTTP upgrade request; anything but a GET of {@link WS_PATH} is refused. */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const path = (req.url ?? '').split('?')[0];
    if (path !== WS_PATH) {
      refuseUpgrade(req, socket, 404, 'FW_NOT_FOUND', `no WebSocket endpoint here; connect to ${WS_PATH}`);
      return;
    }
    // Checked here, not left to ws: through wsClientError its refusal would lose the status (405) and the
    // header (Allow, Sec-WebSocket-Version) that tell the client what to send instead.
    if (req.method !== 'GET') {
      refuseUpgrade(req, socket, 405, 'FW_BAD_METHOD', `${WS_PATH} upgrades GET, not ${req.method}`, {
        Allow: 'GET',
      });
      return;
    }
    const version = req.headers['sec-websocket-version'];
    if (version !== '13' && version !== '8') {
      refuseUpgrade(req, socket, 400, 'FW_BAD_REQUEST', 'Sec-WebSocket-Version must be 13', {
        'Sec-WebSocket-Version': '13, 8',
      });
      return;
    }
    this.wss.handleUpgrade(req, socket, head, (ws) => this.accept(ws, req));
  }

  private accept(ws: WebSocket, req: IncomingMessage): void {
    // req.socket is the socket ws reads from and writes its own frames to.
    const { socket } = req;
    const transport = new WsTransport(ws, socket, socket.remoteAddress ?? 'unknown', socket.remotePort);
    const session = this.relay.accept(transport);
    const { conn } = session;
    socket.on('drain', () => {
      if (!conn.closing) conn.queue.pump();
    });
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      if (conn.closing) return;
      if (!isBinary) {
        conn.fail('FW_BAD_MESSAGE', 'text WebSocket messages are not part of the protocol; send binary');
        return;
      }
      session.receive(data);
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

/**
 * Answers an upgrade request we will not take with our JSON error, `{ error: { code, message } }` (no body
 * for HEAD), and closes the connection once it is written: the socket has left Node's HTTP handling.
 */
function refuseUpgrade(
  req: IncomingMessage,
  socket: Duplex,
  status: number,
  code: string,
  message: string,
  headers: Record<string, string> = {},
): void {
  const body = JSON.stringify({ error: { code, message } });
  const head = [
    `HTTP/1.1 ${status} ${STATUS_CODES[status]}`,
    'Connection: close',
    'Content-Type: application/json; charset=utf-8',
    `Content-Length: ${Buffer.byteLength(body)}`,
    'Cache-Control: no-store',
    ...Object.entries(headers).map(([name, value]) => `${name}: ${value}`),
  ];
  // A peer gone before the answer is written is no error of ours.
  socket.on('error', () => {});
  socket.once('finish', () => socket.destroy());
  socket.end(`${head.join('\r\n')}\r\n\r\n${req.method === 'HEAD' ? '' : body}`);
}
