import {
  EncodedPacketSink,
  Input,
  type InputVideoTrack,
  MATROSKA,
  MPEG_TS,
  ReadableStreamSource,
  UnsupportedInputFormatError,
  WEBM,
} from 'mediabunny';
import type { DecoderConfig } from '../protocol/messages.js';
import { avccToAnnexB, parseAvcC } from './h264.js';

/** What a pushed stream may be; every refusal says so. */
export const ACCEPTED_MEDIA = 'MPEG-TS with H.264, or WebM/Matroska with VP8, VP9, AV1 or H.264';

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

/** One frame as relayed: H.264 as Annex B with SPS/PPS in each keyframe, VP8/VP9/AV1 as demuxed. */
export interface DemuxedFrame {
  key: boolean;
  /** Presentation time, µs. */
  timestamp: number;
  data: Uint8Array;
}

/** The video of a pushed stream: its container, the wire decoder config, then its frames in decode order. */
export interface DemuxedVideo {
  container: string;
  config: DecoderConfig;
  frames: AsyncIterable<DemuxedFrame>;
}

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
  constructor(
    stream: ReadableStream<Uint8Array>,
    cacheBytes: number,
    private readonly maxReadBytes: number,
  ) {
    super(stream, { maxCacheSize: cacheBytes, handleUnhandledError: () => {} });
  }

  _read(start: number, end: number): unknown {
    if (end - start > this.maxReadBytes) throw tooLarge(end - start, this.maxReadBytes);
    return baseRead.call(this, start, end);
  }
}

/**
 * Demuxes a live MPEG-TS or WebM/Matroska byte stream (pulled as mediabunny needs it) into the frames of its
 * first video track. Rejects with DemuxError FW_UNSUPPORTED_MEDIA for another format, no video or another
 * codec; the frame iterator throws DemuxError for malformed or oversized input.
 */
export async function demuxVideo(
  body: ReadableStream<Uint8Array>,
  limits: DemuxLimits,
): Promise<DemuxedVideo> {
  const guarded = guardProgress(body, limits.cacheBytes + limits.maxReadBytes);
  const input = new Input({
    formats: [MPEG_TS, WEBM, MATROSKA],
    source: new BoundedStreamSource(guarded.stream, limits.cacheBytes, limits.maxReadBytes),
  });
  let metadata: { container: string; track: InputVideoTrack; wire: WireFormat };
  try {
    metadata = await readMetadata(input);
  } catch (err) {
    input.dispose();
    throw asDemuxError(err);
  }
  const { container, track, wire } = metadata;
  const sink = new EncodedPacketSink(track);
  async function* frames(): AsyncGenerator<DemuxedFrame> {
    try {
      for await (const packet of sink.packets(undefined, undefined, { verifyKeyPackets: true })) {
        guarded.progressed();
        if (packet.data.length === 0) continue;
        const key = packet.type === 'key';
        yield { key, timestamp: Math.round(packet.timestamp * 1e6), data: wire.payload(packet.data, key) };
      }
    } catch (err) {
      throw asDemuxError(err);
    } finally {
      input.dispose();
    }
  }
  return { container, config: wire.config, frames: frames() };
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
