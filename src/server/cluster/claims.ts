import { describeError } from '../core/log.js';
import type { Stream } from '../core/stream.js';
import type { ServerRelay } from '../ops/config.js';
import { type Directory, type DirectoryEntry, directoryKey } from './directory.js';

/** A local stream's claim in the directory: its key, and its revision once the claim succeeded. */
interface Claim {
  key: string;
  revision: number | null;
  ended: boolean;
}

/**
 * The streams published on this node, in the cluster's directory: each is claimed as it opens (a
 * compare-and-set create, so a name lives on one node), updated when its tracks change, withdrawn as it
 * ends, and claimed again after a NATS outage.
 */
export class Claims {
  private readonly claims = new Map<Stream, Claim>();
  /** Set on close: nothing more is claimed or withdrawn one by one (close withdraws all). */
  private closing = false;

  constructor(
    private readonly relay: ServerRelay,
    private readonly directory: Promise<Directory>,
    private readonly self: () => { node: string; advertise: string },
    /** Another node holds `key`: the cluster carries that node's stream in place of the one that lost. */
    private readonly lost: (key: string) => void,
  ) {}

  /** A stream opened here (or was reconfigured): claim its name, or update its tracks, in the directory. */
  opened(stream: Stream, cause: 'opened' | 'reconfigured'): void {
    if (this.closing) return;
    if (cause === 'reconfigured') {
      const claim = this.claims.get(stream);
      if (claim?.revision != null) {
        const revision = claim.revision;
        this.directory
          .then((d) => d.update(this.entryFor(stream), revision))
          .then(
            (next) => {
              claim.revision = next;
            },
            (err: unknown) =>
              this.relay.log.warn('cluster-update-failed', { name: stream.name, error: describeError(err) }),
          );
      }
      return;
    }
    const claim: Claim = { key: directoryKey(stream.room.name, stream.name), revision: null, ended: false };
    this.claims.set(stream, claim);
    this.directory
      .then((d) => d.claim(this.entryFor(stream)))
      .then(
        (revision) => {
          if (revision === null) return this.lostClaim(stream, claim);
          claim.revision = revision;
          // Ended while the claim was on its way: withdraw it now.
          if (claim.ended) void this.directory.then((d) => d.withdraw(claim.key, revision)).catch(() => {});
        },
        (err: unknown) => {
          // NATS is unreachable: the stream goes on here, unknown to the other nodes.
          this.relay.log.warn('cluster-claim-failed', {
            room: stream.room.name,
            name: stream.name,
            error: (err as Error).message,
          });
        },
      );
  }

  /**
   * Another node claimed the name first (both published before either heard of the other): this node's
   * stream ends, its publisher told FW_STREAM_EXISTS as at a refused publish, and the winner's is carried.
   */
  private lostClaim(stream: Stream, claim: Claim): void {
    this.claims.delete(stream);
    if (!claim.ended) {
      const message = `room ${stream.room.name} already has a stream named ${stream.name} (on another node)`;
      stream.publisher.send({ type: 'error', requestId: 0, code: 'FW_STREAM_EXISTS', message });
      this.relay.endStream(stream, 'name-taken');
    }
    this.lost(claim.key);
  }

  /** A stream of this node ended: its entry leaves the directory. */
  ended(stream: Stream): void {
    const claim = this.claims.get(stream);
    if (!claim) return;
    claim.ended = true;
    this.claims.delete(stream);
    if (claim.revision === null || this.closing) return;
    const revision = claim.revision;
    this.directory
      .then((d) => d.withdraw(claim.key, revision))
      .catch((err: unknown) =>
        this.relay.log.warn('cluster-withdraw-failed', { key: claim.key, error: (err as Error).message }),
      );
  }

  /**
   * After an outage, makes sure each stream of this node is in the directory: the other nodes may have
   * taken this node for lost and withdrawn its entries, and a claim made during the outage failed.
   */
  async reclaim(): Promise<void> {
    const directory = await this.directory;
    for (const [stream, claim] of [...this.claims]) {
      if (stream.closed || claim.ended) continue;
      try {
        const now = await directory.get(claim.key);
        if (now && now.entry.node === this.self().node && now.entry.streamId === stream.id) {
          claim.revision = now.revision;
          continue;
        }
        const revision = await directory.claim(this.entryFor(stream));
        if (revision === null) this.lostClaim(stream, claim);
        else claim.revision = revision;
      } catch (err) {
        this.relay.log.warn('cluster-claim-failed', { key: claim.key, error: (err as Error).message });
      }
    }
  }

  /** Withdraws every entry of this node (a graceful leave); no claim is made after it. */
  async close(): Promise<void> {
    this.closing = true;
    const directory = await this.directory;
    await Promise.all(
      [...this.claims.values()]
        .filter((c) => c.revision !== null)
        .map((c) => directory.withdraw(c.key, c.revision as number).catch(() => false)),
    );
  }

  /** The directory entry of `stream`, a stream of this node. */
  private entryFor(stream: Stream): DirectoryEntry {
    return {
      room: stream.room.name,
      name: stream.name,
      ...this.self(),
      streamId: stream.id,
      tracks: stream.tracks,
    };
  }
}
