import net from 'node:net';
import {
  decodeMessage,
  encodeMessage,
  type FrameMessage,
  frameMessage,
  type LinkStateMessage,
  type Message,
  MessageDeframer,
  PROTOCOL_VERSION,
} from '../../src/protocol/index.js';
import { readThrottled } from './throttled-read.js';

/** A frame as a viewer got it: its header fields and when the viewer read it (ms, Date.now()). */
export interface ArrivedFrame {
  seq: number;
  key: boolean;
  /** A frame of the stream's audio track (its seq counts audio frames only). */
  audio: boolean;
  /** Capture time, ms since the epoch. */
  capturedAt: number;
  arrivedAt: number;
}

/**
 * A viewer that reads its socket at a fixed rate (see readThrottled), and otherwise behaves as the client
 * library does: it answers every ping as soon as it has read it, keep-alives included. It records each
 * frame's arrival, the link states and errors it is told, and whether its connection closed.
 */
export class SlowViewer {
  readonly frames: ArrivedFrame[] = [];
  readonly linkStates: (LinkStateMessage & { at: number })[] = [];
  readonly errors: Extract<Message, { type: 'error' }>[] = [];
  closed = false;
  private readonly deframer = new MessageDeframer(64 * 1024 * 1024);
  private readonly waiters = new Set<() => void>();
  private readonly received: Message[] = [];
  private readonly stopReading: () => void;

  private constructor(
    readonly socket: net.Socket,
    rateKbit: number,
  ) {
    socket.on('error', () => {});
    socket.on('close', () => {
      this.closed = true;
      this.wake();
    });
    this.stopReading = readThrottled(socket, rateKbit, (chunk) => {
      this.deframer.push(chunk, (body) => this.onMessage(decodeMessage(body)));
      this.wake();
    });
  }

  /** Connects to 127.0.0.1:port, says hello as a viewer and waits for the server's (read at the slow rate). */
  static async connect(port: number, rateKbit: number): Promise<SlowViewer> {
    const socket = await new Promise<net.Socket>((resolve, reject) => {
      const s = net.connect(port, '127.0.0.1', () => resolve(s));
      s.once('error', reject);
    });
    const v = new SlowViewer(socket, rateKbit);
    v.send({ type: 'hello', version: PROTOCOL_VERSION, role: 'viewer', agent: 'slow-viewer', token: '' });
    await v.until(() => v.received.some((m) => m.type === 'hello'), 5000);
    return v;
  }

  /** Subscribes to `room/name` and waits for its stream-added. */
  async subscribe(room: string, name: string): Promise<void> {
    this.send({ type: 'subscribe', requestId: 1, room, name });
    await this.until(() => this.received.some((m) => m.type === 'stream-added'), 5000);
  }

  send(m: Message): void {
    if (!this.socket.destroyed) this.socket.write(frameMessage(encodeMessage(m)));
  }

  close(): void {
    this.stopReading();
    this.socket.destroy();
  }

  private onMessage(m: Message): void {
    const at = Date.now();
    if (m.type === 'frame') {
      this.frames.push(arrived(m, at));
      return;
    }
    // Every ping, as the client library does: probes (id > 0) and the relay's keep-alives (id 0).
    if (m.type === 'ping') {
      this.send({ type: 'pong', id: m.id, echoTime: m.time, responderTime: at * 1000 });
      return;
    }
    if (m.type === 'link-state') this.linkStates.push({ ...m, at });
    if (m.type === 'error') this.errors.push(m);
    this.received.push(m);
  }

  private async until(probe: () => boolean, ms: number): Promise<void> {
    const deadline = Date.now() + ms;
    while (!probe()) {
      const left = deadline - Date.now();
      if (left <= 0 || this.closed) throw new Error(`slow viewer: timed out after ${ms} ms`);
      await new Promise<void>((resolve) => {
        const done = (): void => {
          clearTimeout(t);
          this.waiters.delete(done);
          resolve();
        };
        const t = setTimeout(done, Math.min(left, 50));
        this.waiters.add(done);
      });
    }
  }

  private wake(): void {
    for (const w of [...this.waiters]) w();
  }
}

/** What a test keeps of a frame (not its payload). */
export function arrived(m: FrameMessage, at: number): ArrivedFrame {
  return {
    seq: m.seq,
    key: m.key,
    audio: m.track === 'audio',
    capturedAt: m.captureTime / 1000,
    arrivedAt: at,
  };
}
