// The page's one WebSocket to the server: hello, reconnect with backoff, and the server clock from ping/pong.
import {
  type BackoffJitter,
  backoffDelay,
  decodeMessage,
  encodeMessage,
  type LinkState,
  type Message,
  PROTOCOL_VERSION,
} from '../../src/protocol/index.js';
import { localNowUs, ServerClock } from './clock.js';

/** What the status indicator shows. */
export type ConnectionState = 'connecting' | 'online' | 'offline';

/** Callbacks of a {@link Connection}. */
export interface ConnectionHandlers {
  /** The state changed; `detail` is a short text for people. */
  onState(state: ConnectionState, detail: string): void;
  /** The server said hello on a fresh socket: publish and subscribe (again). */
  onSession(): void;
  /** Any message after the server's hello, except pings, pongs and link-state (the connection's own). */
  onMessage(message: Message): void;
  /**
   * How the server delivers to this connection changed (from its `link-state` messages; back to `live` on a
   * fresh socket, which the server starts live). It covers every stream the connection watches.
   */
  onLinkState(state: LinkState, backlogMs: number): void;
}

/** The agent string the server logs for this app. */
export const AGENT = 'framewire-web/0.1';

const BACKOFF_MIN_MS = 500;
const BACKOFF_MAX_MS = 8000;
/** ±25% around each step (capped at the maximum): tabs reopened together spread out. */
const BACKOFF_JITTER: BackoffJitter = [0.75, 1.25];
/** A socket that has not heard the server's hello by then is given up and retried. */
const HELLO_TIMEOUT_MS = 5000;
/** Quick pings right after connecting give a good clock estimate at once; then a slow beat keeps it fresh. */
const PING_SCHEDULE_MS = [0, 200, 400, 800, 1600];
const PING_INTERVAL_MS = 3000;

/** The WebSocket URL of the server that served this page. */
export function defaultSocketUrl(): string {
  return socketUrlOf(location.origin);
}

/** The WebSocket URL of the node whose HTTP address is `origin` (`https://m1.example:7480`). */
export function socketUrlOf(origin: string): string {
  return `${origin.replace(/^http/, 'ws')}/ws`;
}

/** A WebSocket session with the relay that reconnects by itself and keeps an estimate of the server's clock. */
export class Connection {
  /** The server's clock, estimated from ping/pong; frames' capture times are stamped with it. */
  readonly clock = new ServerClock();
  /** How the server delivers to us now, as its last `link-state` said. */
  linkState: LinkState = 'live';
  /** The backlog the server measured when it last changed {@link linkState}, ms. */
  linkBacklogMs = 0;
  private ws: WebSocket | null = null;
  private session = false;
  private attempt = 0;
  private stopped = false;
  private retryTimer: number | undefined;
  private pingTimer: number | undefined;
  private helloTimer: number | undefined;
  private pingsSent = 0;
  private nextId = 1;
  private readonly pongWaiters = new Map<number, (answered: boolean) => void>();
  /**
   * Where to connect: this page's server first, then the other nodes of its cluster as that server last
   * listed them (`/api/cluster/nodes`); each retry goes to the next.
   */
  private urls: string[];
  private urlIndex = 0;

  constructor(
    private readonly url: string,
    private readonly role: 'peer' | 'viewer',
    /** Access token for rooms that need one (from the page's `?token=`); empty otherwise. */
    private readonly token: string,
    private readonly handlers: ConnectionHandlers,
  ) {
    this.urls = [url];
  }

  /** The WebSocket URL of the current (or last) socket: the page's server or another node of its cluster. */
  get currentUrl(): string {
    return this.urls[this.urlIndex] ?? this.url;
  }

  /** Opens the socket (and keeps reopening it until {@link stop}). */
  start(): void {
    this.stopped = false;
    this.open();
  }

  /** Closes for good: no more reconnects. */
  stop(): void {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    this.ws?.close(1000, 'bye');
  }

  /** True between the server's hello and the socket closing. */
  get online(): boolean {
    return this.session;
  }

  /** Bytes handed to the socket but not yet sent: the publisher's measure of a congested uplink. */
  get bufferedAmount(): number {
    return this.ws?.bufferedAmount ?? 0;
  }

  /** A fresh id for a request (publish, subscribe). */
  requestId(): number {
    return this.nextId++;
  }

  /** Sends one message; false (and nothing sent) when there is no session. */
  send(message: Message): boolean {
    if (!this.session || !this.ws || this.ws.readyState !== WebSocket.OPEN) return false;
    this.ws.send(encodeMessage(message));
    return true;
  }

  /**
   * Resolves when the server has answered a ping sent now. The server answers in order, so every message it
   * sent before (for example the stream-added of a subscribe) has arrived by then. False if the socket
   * closed first.
   */
  barrier(): Promise<boolean> {
    return new Promise((resolve) => {
      const id = this.ping();
      if (id === null) resolve(false);
      else this.pongWaiters.set(id, resolve);
    });
  }

  private open(): void {
    this.setState(
      'connecting',
      this.attempt === 0 ? 'connecting…' : `reconnecting (attempt ${this.attempt + 1})…`,
    );
    const ws = new WebSocket(this.currentUrl);
    ws.binaryType = 'arraybuffer';
    this.ws = ws;
    ws.onopen = () => {
      ws.send(
        encodeMessage({
          type: 'hello',
          version: PROTOCOL_VERSION,
          role: this.role,
          agent: AGENT,
          token: this.token,
        }),
      );
    };
    ws.onmessage = (event: MessageEvent) => this.onData(ws, event.data);
    ws.onclose = () => this.onClose(ws);
    // An error is always followed by close, which does the work.
    ws.onerror = () => {};
    this.helloTimer = window.setTimeout(() => {
      if (!this.session) ws.close(4000, 'no hello');
    }, HELLO_TIMEOUT_MS);
  }

  private onData(ws: WebSocket, data: unknown): void {
    if (ws !== this.ws) return;
    if (!(data instanceof ArrayBuffer)) {
      ws.close(4000, 'text message');
      return;
    }
    let message: Message;
    try {
      message = decodeMessage(new Uint8Array(data));
    } catch (err) {
      console.warn('framewire: undecodable message from server, reconnecting', err);
      ws.close(4000, 'bad message');
      return;
    }
    if (!this.session) {
      if (message.type === 'hello') {
        clearTimeout(this.helloTimer);
        this.session = true;
        this.attempt = 0;
        this.setState(
          'online',
          this.currentUrl === this.url ? 'connected' : `connected via ${new URL(this.currentUrl).host}`,
        );
        if (this.currentUrl === this.url) void this.learnNodes();
        this.pingsSent = 0;
        this.schedulePing();
        // A new socket starts live on the server: whatever the old one was told is over.
        this.setLink('live', 0);
        this.handlers.onSession();
      } else if (message.type === 'error') {
        this.handlers.onMessage(message);
      }
      return;
    }
    if (message.type === 'pong') {
      this.clock.addSample(message.echoTime, message.responderTime, localNowUs());
      this.pongWaiters.get(message.id)?.(true);
      this.pongWaiters.delete(message.id);
      return;
    }
    if (message.type === 'ping') {
      // Answered right here: the relay times these answers to measure our backlog through every buffer.
      this.send({ type: 'pong', id: message.id, echoTime: message.time, responderTime: localNowUs() });
      return;
    }
    if (message.type === 'link-state') {
      this.setLink(message.state, message.backlogMs);
      return;
    }
    this.handlers.onMessage(message);
  }

  private setLink(state: LinkState, backlogMs: number): void {
    const changed = state !== this.linkState;
    this.linkState = state;
    this.linkBacklogMs = backlogMs;
    if (changed) this.handlers.onLinkState(state, backlogMs);
  }

  private ping(): number | null {
    const id = this.nextId++;
    return this.send({ type: 'ping', id, time: localNowUs() }) ? id : null;
  }

  private schedulePing(): void {
    const delay = PING_SCHEDULE_MS[this.pingsSent] ?? PING_INTERVAL_MS;
    this.pingTimer = window.setTimeout(() => {
      this.pingsSent++;
      this.ping();
      this.schedulePing();
    }, delay);
  }

  private onClose(ws: WebSocket): void {
    if (ws !== this.ws) return;
    this.ws = null;
    this.session = false;
    clearTimeout(this.pingTimer);
    clearTimeout(this.helloTimer);
    // Nobody will answer these pings now; let their waiters go rather than hang.
    for (const resolve of this.pongWaiters.values()) resolve(false);
    this.pongWaiters.clear();
    if (this.stopped) {
      this.setState('offline', 'disconnected');
      return;
    }
    // Exponential backoff with jitter, so that a restarted server is not hit by every tab at the same instant.
    const delay = backoffDelay(this.attempt, BACKOFF_MIN_MS, BACKOFF_MAX_MS, Math.random, BACKOFF_JITTER);
    this.attempt++;
    // The next node in turn (in a cluster): the one just lost is the likeliest to be down.
    this.urlIndex = (this.urlIndex + 1) % this.urls.length;
    this.setState('offline', `offline, retrying in ${(delay / 1000).toFixed(1)} s`);
    this.retryTimer = window.setTimeout(() => this.open(), delay);
  }

  /**
   * Asks this page's server for the other nodes of its cluster, as places to go on at when it goes away.
   * Same origin only (the page's server has the page's token and no CORS to pass); a server outside a
   * cluster, or an older one, lists none.
   */
  private async learnNodes(): Promise<void> {
    try {
      const res = await fetch('/api/cluster/nodes', {
        headers: this.token ? { authorization: `Bearer ${this.token}` } : {},
      });
      if (!res.ok) return;
      const body = (await res.json()) as { nodes?: { url?: unknown }[] };
      const others = (body.nodes ?? [])
        .map((n) => (typeof n.url === 'string' && /^https?:\/\//.test(n.url) ? socketUrlOf(n.url) : null))
        .filter((u): u is string => u !== null && u !== this.url);
      // Only while on the page's own server: the index stays meaningful.
      if (this.urlIndex === 0) this.urls = [this.url, ...new Set(others)];
    } catch {
      // No list: reconnects stay with the page's server.
    }
  }

  private setState(state: ConnectionState, detail: string): void {
    this.handlers.onState(state, detail);
  }
}
