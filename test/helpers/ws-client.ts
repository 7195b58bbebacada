import WebSocket from 'ws';
import { decodeMessage, encodeMessage, type Message, PROTOCOL_VERSION } from '../../src/protocol/index.js';

/**
 * A raw protocol client over WebSocket for tests: one protocol message per binary WebSocket message. Like
 * WireClient, it answers the relay's in-line probes (pings with an id) by itself.
 */
export class WsWireClient {
  readonly received: Message[] = [];
  readonly closed: Promise<number>;

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data: Buffer) => {
      const m = decodeMessage(new Uint8Array(data));
      if (m.type === 'frame') m.payload = new Uint8Array(m.payload);
      if (m.type === 'ping' && m.id !== 0)
        this.send({ type: 'pong', id: m.id, echoTime: m.time, responderTime: Date.now() * 1000 });
      this.received.push(m);
    });
    ws.on('error', () => {});
    this.closed = new Promise((resolve) => ws.on('close', (code) => resolve(code)));
  }

  /** Opens ws://127.0.0.1:port/ws and completes the hello exchange. */
  static async hello(port: number): Promise<WsWireClient> {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/ws`);
    await new Promise((resolve, reject) => {
      ws.once('open', resolve);
      ws.once('error', reject);
    });
    const c = new WsWireClient(ws);
    c.send({ type: 'hello', version: PROTOCOL_VERSION, role: 'peer', agent: 'test-ws', token: '' });
    await c.until(() => c.received.find((m) => m.type === 'hello'));
    return c;
  }

  send(m: Message): void {
    this.ws.send(encodeMessage(m));
  }

  /** Polls `probe` until it returns a value or `ms` passes. */
  async until<T>(probe: () => T | undefined | false, ms = 5000): Promise<T> {
    const deadline = Date.now() + ms;
    for (;;) {
      const v = probe();
      if (v !== undefined && v !== false) return v;
      if (Date.now() > deadline)
        throw new Error(`timed out after ${ms} ms; received ${this.received.length} messages`);
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  frames(streamId: number): Extract<Message, { type: 'frame' }>[] {
    return this.received.filter(
      (m): m is Extract<Message, { type: 'frame' }> => m.type === 'frame' && m.streamId === streamId,
    );
  }

  close(): void {
    this.ws.terminate();
  }
}
