import type { KV } from '@nats-io/kv';

/** Name of the JetStream KV bucket where each node renews its presence. */
export const PRESENCE_BUCKET = 'framewire-nodes';

/** What a node says of itself in the presence bucket. */
export interface NodeInfo {
  name: string;
  /** `host:port` where it takes node links. */
  advertise: string;
  /** Where browsers reach its HTTP port (`https://m1.example:7480`), so pages can move to it; null if unknown. */
  url?: string | null;
  startedAt: number;
}

/** A node as this one knows it: what it said, and when it was last heard (Date.now()). */
export interface KnownNode extends NodeInfo {
  lastSeen: number;
}

/**
 * Node presence: this node puts its key every heartbeat; every node watches the bucket and declares a node
 * lost when it has not been heard for the timeout (a deleted key, a graceful leave, is lost at once). The
 * bucket's TTL removes a dead node's key from the store too, but NATS does not tell watchers when a key
 * ages out, which is why lost nodes are found by silence, not by the TTL.
 */
export class Presence {
  readonly nodes = new Map<string, KnownNode>();
  private beat: NodeJS.Timeout | undefined;
  private sweep: NodeJS.Timeout | undefined;
  private stopWatch: () => void = () => {};
  /** A heartbeat is on its way: the next waits for it (NATS down, puts time out slower than they come). */
  private beating = false;

  constructor(
    private readonly kv: KV,
    private readonly self: NodeInfo,
    private readonly heartbeatMs: number,
    private readonly timeoutMs: number,
    /** Called once per node as it is found lost. */
    private readonly onLost: (node: string) => void,
    /** Called when a heartbeat fails (NATS unreachable) and again when one succeeds after that. */
    private readonly onBeat: (ok: boolean, error?: unknown) => void,
    /**
     * Whether this node hears NATS now. While it does not, silence means nothing (it is this node that
     * is cut off), so nobody is declared lost, and everyone gets a fresh timeout when it hears again.
     */
    private readonly hearing: () => boolean,
  ) {}

  /** Announces this node, starts the heartbeat and the watch. */
  async start(): Promise<void> {
    await this.put();
    const iter = await this.kv.watch();
    this.stopWatch = () => iter.stop();
    (async () => {
      for await (const e of iter) {
        if (e.key === this.self.name) continue;
        if (e.operation !== 'PUT') {
          if (this.nodes.delete(e.key)) this.onLost(e.key);
          continue;
        }
        try {
          const info = e.json<NodeInfo>();
          this.nodes.set(e.key, { ...info, name: e.key, lastSeen: Date.now() });
        } catch {
          // Not a node's value: ignore it (a bucket shared by mistake).
        }
      }
    })().catch(() => {});
    this.beat = setInterval(() => {
      if (this.beating) return;
      this.beating = true;
      this.put().then(
        () => {
          this.beating = false;
          this.onBeat(true);
        },
        (err: unknown) => {
          this.beating = false;
          this.onBeat(false, err);
        },
      );
    }, this.heartbeatMs);
    this.beat.unref();
    this.sweep = setInterval(() => this.findLost(), Math.max(50, this.heartbeatMs / 4));
    this.sweep.unref();
  }

  /** A node named in the directory but never heard from (it died before we started) gets one timeout to show. */
  expect(node: string): void {
    if (node === this.self.name || this.nodes.has(node)) return;
    this.nodes.set(node, { name: node, advertise: '', url: null, startedAt: 0, lastSeen: Date.now() });
  }

  /** Declares lost each node silent past the timeout. */
  private findLost(now = Date.now()): void {
    if (!this.hearing()) {
      for (const node of this.nodes.values()) node.lastSeen = now;
      return;
    }
    for (const [name, node] of this.nodes) {
      if (now - node.lastSeen <= this.timeoutMs) continue;
      this.nodes.delete(name);
      this.onLost(name);
    }
  }

  private async put(): Promise<void> {
    await this.kv.put(this.self.name, JSON.stringify(this.self));
  }

  /** Sets where browsers reach this node (said from the next heartbeat on). */
  setUrl(url: string | null): void {
    this.self.url = url;
  }

  /** Stops beating and watching; with `leave`, deletes this node's key so the others see it go at once. */
  async stop(leave: boolean): Promise<void> {
    clearInterval(this.beat);
    clearInterval(this.sweep);
    this.stopWatch();
    if (leave) await this.kv.delete(this.self.name).catch(() => {});
  }
}
