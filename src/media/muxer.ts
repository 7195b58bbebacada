import {
  EncodedPacket,
  EncodedVideoPacketSource,
  FilePathTarget,
  MkvOutputFormat,
  Mp4OutputFormat,
  Output,
  type OutputFormat,
  type Target,
  type VideoCodec,
  WebMOutputFormat,
} from 'mediabunny';
import type { DecoderConfig } from '../protocol/messages.js';
import { MediaError } from './errors.js';

/** Containers we write; each is also the file extension (without the dot). */
export type Container = 'webm' | 'mkv' | 'mp4';

/** One encoded frame as the muxer takes it: timestamps in microseconds, any origin. */
export interface MuxFrame {
  key: boolean;
  timestamp: number;
  data: Uint8Array;
}

/** A container being written from relayed frames. */
export interface FrameMuxer {
  /** Adds a frame in decode order; deltas before the first keyframe are dropped. */
  add(frame: MuxFrame): Promise<void>;
  /** Writes what is pending and the index; false (and nothing finalised) when no keyframe ever came. */
  finish(): Promise<boolean>;
  /** Stops writing and discards what was not yet written. */
  cancel(): Promise<void>;
}

/** The mediabunny codec for a WebCodecs codec string, or null when we cannot mux it. */
function mediabunnyCodec(codec: string): VideoCodec | null {
  if (codec === 'vp8') return 'vp8';
  if (codec.startsWith('vp09.') || codec === 'vp9') return 'vp9';
  if (codec.startsWith('av01.')) return 'av1';
  if (codec.startsWith('avc1.') || codec.startsWith('avc3.')) return 'avc';
  return null;
}

/**
 * What each container holds. WebM holds only VP8/VP9/AV1 (its spec says so, and mediabunny enforces
 * it). MP4 holds all four; mediabunny converts Annex B H.264 to AVCC itself, taking SPS/PPS from the first
 * keyframe. MKV is limited to VP8/VP9/AV1: mediabunny's Matroska muxer does not convert Annex B H.264, so
 * such a file would lack its CodecPrivate.
 */
export const CONTAINER_CODECS: Record<Container, readonly VideoCodec[]> = {
  webm: ['vp8', 'vp9', 'av1'],
  mkv: ['vp8', 'vp9', 'av1'],
  mp4: ['avc', 'vp8', 'vp9', 'av1'],
};

/** Whether `container` can hold `codec` (a WebCodecs codec string). */
export function canHold(container: Container, codec: string): boolean {
  const c = mediabunnyCodec(codec);
  return c !== null && CONTAINER_CODECS[container].includes(c);
}

/** The container a stream of `codec` is best kept in: WebM for VP8/VP9/AV1, MP4 for H.264. */
export function preferredContainer(codec: string): Container | null {
  const c = mediabunnyCodec(codec);
  if (c === null) return null;
  return c === 'avc' ? 'mp4' : 'webm';
}

/**
 * The mediabunny format for `container`. Live output never seeks back: WebM is written append-only
 * (a block per frame, at once); MP4 is fragmented, and since a fragment must start on a keyframe and is
 * written when the next begins, live MP4 runs about one keyframe interval behind. Files are fragmented
 * too, and every keyframe starts a new MP4 fragment or Matroska cluster (no minimum duration), so a file
 * cut short by a crash plays up to its last keyframe: at most one keyframe interval is lost.
 */
function outputFormat(container: Container, live: boolean): OutputFormat {
  switch (container) {
    case 'webm':
      return new WebMOutputFormat({ appendOnly: live, minimumClusterDuration: 0 });
    case 'mkv':
      return new MkvOutputFormat({ appendOnly: live, minimumClusterDuration: 0 });
    case 'mp4':
      return new Mp4OutputFormat({ fastStart: 'fragmented', minimumFragmentDuration: 0 });
  }
}

/**
 * Starts muxing frames into the file at `path`. mediabunny's FilePathTarget gathers 16 MiB before its
 * first write (two minutes of a 1 Mbit/s stream, all lost to a crash); unchunked, each fragment or
 * cluster reaches the file as it is muxed.
 */
export function createFileMuxer(
  path: string,
  container: Container,
  config: DecoderConfig,
): Promise<FrameMuxer> {
  return createMuxer(container, config, new FilePathTarget(path, { chunked: false }));
}

/**
 * Starts muxing frames described by `config` into `container` on `target`. `live`: the target cannot
 * seek (an HTTP response), so the format is written strictly in order. Throws MediaError
 * FW_UNSUPPORTED_CODEC when the container cannot hold the codec.
 */
export async function createMuxer(
  container: Container,
  config: DecoderConfig,
  target: Target,
  live = false,
): Promise<FrameMuxer> {
  const codec = mediabunnyCodec(config.codec);
  if (codec === null || !canHold(container, config.codec)) {
    const hint = codec === 'avc' ? ': use .mp4 for H.264' : '';
    throw new MediaError('FW_UNSUPPORTED_CODEC', `cannot put ${config.codec} into .${container}${hint}`);
  }
  const output = new Output({ format: outputFormat(container, live), target });
  const source = new EncodedVideoPacketSource(codec);
  output.addVideoTrack(source);
  await output.start();
  return new MediabunnyMuxer(output, source, config);
}

class MediabunnyMuxer implements FrameMuxer {
  /** Timestamp of the first keyframe, µs: subtracted so the output starts at 0. */
  private origin: number | null = null;
  private lastTimestamp = -1;
  private closed = false;

  constructor(
    private readonly output: Output,
    private readonly source: EncodedVideoPacketSource,
    private readonly config: DecoderConfig,
  ) {}

  async add(frame: MuxFrame): Promise<void> {
    if (this.closed) return;
    // A container must start with a keyframe: nothing before it can be decoded.
    if (this.origin === null) {
      if (!frame.key) return;
      this.origin = frame.timestamp;
    }
    // Muxers reject time going backwards (a publisher restart, a looping file); nudge forward instead.
    let micros = frame.timestamp - this.origin;
    if (micros <= this.lastTimestamp) micros = this.lastTimestamp + 1;
    const first = this.lastTimestamp < 0;
    this.lastTimestamp = micros;
    const packet = new EncodedPacket(frame.data, frame.key ? 'key' : 'delta', micros / 1e6, 0);
    if (first) {
      const decoderConfig: VideoDecoderConfigLike = {
        codec: this.config.codec,
        codedWidth: this.config.codedWidth,
        codedHeight: this.config.codedHeight,
      };
      if (this.config.description) decoderConfig.description = this.config.description;
      await this.source.add(packet, { decoderConfig });
    } else {
      await this.source.add(packet);
    }
  }

  async finish(): Promise<boolean> {
    if (this.closed) return this.origin !== null;
    this.closed = true;
    if (this.origin === null) {
      await this.output.cancel();
      return false;
    }
    await this.output.finalize();
    return true;
  }

  async cancel(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.output.cancel();
  }
}

/** The fields of WebCodecs' VideoDecoderConfig we pass (the DOM type is not in Node's lib). */
interface VideoDecoderConfigLike {
  codec: string;
  codedWidth: number;
  codedHeight: number;
  description?: Uint8Array;
}
