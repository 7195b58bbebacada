// The packets of the bench's Ogg Opus clip, read with the CLI's own Ogg reader and OpusHead parser
// (src/media/ogg.ts, opus.ts): one logical stream, its header checked, its audio packets in order.
import { OggReader } from '../../src/media/ogg.js';
import { parseOpusHead } from '../../src/media/opus.js';

/** Why an Ogg Opus file could not be read. */
export class OggOpusError extends Error {
  readonly code = 'BENCH_BAD_OGG_OPUS';
}

/** One Opus stream's audio packets and its header fields (RFC 7845 §5.1). */
export interface OpusStream {
  channels: number;
  inputSampleRate: number;
  packets: Uint8Array[];
}

/** Reads an Ogg Opus file: checks OpusHead, skips OpusTags, returns the first stream's audio packets. */
export function readOggOpus(file: Uint8Array): OpusStream {
  const all: Uint8Array[] = [];
  let serial: number | null = null;
  try {
    new OggReader().push(file, (p) => {
      serial ??= p.serial;
      if (p.serial === serial) all.push(p.data);
    });
  } catch (err) {
    throw new OggOpusError(err instanceof Error ? err.message : String(err));
  }
  const [head, tags, ...packets] = all;
  if (!head) throw new OggOpusError('no Ogg packet: expected an OpusHead');
  let parsed: ReturnType<typeof parseOpusHead>;
  try {
    parsed = parseOpusHead(head);
  } catch {
    throw new OggOpusError('first packet is not an OpusHead');
  }
  if (!tags || String.fromCharCode(...tags.subarray(0, 8)) !== 'OpusTags')
    throw new OggOpusError('second packet is not OpusTags');
  return { channels: parsed.channels, inputSampleRate: parsed.inputSampleRate, packets };
}
