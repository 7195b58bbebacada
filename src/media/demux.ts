import {
  EncodedPacketSink,
  Input,
  type InputAudioTrack,
  type InputVideoTrack,
  MATROSKA,
  MPEG_TS,
  ReadableStreamSource,
  UnsupportedInputFormatError,
  WEBM,
} from 'mediabunny';
import type { AudioConfig, DecoderConfig } from '../protocol/messages.js';
import { AAC_FRAME_SAMPLES, audioSpecificConfig, splitAdts } from './adts.js';
import { DemuxIndexes } from './demux-indexes.js';
import { avccToAnnexB, parseAvcC } from './h264.js';

/** What a pushed stream may be; every refusal says so. */
export const ACCEPTED_MEDIA =
  'MPEG-TS with H.264, or WebM/Matroska with VP8, VP9, AV1 or H.264; sound, if any, as AAC or Opus';

/** Why a pushed stream cannot be relayed: 415, 400 and 413 on the HTTP side. */
export type DemuxErrorCode = 'FW_UNSUPPORTED_MEDIA' | 'FW_BAD_MEDIA' | 'FW_LIMIT';

/** A pushed stream we cannot relay, with a stable code and a message that says what to send instead. */
export class DemuxError extends Error {
  override readonly name = 'DemuxError';
  constructor(
    readonly code: DemuxErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/** Memory bounds of one demuxer. */
export interface DemuxLimits {
  /** Bytes of input mediabunny may keep behind the read position. */
  cacheBytes: number;
  /** Largest single read: one frame, or one whole Matroska cluster (mediabunny loads a cluster at once). */
  maxReadBytes: number;
}

/**
 * One frame as relayed: H.264 as Annex B with SPS/PPS in each keyframe, VP8/VP9/AV1 as demuxed; Opus as
 * demuxed, AAC as raw frames (ADTS headers stripped).
 */
export interface DemuxedFrame {
  /** `audio` for a frame of the audio track (every one is a key frame); absent for video. */
  track?: 'audio';
  key: boolean;
  /** Presentation time, µs (both tracks on the container's clock). */
  timestamp: number;
  data: Uint8Array;
}

/**
 * A pushed stream: its container, the wire configs of its video and (when it has AAC or Opus) audio,
 * then its frames, each track in decode order, the two interleaved as they are read.
 */
export interface DemuxedStream {
  container: string;
  video: DecoderConfig;
  audio?: AudioConfig;
  /** Why a sound track the stream has is not relayed (another codec), for the log; absent otherwise. */
  audioNote?: string;
  /**
   * False when mediabunny's position indexes were not found to be kept bounded (see demux-indexes.ts): the
   * demuxer then grows with the stream's length, which the server says in its log.
   */
  indexesBounded: boolean;
  frames: AsyncIterable<DemuxedFrame>;
}

/** An audio track's wire config, and how one of its packets becomes wire payloads (AAC: one per frame). */
interface AudioWireFormat {
  config: AudioConfig;
  payloads: (data: Uint8Array) => Uint8Array[];
}

/** Frames read ahead of the consumer by the two track readers, at most (they normally wait on input). */
const MAX_MERGE_QUEUE = 64;

/** A track's wire decoder config, and how one of its packets becomes a wire payload. */
interface WireFormat {
  config: DecoderConfig;
  payload: (data: Uint8Array, key: boolean) => Uint8Array;
}

/** mediabunny's format names, shortened for logs and messages. */
const CONTAINER_NAMES: Record<string, string> = { 'MPEG Transport Stream': 'MPEG-TS' };

type ReadFn = (start: number, end: number) => unknown;
const baseRead = (ReadableStreamSource.prototype as unknown as { _read: ReadFn })._read;

/**
 * mediabunny allocates the whole range of a read before the bytes arrive, so a size field of a gigabyte
 * would be a gigabyte; refusing such a read here is the one place that can bound it.
 */
class BoundedStreamSource extends ReadableStreamSource {
  /** The end of the furthest range read so far: the cache keeps what lies just behind it. */
  furthestRead = 0;

  constructor(
    stream: ReadableStream<Uint8Array>,
    cacheBytes: number,
    private readonly maxReadBytes: number,
  ) {
    super(stream, { maxCacheSize: cacheBytes, handleUnhandledError: () => {} });
  }

  _read(start: number, end: number): unknown {
    if (end - start > this.maxReadBytes) throw tooLarge(end - start, this.maxReadBytes);
    if (end > this.furthestRead) this.furthestRead = end;
    return baseRead.call(this, start, end);
  }
}

/**
 * Demuxes a live MPEG-TS or WebM/Matroska byte stream (pulled as mediabunny needs it) into the frames of its
 * first video track and, when it is AAC or Opus, its first audio track. Rejects with DemuxError
 * FW_UNSUPPORTED_MEDIA for another format, no video or another video codec (a sound track of another codec
 * is left out, and said so in `audioNote`); the frame iterator throws DemuxError for malformed or
 * oversized input.
 */
export async function demuxStream(
  body: ReadableStream<Uint8Array>,
  limits: DemuxLimits,
): Promise<DemuxedStream> {
  const guarded = guardProgress(body, limits.cacheBytes + limits.maxReadBytes);
  const source = new BoundedStreamSource(guarded.stream, limits.cacheBytes, limits.maxReadBytes);
  const input = new Input({ formats: [MPEG_TS, WEBM, MATROSKA], source });
  let metadata: { container: string; track: InputVideoTrack; wire: WireFormat };
  try {
    metadata = await readMetadata(input);
  } catch (err) {
    input.dispose();
    throw asDemuxError(err);
  }
  const { container, track, wire } = metadata;
  let audio: { track: InputAudioTrack; wire: AudioWireFormat } | null = null;
  let audioNote: string | undefined;
  try {
    const found = await readAudio(input);
    if (typeof found === 'string') audioNote = found;
    else audio = found;
  } catch (err) {
    input.dispose();
    throw asDemuxError(err);
  }
  // The source serves reads up to its cache behind the furthest one, plus at most one body chunk more;
  // twice the cache is past anything it can still serve.
  const indexes = new DemuxIndexes(audio ? [track, audio.track] : [track], 2 * limits.cacheBytes);
  const sink = new EncodedPacketSink(track);
  async function* videoFrames(): AsyncGenerator<DemuxedFrame> {
    for await (const packet of sink.packets(undefined, undefined, { verifyKeyPackets: true })) {
      guarded.progressed();
      indexes.trim(source.furthestRead);
      if (packet.data.length === 0) continue;
      const key = packet.type === 'key';
      yield { key, timestamp: Math.round(packet.timestamp * 1e6), data: wire.payload(packet.data, key) };
    }
  }
  async function* audioFrames(a: {
    track: InputAudioTrack;
    wire: AudioWireFormat;
  }): AsyncGenerator<DemuxedFrame> {
    const frameUs = (AAC_FRAME_SAMPLES * 1e6) / a.wire.config.sampleRate;
    for await (const packet of new EncodedPacketSink(a.track).packets()) {
      guarded.progressed();
      indexes.trim(source.furthestRead);
      if (packet.data.length === 0) continue;
      const start = packet.timestamp * 1e6;
      // A PES of AAC may hold several frames; each goes out on its own, 1024 samples after the last.
      const payloads = a.wire.payloads(packet.data);
      for (let i = 0; i < payloads.length; i++) {
        const data = payloads[i] as Uint8Array;
        yield { track: 'audio', key: true, timestamp: Math.round(start + i * frameUs), data };
      }
    }
  }
  async function* frames(): AsyncGenerator<DemuxedFrame> {
    try {
      if (audio === null) yield* videoFrames();
      else yield* merge(videoFrames(), audioFrames(audio));
    } catch (err) {
      throw asDemuxError(err);
    } finally {
      input.dispose();
    }
  }
  const out: DemuxedStream = {
    container,
    video: wire.config,
    indexesBounded: indexes.recognised,
    frames: frames(),
  };
  if (audio) out.audio = audio.wire.config;
  if (audioNote) out.audioNote = audioNote;
  return out;
}

/**
 * Both tracks' frames as each is read: the two readers run side by side (mediabunny reads each track from
 * the same input, so neither gets far ahead of the other in the byte stream) and each frame goes out as
 * soon as it is demuxed. Waiting for the earlier of the two heads instead would stall the video whenever
 * the sound pauses (MPEG-TS muxers send audio in bursts).
 */
async function* merge(...sources: AsyncGenerator<DemuxedFrame>[]): AsyncGenerator<DemuxedFrame> {
  const queue: DemuxedFrame[] = [];
  let running = sources.length;
  let failure: unknown = null;
  let wake: (() => void) | null = null;
  let space: (() => void) | null = null;
  const notify = () => {
    wake?.();
    wake = null;
  };
  const pump = async (source: AsyncGenerator<DemuxedFrame>) => {
    try {
      for await (const frame of source) {
        queue.push(frame);
        notify();
        while (queue.length > MAX_MERGE_QUEUE && failure === null) {
          await new Promise<void>((resolve) => {
            space = resolve;
          });
        }
        if (failure !== null) return;
      }
    } catch (err) {
      failure ??= err;
    } finally {
      running--;
      notify();
    }
  };
  const pumps = sources.map(pump);
  try {
    for (;;) {
      const frame = queue.shift();
      if (frame) {
        if (queue.length <= MAX_MERGE_QUEUE) {
          const s = space as (() => void) | null;
          space = null;
          s?.();
        }
        yield frame;
        continue;
      }
      if (failure !== null) throw failure;
      if (running === 0) return;
      await new Promise<void>((resolve) => {
        wake = resolve;
      });
    }
  } finally {
    failure ??= new Error('stopped');
    const s = space as (() => void) | null;
    s?.();
    await Promise.allSettled(sources.map((source) => source.return(undefined)));
    await Promise.allSettled(pumps);
  }
}

/**
 * The stream's first audio track and its wire format when it is AAC or Opus; a note saying why not when it
 * is another codec; null when there is no sound.
 */
async function readAudio(
  input: Input,
): Promise<{ track: InputAudioTrack; wire: AudioWireFormat } | string | null> {
  const track = await input.getPrimaryAudioTrack();
  if (!track) return null;
  const codec = await track.getCodec();
  const decoder = (await track.getDecoderConfig()) as {
    codec: string;
    sampleRate: number;
    numberOfChannels: number;
    description?: AllowSharedBufferSource;
  } | null;
  if (decoder === null || (codec !== 'opus' && codec !== 'aac')) {
    return `the sound (${codec ?? 'an unknown codec'}) is not relayed: send AAC or Opus to have it heard`;
  }
  const config: AudioConfig = {
    codec: decoder.codec,
    sampleRate: decoder.sampleRate,
    numberOfChannels: decoder.numberOfChannels,
  };
  const description = decoder.description && bytesOf(decoder.description);
  if (codec === 'opus') {
    if (description) config.description = description;
    return { track, wire: { config, payloads: (data) => [data] } };
  }
  // AAC: WebCodecs takes raw frames with the AudioSpecificConfig. Matroska has it already; MPEG-TS has
  // ADTS frames and no config, which is then built from the codec string (mp4a.40.<object type>), the rate
  // and the channels that mediabunny read from the first ADTS header.
  const objectType = Number(/^mp4a\.40\.(\d+)$/.exec(decoder.codec)?.[1] ?? 2);
  const channelConfig = decoder.numberOfChannels === 8 ? 7 : decoder.numberOfChannels;
  config.description = description ?? audioSpecificConfig(objectType, decoder.sampleRate, channelConfig);
  return {
    track,
    wire: {
      config,
      payloads: (data) => splitAdts(data)?.map((f) => f.data) ?? [data],
    },
  };
}

async function readMetadata(
  input: Input,
): Promise<{ container: string; track: InputVideoTrack; wire: WireFormat }> {
  const format = await input.getFormat().catch((err: unknown) => {
    if (!(err instanceof UnsupportedInputFormatError)) throw err;
    throw new DemuxError(
      'FW_UNSUPPORTED_MEDIA',
      `the body is not MPEG-TS or WebM/Matroska: send ${ACCEPTED_MEDIA}`,
    );
  });
  const track = await input.getPrimaryVideoTrack();
  if (!track) {
    throw new DemuxError('FW_UNSUPPORTED_MEDIA', `the stream has no video: send ${ACCEPTED_MEDIA}`);
  }
  const container = CONTAINER_NAMES[format.name] ?? format.name;
  return { container, track, wire: await wireFormat(track, container) };
}

/** The wire format of a track; refuses codecs we do not relay. */
async function wireFormat(track: InputVideoTrack, container: string): Promise<WireFormat> {
  const codec = await track.getCodec();
  const decoder = (await track.getDecoderConfig()) as {
    codec: string;
    codedWidth?: number;
    codedHeight?: number;
    description?: AllowSharedBufferSource;
  } | null;
  if (codec === null || decoder === null || !['avc', 'vp8', 'vp9', 'av1'].includes(codec)) {
    throw new DemuxError(
      'FW_UNSUPPORTED_MEDIA',
      `the ${container} video is ${codec ?? 'of an unknown codec'}, which is not relayed: send ${ACCEPTED_MEDIA}`,
    );
  }
  const config: DecoderConfig = {
    codec: decoder.codec,
    codedWidth: decoder.codedWidth ?? (await track.getCodedWidth()),
    codedHeight: decoder.codedHeight ?? (await track.getCodedHeight()),
  };
  const description = decoder.description && bytesOf(decoder.description);
  if (codec !== 'avc') {
    if (description) config.description = description;
    return { config, payload: (data) => data };
  }
  // H.264 goes out as Annex B with no description (the wire convention). MPEG-TS already is; Matroska
  // holds AVCC frames and an avcC, converted as the FLV input is.
  if (!description) return { config, payload: (data) => data };
  const avc = parseAvcC(description);
  return { config, payload: (data, key) => avccToAnnexB(data, avc, key) };
}

type AllowSharedBufferSource = ArrayBuffer | ArrayBufferView;

function bytesOf(source: AllowSharedBufferSource): Uint8Array {
  return source instanceof ArrayBuffer
    ? new Uint8Array(source)
    : new Uint8Array(source.buffer, source.byteOffset, source.byteLength);
}

/**
 * Passes `body` through, failing it when more than `maxBytes` arrive without a frame coming out: a demuxer
 * still looking for the end of one frame holds everything it has read, so that must be bounded too.
 */
function guardProgress(
  body: ReadableStream<Uint8Array>,
  maxBytes: number,
): { stream: ReadableStream<Uint8Array>; progressed(): void } {
  const reader = body.getReader();
  let sinceFrame = 0;
  const stream = new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        const { done, value } = await reader.read();
        if (done) {
          controller.close();
          return;
        }
        sinceFrame += value.length;
        if (sinceFrame > maxBytes) throw tooLarge(sinceFrame, maxBytes);
        controller.enqueue(value);
      },
      cancel(reason) {
        return reader.cancel(reason);
      },
    },
    { highWaterMark: 0 },
  );
  return {
    stream,
    progressed: () => {
      sinceFrame = 0;
    },
  };
}

function tooLarge(bytes: number, limit: number): DemuxError {
  const mib = (n: number) => `${(n / 2 ** 20).toFixed(1)} MiB`;
  return new DemuxError(
    'FW_LIMIT',
    `a frame or cluster of ${mib(bytes)} or more exceeds the ${mib(limit)} limit: lower the bitrate, or for WebM/Matroska pass -cluster_time_limit 0`,
  );
}

function asDemuxError(err: unknown): DemuxError {
  if (err instanceof DemuxError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new DemuxError('FW_BAD_MEDIA', `cannot demux the stream: ${message}`);
}
