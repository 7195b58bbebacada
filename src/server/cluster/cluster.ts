import { type KV, Kvm } from '@nats-io/kv';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { SERVER_AGENT } from '../core/session.js';
import { Stream } from '../core/stream.js';
import { mintToken } from '../ops/auth.js';
import type { ServerRelay } from '../ops/config.js';
import { Claims } from './claims.js';
import { type ClusterConfig, ClusterError, type ClusterSettings, clusterSettings } from './config.js';
import { DIRECTORY_BUCKET, Directory, type DirectoryChange, type DirectoryEntry } from './directory.js';
import { PRESENCE_BUCKET, Presence } from './presence.js';
import { RemotePublisher, RemoteStream } from './remote-stream.js';

/** How long a link token lives; one is minted per dial, so this only bounds a leaked one. */
const LINK_TOKEN_TTL_SEC = 3600;

/** The cluster as /api/cluster shows it and tests read it. */
export interface ClusterStats {
  node: string;
  advertise: string;
  /** The other nodes this one hears, with how long ago (ms), and where browsers reach them. */
  nodes: { name: string; advertise: string; url: string | null; silentMs: number }[];
  /** Streams of other nodes carried here, and whether each is being pulled now. */
  remote: {
    room: string;
    name: string;
    origin: string;
    linked: boolean;
    framesIn: number;
    bytesIn: number;
    /** Frames the origin skipped on the link (it fell behind), by sequence gaps. */
    framesMissed: number;
    /** Ms from the last frame's capture to its arrival here (publisher's and this node's clocks). */
    ageMs: number | null;
  }[];
  /** Links up now: one per pulled stream. */
  links: number;
}

/**
 * This node's membership of a cluster: it publishes the streams opened here in the directory (claiming
 * their names cluster-wide), carries the other nodes' streams as local streams fed by pulls, renews its
 * presence and ends the streams of nodes it stops hearing. Coordination goes through NATS (JetStream KV);
 * media goes node to node over our own protocol.
 */
export class Cluster {
  private settings!: ClusterSettings;
  private nc: NatsConnection | null = null;
  private directory!: Directory;
  private presence!: Presence;
  private stopWatch: () => void = () => {};
  private readonly claims: Claims;
  private readonly remote = new Map<string, RemoteStream>();
  /** The directory as last seen: key → entry and revision. */
  private readonly entries = new Map<string, { entry: DirectoryEntry; revision: number }>();
  private readyResolve: (directory: Directory) => void = () => {};
  /** The directory once joined: claims of streams opened before that wait for it. */
  private readonly ready = new Promise<Directory>((resolve) => {
    this.readyResolve = resolve;
  });
  private natsDown = false;
  private publicUrl: string | null = null;
  private closing = false;
  private links = 0;

  /** Hooks onto `relay` at once, so no stream opened before {@link start} goes unclaimed. */
  constructor(
    private readonly relay: ServerRelay,
    private readonly config: ClusterConfig,
  ) {
    this.claims = new Claims(
      relay,
      this.ready,
      () => ({ node: this.settings.nodeName, advertise: this.linkAddress() }),
      (key) => this.syncRemote(key),
    );
    // Copies of other nodes' streams are the directory's already: only this node's own are claimed.
    relay.streamListeners.add((stream, cause) => {
      if (!(stream.publisher instanceof RemotePublisher) && !this.closing) this.claims.opened(stream, cause);
    });
    relay.endListeners.add((stream) => {
      if (!(stream.publisher instanceof RemotePublisher)) this.claims.ended(stream);
    });
  }

  /**
   * Where other nodes dial this one, as the directory says it: with `tls://` when the advertised port is
   * the protocol port and it speaks TLS (a worker's own link port is plain, on loopback).
   */
  private linkAddress(): string {
    const tls = this.relay.config.tlsCert !== null && this.config.peerListen === undefined;
    return `${tls ? 'tls://' : ''}${this.settings.advertise}`;
  }

  /** Where other nodes dial this one (`host:port`), after {@link start}. */
  get advertise(): string {
    return this.settings.advertise;
  }

  /** Where browsers reach every node this one hears, itself first (pages move to another when theirs goes). */
  nodeUrls(): { name: string; url: string }[] {
    const all = [{ name: this.settings.nodeName, url: this.publicUrl }, ...this.presence.nodes.values()];
    return all.flatMap((n) => (n.url ? [{ name: n.name, url: n.url }] : []));
  }

  /** Sets where browsers reach this node, once its HTTP port listens (see ClusterConfig.publicUrl). */
  setPublicUrl(url: string): void {
    this.publicUrl = this.config.publicUrl ?? url;
    this.presence.setUrl(this.publicUrl);
  }

  /** This node's name (after {@link start}). */
  get nodeName(): string {
    return this.settings.nodeName;
  }

  /**
   * Connects to NATS, opens (or creates) the buckets, announces this node and reads the directory.
   * `listening` is the TCP listen address, the default of `advertise`. Rejects when NATS cannot be reached.
   */
  async start(listening: string): Promise<void> {
    this.settings = clusterSettings(this.config, listening);
    const { servers, nodeName, advertise } = this.settings;
    // Clients can tell which node took them (a worker of `serve --workers`, a node behind a balancer).
    this.relay.agent = `${SERVER_AGENT} (node ${nodeName})`;
    try {
      const { natsAuth, natsCaFile } = this.config;
      this.nc = await connect({
        servers,
        name: `framewire ${nodeName}`,
        maxReconnectAttempts: -1,
        ...natsAuth,
        ...(natsCaFile === undefined ? {} : { tls: { caFile: natsCaFile } }),
      });
    } catch (err) {
      const message = (err as Error).message;
      const hint = /authori[sz]ation/i.test(message)
        ? 'NATS refused the credentials: set FRAMEWIRE_NATS_USER and FRAMEWIRE_NATS_PASSWORD, or FRAMEWIRE_NATS_TOKEN'
        : 'is nats-server running, with -js?';
      throw new ClusterError(
        'FW_CLUSTER_UNREACHABLE',
        `cannot reach NATS at ${servers.join(', ')}: ${message} (${hint})`,
      );
    }
    this.followStatus(this.nc);
    try {
      await this.join(new Kvm(this.nc));
    } catch (err) {
      if (err instanceof ClusterError) throw err;
      throw new ClusterError(
        'FW_CLUSTER_UNREACHABLE',
        `NATS at ${servers.join(', ')} has no usable JetStream: start nats-server with -js (${(err as Error).message})`,
      );
    }
    this.relay.log.info('cluster-join', { node: nodeName, advertise, nats: servers.join(',') });
    this.readyResolve(this.directory);
  }

  /** Opens (or creates) both buckets, announces this node and reads the directory. */
  private async join(kvm: Kvm): Promise<void> {
    const { nodeName, advertise, heartbeatMs, nodeTimeoutMs } = this.settings;
    const dirKv = await openBucket(kvm, DIRECTORY_BUCKET, { history: 1 });
    // The TTL only clears a dead node's key from the store; loss is found by silence (see Presence).
    const presKv = await openBucket(kvm, PRESENCE_BUCKET, {
      history: 1,
      ttl: Math.max(nodeTimeoutMs * 2, 5000),
    });
    this.directory = new Directory(dirKv);
    this.presence = new Presence(
      presKv,
      { name: nodeName, advertise, url: null, startedAt: Date.now() },
      heartbeatMs,
      nodeTimeoutMs,
      (node) => this.nodeLost(node),
      (ok, error) => this.natsState(ok, error),
      () => !this.natsDown,
    );
    await this.presence.start();
    this.stopWatch = await this.directory.watch((change) => this.directoryChanged(change));
  }

  /** Nodes, remote streams and links, for /api/cluster and tests. */
  stats(): ClusterStats {
    const now = Date.now();
    return {
      node: this.settings.nodeName,
      advertise: this.settings.advertise,
      nodes: [...this.presence.nodes.values()].map((n) => ({
        name: n.name,
        advertise: n.advertise,
        url: n.url ?? null,
        silentMs: now - n.lastSeen,
      })),
      remote: [...this.remote.values()].map((r) => ({
        room: r.entry.room,
        name: r.entry.name,
        origin: r.entry.node,
        linked: r.linked,
        framesIn: r.linkCounters?.framesIn ?? 0,
        bytesIn: r.linkCounters?.bytesIn ?? 0,
        framesMissed: r.linkCounters?.framesMissed ?? 0,
        ageMs: r.linkCounters?.ageMs ?? null,
      })),
      links: this.links,
    };
  }

  /**
   * Leaves the cluster: this node's streams leave the directory, the others' streams carried here end,
   * presence is withdrawn and the NATS connection drained.
   */
  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    this.stopWatch();
    for (const r of this.remote.values()) r.end('shutdown');
    this.remote.clear();
    if (this.nc === null) return;
    // Only once joined: before that nothing was claimed, and the directory never comes.
    const claimed = this.directory ? this.claims.close() : Promise.resolve();
    await Promise.all([claimed, this.presence?.stop(true)]);
    await this.nc.drain().catch(() => {});
  }

  private directoryChanged(change: DirectoryChange): void {
    if (this.closing) return;
    if (change.op === 'del') {
      this.entries.delete(change.key);
      const r = this.remote.get(change.key);
      if (r && r.revision <= change.revision) {
        this.remote.delete(change.key);
        r.end('unpublished');
      }
      return;
    }
    this.entries.set(change.key, { entry: change.entry, revision: change.revision });
    if (change.entry.node !== this.settings.nodeName) this.presence.expect(change.entry.node);
    this.syncRemote(change.key);
  }

  /** Makes the local copy of directory entry `key` match the directory (open, replace or retrack it). */
  private syncRemote(key: string): void {
    const known = this.entries.get(key);
    const current = this.remote.get(key);
    if (current && known && sameOrigin(current.entry, known.entry)) {
      current.retrack(known.entry.tracks);
      return;
    }
    if (current) {
      this.remote.delete(key);
      current.end('unpublished');
    }
    if (!known || known.entry.node === this.settings.nodeName) return;
    const r = new RemoteStream(
      this.relay,
      key,
      known.entry,
      known.revision,
      this.settings,
      () => this.linkToken(),
      () => this.countLinks(),
    );
    // Set first: opening starts the room's subscribers here, which may start the pull at once.
    this.remote.set(key, r);
    const opened = r.open();
    if (!(opened instanceof Stream)) {
      // A local stream of that name is waiting for its claim, which will fail: lostClaim syncs again.
      this.remote.delete(key);
      if (opened.code !== 'FW_STREAM_EXISTS')
        this.relay.log.warn('cluster-remote-refused', { key, code: opened.code, error: opened.message });
    }
  }

  /** A node went silent (or left): its streams end here and leave the directory. */
  private nodeLost(node: string): void {
    if (this.closing || this.natsDown) return;
    this.relay.log.warn('cluster-node-lost', { node });
    for (const [key, r] of [...this.remote]) {
      if (r.entry.node !== node) continue;
      this.remote.delete(key);
      r.end('node-lost');
    }
    // Every surviving node tries; the compare-and-set lets one withdraw each entry and the rest fail quietly.
    for (const [key, { entry, revision }] of this.entries) {
      if (entry.node === node) void this.directory.withdraw(key, revision).catch(() => false);
    }
  }

  /** Follows the NATS connection: down on a disconnect, back (and reclaiming) on a reconnect. */
  private followStatus(nc: NatsConnection): void {
    (async () => {
      for await (const s of nc.status()) {
        if (s.type === 'disconnect') this.natsState(false, 'disconnected');
        else if (s.type === 'reconnect') this.natsState(true);
      }
    })().catch(() => {});
  }

  /** Logs NATS going and coming back, once each; on its return, claims again what this node publishes. */
  private natsState(ok: boolean, error?: unknown): void {
    if (ok === !this.natsDown || this.closing) return;
    this.natsDown = !ok;
    if (!ok) {
      this.relay.log.warn('cluster-nats-down', {
        error: error instanceof Error ? error.message : String(error),
        hint: 'local streams go on; new streams stay local until NATS is back',
      });
      return;
    }
    this.relay.log.info('cluster-nats-back', {});
    void this.claims.reclaim();
  }

  private linkToken(): Promise<string> {
    const { secret } = this.relay.config;
    if (secret === null) return Promise.resolve('');
    // A node pulls any room's streams, to view only: a leaked link token cannot publish.
    return mintToken(secret, {
      room: '',
      prefix: true,
      publish: false,
      view: true,
      ttlSec: LINK_TOKEN_TTL_SEC,
    });
  }

  private countLinks(): void {
    let n = 0;
    for (const r of this.remote.values()) if (r.linked) n++;
    this.links = n;
  }
}

/** Whether two entries are the same stream of the same origin (a re-publish gets a new stream id). */
function sameOrigin(a: DirectoryEntry, b: DirectoryEntry): boolean {
  return a.node === b.node && a.streamId === b.streamId;
}

/** Opens KV bucket `name`, creating it with `opts` when it does not exist yet. */
async function openBucket(kvm: Kvm, name: string, opts: { history: number; ttl?: number }): Promise<KV> {
  try {
    return await kvm.create(name, opts);
  } catch {
    // Created already by a node with other settings: use it as it is.
    return kvm.open(name);
  }
}
