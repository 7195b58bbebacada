import type { DecoderConfig } from '../protocol/messages.js';
import { MediaError } from './errors.js';
import { FLV_CODEC_AVC, FlvReader, FlvTagType, parseFlvVideoTag } from './flv.js';
import { type AvcConfig, avcCodecString, avccToAnnexB, parseAvcC } from './h264.js';
import { parseSpsSize } from './h264-sps.js';
import { IvfReader } from './ivf.js';
import { isVp8Keyframe } from './vp8.js';

/** One encoded frame as it left ffmpeg: VP8 as is, H.264 as Annex B with SPS/PPS in every keyframe. */
export interface EncodedFrame {
  key: boolean;
  /** Media time, µs since the first frame. */
  timestamp: number;
  /** Wall clock when the picture was taken (ffmpeg's stamp, see ffmpeg-args.ts), µs since the Unix epoch. */
  captureTime: number;
  data: Uint8Array;
}

/** What one chunk of ffmpeg output yielded: the config if it appeared in this chunk, and whole frames. */
export interface ParsedChunk {
  config: DecoderConfig | null;
  frames: EncodedFrame[];
}

/**
 * Turns ffmpeg's container stream into wire frames; pure, fed chunks with any boundaries. The pts of each
 * frame is expected to be the wall clock of its picture (ffmpeg-args.ts stamps it so).
 */
export interface FrameParser {
  /** Parses a chunk read at wall-clock `now` (µs). Throws MediaError on a malformed stream. */
  push(chunk: Uint8Array, now: number): ParsedChunk;
}

/** FLV keeps 31 bits of a millisecond timestamp (ffmpeg masks the top bit): it wraps every ~24.8 days. */
const FLV_TS_WRAP_MS = 2 ** 31;

/**
 * The wall clock (µs) an FLV timestamp stands for, given that it was stamped shortly before `nowUs`:
 * FLV carries the epoch in milliseconds modulo 2^31, so the rest comes from the reading moment.
 */
export function flvWallClock(timestampMs: number, nowUs: number): number {
  const nowMs = Math.floor(nowUs / 1000);
  const behind = (((nowMs - timestampMs) % FLV_TS_WRAP_MS) + FLV_TS_WRAP_MS) % FLV_TS_WRAP_MS;
  return (nowMs - behind) * 1000;
}

/** A parser for ffmpeg's VP8-in-IVF output. */
export function createVp8Parser(): FrameParser {
  const reader = new IvfReader();
  let scale = 1;
  let first: number | null = null;
  return {
    push(chunk) {
      const out: ParsedChunk = { config: null, frames: [] };
      reader.push(
        chunk,
        (header) => {
          if (header.fourcc !== 'VP80') {
            throw new MediaError('FW_UNSUPPORTED_CODEC', `expected VP8 in IVF, got ${header.fourcc}`);
          }
          scale = (header.timebaseNum * 1e6) / header.timebaseDen;
          out.config = { codec: 'vp8', codedWidth: header.width, codedHeight: header.height };
        },
        (frame) => {
          // IVF keeps the full 64-bit pts, so the stamp comes back whole.
          const captureTime = Math.round(frame.pts * scale);
          first ??= captureTime;
          out.frames.push({
            key: isVp8Keyframe(frame.data),
            timestamp: captureTime - first,
            captureTime,
            data: frame.data,
          });
        },
      );
      return out;
    },
  };
}

/**
 * A parser for ffmpeg's H.264-in-FLV output. The config comes from the avcC sequence header: codec string
 * and size from its first SPS (parsed, not taken from onMetaData, since the SPS is what decoders obey).
 * No `description` is set: frames go out as Annex B, which WebCodecs and ffmpeg decode without one.
 */
export function createH264Parser(): FrameParser {
  const reader = new FlvReader();
  let avc: AvcConfig | null = null;
  let first: number | null = null;
  return {
    push(chunk, now) {
      const out: ParsedChunk = { config: null, frames: [] };
      reader.push(chunk, (tag) => {
        if (tag.type !== FlvTagType.video) return;
        const video = parseFlvVideoTag(tag.data);
        if (video.codecId !== FLV_CODEC_AVC) {
          throw new MediaError(
            'FW_UNSUPPORTED_CODEC',
            `expected H.264 in FLV, got codec id ${video.codecId}`,
          );
        }
        if (video.avcPacketType === 0) {
          avc = parseAvcC(video.body);
          const sps = avc.sps[0] as Uint8Array;
          const size = parseSpsSize(sps);
          out.config = { codec: avcCodecString(sps), codedWidth: size.width, codedHeight: size.height };
        } else if (video.avcPacketType === 1) {
          if (avc === null)
            throw new MediaError('FW_FFMPEG_FAILED', 'H.264 frame before its sequence header');
          const key = video.frameType === 1;
          // The tag's timestamp is the decode time; with -bf 0 it equals the picture's stamp.
          const captureTime = flvWallClock(tag.timestamp, now);
          first ??= captureTime;
          out.frames.push({
            key,
            timestamp: captureTime - first + video.compositionTime * 1000,
            captureTime,
            data: avccToAnnexB(video.body, avc, key),
          });
        }
      });
      return out;
    },
  };
}
