import type { Message, StreamTracks } from '../../protocol/index.js';
import type { Refusal } from '../core/relay.js';
import type { Publisher, Stream } from '../core/stream.js';
import { outgoingFramed } from '../core/transport.js';
import type { ServerRelay } from '../ops/config.js';
import type { ClusterSettings } from './config.js';
import { parseLinkAddress } from './config.js';
import type { DirectoryEntry } from './directory.js';
import { NodeLink, STREAM_ID_OFFSET } from './node-link.js';

/** A link that failed while the stream still has viewers is dialled again after this long. */
const REDIAL_MS = 1000;

/**
 * The publisher of a stream whose origin is another node: the local relay sees an ordinary publisher, so
 * the stream has its own GOP cache, viewer limits and drop policy here. It hears of keyframe requests
 * (passed upstream) and of viewers coming and going (which start and stop the pull).
 */
export class RemotePublisher implements Publisher {
  readonly published = new Map<number, Stream>();

  constructor(
    readonly origin: string,
    private readonly onKeyframeRequest: () => void,
    private readonly onViewers: (stream: Stream) => void,
  ) {}

  send(message: Message): void {
    if (message.type === 'keyframe-request') this.onKeyframeRequest();
  }

  viewersChanged(stream: Stream): void {
    this.onViewers(stream);
  }
}

/**
 * A stream of another node, as this node carries it: a local stream fed by a {@link RemotePublisher}, and
 * the pull that feeds it. The stream exists as long as the directory lists it (room subscribers here see
 * it at once, with its tracks); the pull, one {@link NodeLink} whatever the number of viewers, runs only
 * while the stream has viewers here, and ends `lingerMs` after the last one leaves.
 */
export class RemoteStream {
  readonly publisher: RemotePublisher;
  private link: NodeLink | null = null;
  /** True from the first viewer until the linger after the last one has passed. */
  private pulling = false;
  private linger: NodeJS.Timeout | undefined;
  private redial: NodeJS.Timeout | undefined;
  private ended = false;
  /** Pulls started over this stream's life (a test and the API read it). */
  pulls = 0;

  constructor(
    private readonly relay: ServerRelay,
    readonly key: string,
    readonly entry: DirectoryEntry,
    /** The entry's revision in the directory (a lost node's entries are withdrawn at this revision). */
    readonly revision: number,
    private readonly settings: ClusterSettings,
    /** The hello token for a link: empty in open mode, a view-everything token with a secret. */
    private readonly linkToken: () => Promise<string>,
    /** Called as the pull starts or stops, so the cluster can count links. */
    private readonly onPullChange: () => void,
  ) {
    this.publisher = new RemotePublisher(
      entry.node,
      () => this.link?.requestKeyframe(),
      (stream) => this.viewersChanged(stream),
    );
  }

  /** The local stream, once open and until it ends. */
  get stream(): Stream | undefined {
    for (const s of this.publisher.published.values()) return s;
    return undefined;
  }

  /** Whether a link is up now. */
  get linked(): boolean {
    return this.link !== null;
  }

  /** What the current link received: frames, bytes, frames missed, the last frame's age (ms). */
  get linkCounters(): {
    framesIn: number;
    bytesIn: number;
    framesMissed: number;
    ageMs: number | null;
  } | null {
    const l = this.link;
    return l
      ? { framesIn: l.framesIn, bytesIn: l.bytesIn, framesMissed: l.framesMissed, ageMs: l.lastAgeMs }
      : null;
  }

  /** Opens the local stream (its room's subscribers here start on it, which starts the pull). */
  open(): Stream | Refusal {
    const { room, name, tracks } = this.entry;
    return this.relay.openStream(this.publisher, room, name, tracks);
  }

  /** Takes new tracks from the directory when no link is up to tell them (with a link, the link does). */
  retrack(tracks: StreamTracks): void {
    if (this.link === null) this.applyTracks(tracks);
  }

  /** Ends the local stream (its viewers are told `reason`) and the pull; safe to call again. */
  end(reason: string): void {
    if (this.ended) return;
    this.ended = true;
    this.stopPull();
    const stream = this.stream;
    if (stream) this.relay.endStream(stream, reason);
  }

  private viewersChanged(stream: Stream): void {
    if (this.ended || stream.closed) return;
    if (stream.viewerCount > 0) {
      clearTimeout(this.linger);
      this.linger = undefined;
      if (!this.pulling) this.startPull();
    } else if (this.pulling && this.linger === undefined) {
      this.linger = setTimeout(() => this.stopPull(), this.settings.lingerMs);
      this.linger.unref();
    }
  }

  private startPull(): void {
    this.pulling = true;
    this.pulls++;
    this.dial();
  }

  private dial(): void {
    this.redial = undefined;
    this.linkToken().then(
      (token) => {
        if (!this.pulling || this.ended || this.link) return;
        const { host, port, tls } = parseLinkAddress(this.entry.advertise);
        const { room, name, node } = this.entry;
        const at = { host, port, tls: tls ? { ca: this.settings.linkCa } : null };
        this.link = new NodeLink(at, room, name, token, this.relay.config.maxMessageBytes, {
          added: (tracks) => this.applyTracks(tracks),
          frame: (framed, key, audio) => this.frame(framed, key, audio),
          removed: (reason) => this.end(reason),
          closed: (error) => this.linkClosed(error),
        });
        this.relay.log.info('cluster-pull-start', {
          room,
          name,
          origin: node,
          advertise: this.entry.advertise,
        });
        this.onPullChange();
      },
      (err: unknown) => this.linkClosed(String(err)),
    );
  }

  private frame(framed: Uint8Array, key: boolean, audio: boolean): void {
    const stream = this.stream;
    if (!stream) return;
    // The origin's stream id is not ours: the same bytes go on with this node's id in their place.
    new DataView(framed.buffer, framed.byteOffset).setUint32(STREAM_ID_OFFSET, stream.id);
    stream.relay(outgoingFramed(framed, audio), key, performance.now());
  }

  private applyTracks(tracks: StreamTracks): void {
    const stream = this.stream;
    if (!stream || sameTracks(stream.tracks, tracks)) return;
    this.relay.updateStream(stream, tracks);
  }

  private linkClosed(error: string | null): void {
    this.link = null;
    this.onPullChange();
    if (!this.pulling || this.ended) return;
    const { room, name, node } = this.entry;
    this.relay.log.warn('cluster-link-lost', { room, name, origin: node, error: error ?? undefined });
    // The origin may be restarting its listener or briefly overloaded; a lost node ends us via presence.
    this.redial = setTimeout(() => this.dial(), REDIAL_MS);
    this.redial.unref();
  }

  private stopPull(): void {
    const was = this.link !== null;
    this.pulling = false;
    clearTimeout(this.linger);
    clearTimeout(this.redial);
    this.linger = undefined;
    this.redial = undefined;
    this.link?.close();
    this.link = null;
    // The cached GOP is from before the gap: a viewer who comes later must not start on it.
    this.stream?.gop.clear();
    if (was) {
      this.relay.log.info('cluster-pull-stop', { room: this.entry.room, name: this.entry.name });
      this.onPullChange();
    }
  }
}

/** Whether two track sets are the same (decoder descriptions compared byte by byte). */
function sameTracks(a: StreamTracks, b: StreamTracks): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}
