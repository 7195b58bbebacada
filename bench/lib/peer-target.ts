import { HttpFlvPlayer, RtmpPlayer, RtmpPublisher } from '../peers/index.js';
import type { Collector, SubTally } from './collector.js';
import { indexOf } from './pacing.js';
import {
  type LoadContext,
  type LoadTarget,
  type PublisherHandle,
  streamName,
  type TargetName,
} from './target.js';

/**
 * Load clients for the peers: RTMP publishers for both; RTMP players for nginx-rtmp, HTTP-FLV players
 * for node-media-server. A frame is identified by its timestamp in ms (unique per frame up to 1000 fps).
 */
export class PeerTarget implements LoadTarget {
  constructor(
    private readonly target: TargetName,
    private readonly ctx: LoadContext,
  ) {}

  async openPublisher(k: number): Promise<PublisherHandle> {
    const pub = await RtmpPublisher.connect(
      `rtmp://127.0.0.1:${this.ctx.endpoints.port}/live/${streamName(k)}`,
    );
    pub.sendVideo(this.ctx.clip.sequenceHeader, 0);
    return {
      output: {
        send: (_index, frame, timestampMs) => pub.sendVideo(frame.flvBody, timestampMs),
        get backlogBytes() {
          return pub.bufferedBytes;
        },
      },
      close: () => pub.close(),
    };
  }

  async openViewer(watch: readonly number[]): Promise<{ connections: number; close(): void }> {
    const { collector, pacers, endpoints } = this.ctx;
    // RTMP and HTTP-FLV carry one stream per connection: a viewer of several streams opens several.
    const players = await Promise.all(
      watch.map((k) => {
        const pacer = pacers[k];
        if (!pacer) throw new Error(`stream ${k} has no publisher`);
        const onVideo = videoHandler(collector, collector.subscribe(pacer), this.ctx.clip.fps);
        return this.target === 'nginx-rtmp'
          ? RtmpPlayer.connect(`rtmp://127.0.0.1:${endpoints.port}/live/${streamName(k)}`, onVideo)
          : HttpFlvPlayer.connect(
              `http://127.0.0.1:${endpoints.httpPort}/live/${streamName(k)}.flv`,
              onVideo,
            );
      }),
    );
    return {
      connections: players.length,
      close: () => {
        for (const p of players) p.close();
      },
    };
  }
}

/** Counts one player's frames; the AVC sequence header (AVCPacketType 0) is not a frame. */
function videoHandler(collector: Collector, tally: SubTally, fps: number) {
  return (timestampMs: number, bytes: number, body: Uint8Array): void => {
    if (body[1] === 0) return;
    collector.arrive(tally, indexOf(timestampMs, fps), bytes, performance.now());
  };
}
