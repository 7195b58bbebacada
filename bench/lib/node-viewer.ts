import net from 'node:net';
import { decodeMessage, encodeMessage, frameMessage, PROTOCOL_VERSION } from '../../src/protocol/index.js';
import { FrameSkimmer } from '../framewire/skim.js';
import type { Collector, SubTally } from './collector.js';
import type { PacedPublisher } from './pacing.js';

/** One read buffer for every viewer: the skimmer keeps nothing pointing into it (as FwLink does). */
const READ_BUFFER = Buffer.alloc(256 * 1024);

/** The node a server hello names (`framewire/0.1.0 (node NAME)`); '' for a server outside a cluster. */
export function nodeOfAgent(agent: string): string {
  return /\(node ([^)]+)\)/.exec(agent)?.[1] ?? '';
}

/**
 * A header-only TCP viewer of one stream that remembers which node answered its hello. FwLink drops the
 * server's hello agent, and with `serve --workers` the node is what tells a viewer on the publisher's
 * worker from one a link away; so this is a viewer-only cousin of it, on the same skimmer.
 */
export class NodeViewer {
  /** The node that serves this viewer, from the server hello. */
  node = '';
  /** Why the connection ended, or null while it is open (or after our own close). */
  failure: string | null = null;
  /** Frames seen since connecting, in or out of a window: a viewer is ready once it has one. */
  seen = 0;
  private tally: SubTally | null = null;
  private collector: Collector | null = null;
  private closing = false;
  private readonly socket: net.Socket;
  private readonly skimmer = new FrameSkimmer(
    (_id, seq, _key, bytes, audio) => this.frame(seq, bytes, audio),
    (body) => this.control(body),
  );

  private constructor(port: number) {
    const onread = { buffer: READ_BUFFER, callback: (n: number) => this.read(n) };
    this.socket = net.connect({ host: '127.0.0.1', port, onread });
    this.socket.setNoDelay(true);
    this.socket.on('error', (err) => {
      this.failure ??= err.message;
    });
    this.socket.on('close', () => {
      if (!this.closing) this.failure ??= 'closed by the server';
    });
  }

  /** Connects, says hello and subscribes to `room/name`; resolves once the server's hello names its node. */
  static open(port: number, room: string, name: string, timeoutMs: number): Promise<NodeViewer> {
    const v = new NodeViewer(port);
    return new Promise<NodeViewer>((resolve, reject) => {
      const timer = setTimeout(() => {
        v.close();
        reject(new Error(`no hello from the server within ${timeoutMs} ms (${v.failure ?? 'no error'})`));
      }, timeoutMs);
      v.helloSeen = () => {
        clearTimeout(timer);
        resolve(v);
      };
      v.socket.once('connect', () => {
        v.send(
          encodeMessage({
            type: 'hello',
            version: PROTOCOL_VERSION,
            role: 'viewer',
            agent: 'framewire-bench',
            token: '',
          }),
        );
        v.send(encodeMessage({ type: 'subscribe', requestId: 1, room, name }));
      });
    });
  }

  /** From now on, frames count in a fresh tally of `collector` against `publisher`'s send times. */
  countInto(collector: Collector, publisher: PacedPublisher): void {
    this.collector = collector;
    this.tally = collector.subscribe(publisher);
  }

  close(): void {
    this.closing = true;
    this.socket.destroy();
  }

  private helloSeen: () => void = () => {};

  private read(n: number): boolean {
    this.skimmer.push(READ_BUFFER, n);
    return true;
  }

  private send(body: Uint8Array): void {
    this.socket.write(frameMessage(body));
  }

  private frame(seq: number, bytes: number, audio: boolean): void {
    if (audio) return;
    this.seen++;
    // The bench publisher sends frame number i as seq i: the collector finds its send time by it.
    if (this.tally) this.collector?.arrive(this.tally, seq, bytes, performance.now());
  }

  private control(body: Uint8Array): void {
    const m = decodeMessage(body);
    if (m.type === 'hello') {
      this.node = nodeOfAgent(m.agent);
      this.helloSeen();
    } else if (m.type === 'ping') {
      // A silent viewer is closed by the relay unless it answers pings, as a real client does.
      this.send(
        encodeMessage({ type: 'pong', id: m.id, echoTime: m.time, responderTime: Date.now() * 1000 }),
      );
    } else if (m.type === 'error') {
      this.failure ??= `${m.code}: ${m.message}`;
    }
  }
}
