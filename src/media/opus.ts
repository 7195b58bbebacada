import type { AudioConfig } from '../protocol/messages.js';
import { MediaError } from './errors.js';
import { OggReader } from './ogg.js';

/** Opus always counts time in 48 kHz samples (RFC 7845, section 4), whatever the input rate was. */
export const OPUS_SAMPLE_RATE = 48000;

/** The fields of an OpusHead identification header (RFC 7845, section 5.1) that timing needs. */
export interface OpusHead {
  channels: number;
  /** Samples (at 48 kHz) the decoder discards at the start: the encoder's lookahead. */
  preSkip: number;
  /** The rate of the audio before encoding, for information only. */
  inputSampleRate: number;
  /** The whole header, as WebCodecs takes it for `description`. */
  bytes: Uint8Array;
}

/** Parses an OpusHead packet. Throws MediaError FW_UNSUPPORTED_CODEC if the packet is not one. */
export function parseOpusHead(packet: Uint8Array): OpusHead {
  const magic = String.fromCharCode(...packet.subarray(0, 8));
  if (packet.length < 19 || magic !== 'OpusHead') {
    throw new MediaError('FW_UNSUPPORTED_CODEC', 'expected Opus in Ogg (an OpusHead packet first)');
  }
  const view = new DataView(packet.buffer, packet.byteOffset, packet.byteLength);
  return {
    channels: packet[9] as number,
    preSkip: view.getUint16(10, true),
    inputSampleRate: view.getUint32(12, true),
    bytes: packet.slice(),
  };
}

/** Samples (at 48 kHz) of one frame for each TOC config number (RFC 6716, section 3.1, table 2). */
function frameSamples(config: number): number {
  if (config < 12) return [480, 960, 1920, 2880][config % 4] as number; // SILK: 10, 20, 40, 60 ms
  if (config < 16) return [480, 960][config % 2] as number; // Hybrid: 10, 20 ms
  return [120, 240, 480, 960][config % 4] as number; // CELT: 2.5, 5, 10, 20 ms
}

/** Samples (at 48 kHz) an Opus packet decodes to, from its TOC byte and frame count (RFC 6716, 3.1–3.2). */
export function opusPacketSamples(packet: Uint8Array): number {
  const toc = packet[0];
  if (toc === undefined) return 0;
  const code = toc & 0x03;
  const frames = code === 0 ? 1 : code === 3 ? (packet[1] ?? 0) & 0x3f : 2;
  return frames * frameSamples(toc >> 3);
}

/** One Opus packet with its place on the wall clock. */
export interface OpusPacket {
  /** Wall clock (µs since the epoch) of the packet's first decoded sample; see createOggOpusParser. */
  captureTime: number;
  /** µs of audio it decodes to. */
  duration: number;
  /** Samples (at 48 kHz) it decodes to. */
  samples: number;
  data: Uint8Array;
}

/** What one chunk of Ogg/Opus yielded: the config once (with the OpusHead as description), then packets. */
export interface ParsedOpusChunk {
  config: AudioConfig | null;
  packets: OpusPacket[];
}

/** Turns ffmpeg's Ogg/Opus output into stamped Opus packets; pure, fed chunks with any boundaries. */
export interface OggOpusParser {
  /** Throws MediaError on a stream that is not Ogg/Opus. */
  push(chunk: Uint8Array): ParsedOpusChunk;
}

/**
 * A parser for ffmpeg's Ogg/Opus output whose timestamps are wall-clock µs (ffmpeg-args.ts stamps the
 * audio so, and -copyts keeps it). ffmpeg writes each page's granule as the input time of the end of its
 * last packet, so a packet's first decoded sample is at `granule - samples - preSkip`: the same instant of
 * the input that the decoder will play it as (the encoder delay is the pre-skip). Packets ending earlier on
 * the same page are placed back from the page's granule, packet by packet.
 */
export function createOggOpusParser(): OggOpusParser {
  const reader = new OggReader();
  let head: OpusHead | null = null;
  let tagsSeen = false;
  let serial: number | null = null;
  /** Packets of the current page that ended before its last one (they carry no granule). */
  let pending: Uint8Array[] = [];
  /** The granule where the last placed packet ended, to place the packets of an end-trimmed last page. */
  let lastEnd: number | null = null;
  return {
    push(chunk) {
      const out: ParsedOpusChunk = { config: null, packets: [] };
      reader.push(chunk, (packet) => {
        if (serial !== null && packet.serial !== serial) return; // one logical stream: ours
        if (head === null) {
          head = parseOpusHead(packet.data);
          serial = packet.serial;
          out.config = {
            codec: 'opus',
            sampleRate: OPUS_SAMPLE_RATE,
            numberOfChannels: head.channels,
            description: head.bytes,
          };
          return;
        }
        if (!tagsSeen) {
          tagsSeen = true; // OpusTags: metadata, nothing to relay
          return;
        }
        if (packet.granule < 0) {
          pending.push(packet.data);
          return;
        }
        const page = [...pending, packet.data];
        pending = [];
        // Walk back from the granule, which is the end of the page's last packet. The last page of a
        // stream may end before its last packet does (RFC 7845 section 4.4, end trimming): its packets
        // follow on from the one before instead.
        let end = packet.granule;
        if (packet.eos && lastEnd !== null) {
          end = lastEnd + page.reduce((n, d) => n + opusPacketSamples(d), 0);
        }
        lastEnd = end;
        const stamped: OpusPacket[] = [];
        for (let i = page.length - 1; i >= 0; i--) {
          const data = page[i] as Uint8Array;
          const samples = opusPacketSamples(data);
          const start = end - samples - head.preSkip;
          stamped.push({
            captureTime: Math.round((start * 1e6) / OPUS_SAMPLE_RATE),
            duration: Math.round((samples * 1e6) / OPUS_SAMPLE_RATE),
            samples,
            data,
          });
          end -= samples;
        }
        out.packets.push(...stamped.reverse());
      });
      return out;
    },
  };
}
