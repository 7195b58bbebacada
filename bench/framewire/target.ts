import { AUDIO_FRAME_MS } from '../lib/audio-clip.js';
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
    const { clip, audio, timeoutMs } = this.ctx;
    const link = await FwLink.connect(this.transport, this.port, 'peer', timeoutMs);
    this.publisherLinks[k] = link;
    const tracks = audio ? { video: clip.config, audio: audio.config } : { video: clip.config };
    const streamId = await link.publish(BENCH_ROOM, streamName(k), tracks, timeoutMs);
    const handle: PublisherHandle = {
      output: {
        send: (index, frame) =>
          link.sendFrame(streamId, index, frame.key, Math.round((index * 1e6) / clip.fps), frame.annexB),
        get backlogBytes() {
          return link.backlogBytes;
        },
      },
      close: () => link.close(),
    };
    if (audio) {
      // Audio goes on the same connection as the video, as the web app and the client library send it.
      handle.audio = {
        send: (index, frame) =>
          link.sendAudio(streamId, index, index * AUDIO_FRAME_MS * 1000, frame.level, frame.data),
        get backlogBytes() {
          return link.backlogBytes;
        },
      };
    }
    return handle;
  }

  async openViewer(
    watch: readonly number[],
    peer: number | null,
  ): Promise<{ connections: number; close(): void }> {
    const { collector, pacers, audioPacers, timeoutMs } = this.ctx;
    const own = peer === null ? undefined : this.publisherLinks[peer];
    const link = own ?? (await FwLink.connect(this.transport, this.port, 'viewer', timeoutMs));
    // Map stream ids to tallies as streams are announced; a frame of an unknown stream is not ours.
    const byName = new Map<string, number>(watch.map((k) => [streamName(k), k]));
    const tallies = new Map<number, SubTally>();
    const tallyOf = (streamId: number): SubTally | undefined => {
      let t = tallies.get(streamId);
      if (t === undefined) {
        const k = byName.get(link.streams.get(streamId) ?? '');
        if (k === undefined) return undefined;
        const pacer = pacers[k];
        if (!pacer) return undefined;
        t = collector.subscribe(pacer, audioPacers[k] ?? null);
        tallies.set(streamId, t);
      }
      return t;
    };
    // Video frames feed the latency and fps tallies by seq as before; audio frames are counted apart.
    link.onFrame = (streamId, seq, _key, bytes, audio) => {
      const t = tallyOf(streamId);
      if (!t) return;
      if (audio) collector.arriveAudio(t, seq, bytes, performance.now());
      else collector.arrive(t, seq, bytes, performance.now());
    };
    // One stream by name, or the whole room (a wall; a conference participant, minus its own stream).
    const single = watch.length === 1 && peer === null;
    await link.subscribe(BENCH_ROOM, single ? streamName(watch[0] as number) : '', watch.length, timeoutMs);
    for (const id of link.streams.keys()) tallyOf(id);
    return { connections: own ? 0 : 1, close: () => link.close() };
  }
}
