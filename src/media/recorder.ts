import { rm } from 'node:fs/promises';
import { extname } from 'node:path';
import {
  EncodedPacket,
  EncodedVideoPacketSource,
  FilePathTarget,
  MkvOutputFormat,
  Mp4OutputFormat,
  Output,
  type OutputFormat,
  type VideoCodec,
  WebMOutputFormat,
} from 'mediabunny';
import type { DecoderConfig } from '../protocol/messages.js';
import { MediaError } from './errors.js';

/** A file being written from received frames. */
export interface Recorder {
  /** Adds a frame in decode order; deltas before the first keyframe are dropped. */
  add(frame: { key: boolean; timestamp: number; data: Uint8Array }): Promise<void>;
  /** Writes the index and closes the file; with no keyframe ever added, removes the empty file instead. */
  finish(): Promise<void>;
}

/** The mediabunny codec for a WebCodecs codec string, or null when we do not record it. */
function mediabunnyCodec(codec: string): VideoCodec | null {
  if (codec === 'vp8') return 'vp8';
  if (codec.startsWith('vp09.') || codec === 'vp9') return 'vp9';
  if (codec.startsWith('av01.')) return 'av1';
  if (codec.startsWith('avc1.') || codec.startsWith('avc3.')) return 'avc';
  return null;
}

/**
 * Containers by file extension. WebM holds only VP8/VP9/AV1 (its spec says so, and mediabunny enforces
 * it). MP4 holds all four; mediabunny converts Annex B H.264 to AVCC itself, taking SPS/PPS from the first
 * keyframe. MKV is limited to VP8/VP9/AV1: mediabunny's Matroska muxer does not convert Annex B H.264, so
 * such a file would lack its CodecPrivate; record H.264 to .mp4.
 */
const CONTAINERS: Record<string, { make: () => OutputFormat; codecs: readonly VideoCodec[] }> = {
  '.webm': { make: () => new WebMOutputFormat(), codecs: ['vp8', 'vp9', 'av1'] },
  '.mkv': { make: () => new MkvOutputFormat(), codecs: ['vp8', 'vp9', 'av1'] },
  // Fragmented: a recording cut short by a crash is still playable up to its last fragment.
  '.mp4': {
    make: () => new Mp4OutputFormat({ fastStart: 'fragmented' }),
    codecs: ['avc', 'vp8', 'vp9', 'av1'],
  },
};

/**
 * Opens `path` for recording frames described by `config`; the container follows the extension
 * (.webm, .mkv, .mp4). Throws MediaError FW_UNSUPPORTED_CODEC when the pair cannot be written.
 */
export async function createRecorder(path: string, config: DecoderConfig): Promise<Recorder> {
  const ext = extname(path).toLowerCase();
  const container = CONTAINERS[ext];
  if (!container) {
    throw new MediaError(
      'FW_UNSUPPORTED_CODEC',
      `cannot record to "${ext || path}": use a .webm, .mkv (VP8/VP9/AV1) or .mp4 (H.264/VP8/VP9/AV1) file name`,
    );
  }
  const codec = mediabunnyCodec(config.codec);
  if (codec === null || !container.codecs.includes(codec)) {
    const hint = codec === 'avc' ? ': record H.264 to a .mp4 file' : '';
    throw new MediaError('FW_UNSUPPORTED_CODEC', `cannot record ${config.codec} into ${ext}${hint}`);
  }
  const output = new Output({ format: container.make(), target: new FilePathTarget(path) });
  const source = new EncodedVideoPacketSource(codec);
  output.addVideoTrack(source);
  await output.start();
  return new FileRecorder(path, output, source, config);
}

class FileRecorder implements Recorder {
  /** Timestamp of the first keyframe, µs: subtracted so the file starts at 0. */
  private origin: number | null = null;
  private lastTimestamp = -1;
  private closed = false;

  constructor(
    private readonly path: string,
    private readonly output: Output,
    private readonly source: EncodedVideoPacketSource,
    private readonly config: DecoderConfig,
  ) {}

  async add(frame: { key: boolean; timestamp: number; data: Uint8Array }): Promise<void> {
    if (this.closed) return;
    // A file must start with a keyframe: nothing before it can be decoded.
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

  async finish(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.origin === null) {
      await this.output.cancel();
      await rm(this.path, { force: true });
      return;
    }
    await this.output.finalize();
  }
}

/** The fields of WebCodecs' VideoDecoderConfig we pass (the DOM type is not in Node's lib). */
interface VideoDecoderConfigLike {
  codec: string;
  codedWidth: number;
  codedHeight: number;
  description?: Uint8Array;
}
