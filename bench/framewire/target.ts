import { CLIP_FPS } from '../lib/clip.js';
import type { SubTally } from '../lib/collector.js';
import {
  BENCH_ROOM,
  type LoadContext,
  type LoadTarget,
  type PublisherHandle,
  streamName,
} from '../lib/target.js';
import { FwLink, type FwTransport } from './link.js';

/**
 * Framewire load clients: a publisher per stream, and viewers that read frame headers only. In a
 * conference, each participant is one connection that publishes and watches the room (as the web app does).
 */
export class FramewireTarget implements LoadTarget {
  private readonly publisherLinks: FwLink[] = [];

  constructor(
    private readonly transport: FwTransport,
    private readonly ctx: LoadContext,
  ) {}

  private get port(): number {
    return this.transport === 'tcp' ? this.ctx.endpoints.port : this.ctx.endpoints.httpPort;
  }

  async openPublisher(k: number): Promise<PublisherHandle> {
    const { clip, timeoutMs } = this.ctx;
    const link = await FwLink.connect(this.transport, this.port, 'peer', timeoutMs);
    this.publisherLinks[k] = link;
    const streamId = await link.publish(BENCH_ROOM, streamName(k), clip.config, timeoutMs);
    return {
      output: {
        send: (index, frame) =>
          link.sendFrame(streamId, index, frame.key, Math.round((index * 1e6) / CLIP_FPS), frame.annexB),
        get backlogBytes() {
          return link.backlogBytes;
        },
      },
      close: () => link.close(),
    };
  }

  async openViewer(
    watch: readonly number[],
    peer: number | null,
  ): Promise<{ connections: number; close(): void }> {
    const { collector, pacers, timeoutMs } = this.ctx;
    const own = peer === null ? undefined : this.publisherLinks[peer];
    const link = own ?? (await FwLink.connect(this.transport, this.port, 'viewer', timeoutMs));
    // Map stream ids to tallies as streams are announced; a frame of an unknown stream is not ours.
    const byName = new Map<string, number>(watch.map((k) => [streamName(k), k]));
    const tallies = new Map<number, SubTally>();
    const tallyOf = (streamId: number): SubTally | undefined => {
      let t = tallies.get(streamId);
      if (t === undefined) {
        const k = byName.get(link.streams.get(streamId) ?? '');
        const pacer = k === undefined ? undefined : pacers[k];
        if (!pacer) return undefined;
        t = collector.subscribe(pacer);
        tallies.set(streamId, t);
      }
      return t;
    };
    link.onFrame = (streamId, seq, _key, bytes) => {
      const t = tallyOf(streamId);
      if (t) collector.arrive(t, seq, bytes, performance.now());
    };
    // One stream by name, or the whole room (a wall; a conference participant, minus its own stream).
    const single = watch.length === 1 && peer === null;
    await link.subscribe(BENCH_ROOM, single ? streamName(watch[0] as number) : '', watch.length, timeoutMs);
    for (const id of link.streams.keys()) tallyOf(id);
    return { connections: own ? 0 : 1, close: () => link.close() };
  }
}
