import { keyframeToJpeg } from '../../media/keyframe-jpeg.js';
import { decodeMessage, type FrameMessage } from '../../protocol/index.js';
import type { Stream } from '../core/stream.js';
import type { Outgoing } from '../core/transport.js';

/** Bounds of snapshot decoding. */
export interface SnapshotLimits {
  /** ffmpeg processes at once, server-wide; a request beyond them is answered 503 at once. */
  maxJobs: number;
  /** An ffmpeg still running after this is killed and the request answered 504. */
  timeoutMs: number;
  /** Default 'ffmpeg' (found on PATH). */
  ffmpegPath?: string;
}

/**
 * Two decodes at once: each is one ffmpeg (~0.2 s of a core to start and decode one frame), and the
 * relay's own work must keep the machine's cores; a snapshot is a preview, not something to queue for.
 * Five seconds is many times a normal decode (tens of ms for 1080p) and short enough for a human to wait.
 */
export const DEFAULT_SNAPSHOT_LIMITS: SnapshotLimits = { maxJobs: 2, timeoutMs: 5000 };

/**
 * Why no JPEG can be made: `no-keyframe` and `busy` are worth retrying in a moment; `no-video` (an
 * audio-only stream) never has a picture.
 */
export type SnapshotUnavailable = 'no-keyframe' | 'busy' | 'no-video';

/**
 * JPEGs of streams' latest keyframes, decoded by ffmpeg only when asked. The JPEG is cached per stream
 * and keyframe (a new keyframe replaces it), so any number of requests between two keyframes cost one
 * ffmpeg; requests that arrive while it runs share it.
 */
export class Snapshots {
  private running = 0;
  /** Keyed weakly by stream: an ended stream's entry goes with it, so the map is bounded by live streams. */
  private readonly cache = new WeakMap<Stream, { keyframe: Outgoing; jpeg: Promise<Uint8Array> }>();

  constructor(private readonly limits: SnapshotLimits = DEFAULT_SNAPSHOT_LIMITS) {}

  /** The JPEG of `stream`'s latest keyframe (rejects with MediaError), or why there is none now. */
  take(stream: Stream): Promise<Uint8Array> | SnapshotUnavailable {
    const video = stream.video;
    if (video === undefined) return 'no-video';
    // The cache starts at the latest video keyframe (its audio follows it).
    const keyframe = stream.gop.snapshot[0];
    if (keyframe === undefined || keyframe.audio) return 'no-keyframe';
    const cached = this.cache.get(stream);
    if (cached?.keyframe === keyframe) return cached.jpeg;
    if (this.running >= this.limits.maxJobs) return 'busy';
    const frame = decodeMessage(keyframe.body) as FrameMessage;
    this.running++;
    const jpeg = keyframeToJpeg(
      video,
      { timestamp: frame.timestamp, data: frame.payload },
      { timeoutMs: this.limits.timeoutMs, ffmpegPath: this.limits.ffmpegPath },
    ).finally(() => {
      this.running--;
    });
    const entry = { keyframe, jpeg };
    this.cache.set(stream, entry);
    // A failure is not kept: the next request tries again (ffmpeg may have been installed meanwhile).
    jpeg.catch(() => {
      if (this.cache.get(stream) === entry) this.cache.delete(stream);
    });
    return jpeg;
  }
}
