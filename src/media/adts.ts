/**
 * AAC in ADTS (ISO/IEC 13818-7 / 14496-3): MPEG-TS carries AAC as ADTS frames, each with a 7-byte header
 * (9 with a CRC). WebCodecs' AudioDecoder takes raw AAC frames with the AudioSpecificConfig as its
 * `description` (mp4a.40.x), so ingest strips the headers and sends the config once.
 */

/** Sampling frequencies by their 4-bit index (ISO/IEC 14496-3, table 1.18). */
export const AAC_SAMPLE_RATES = [
  96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350,
] as const;

/** Samples per channel in one AAC-LC frame. */
export const AAC_FRAME_SAMPLES = 1024;

/** One ADTS frame: where its raw AAC lies, and what its header says. */
export interface AdtsFrame {
  /** Audio object type (2 = AAC-LC): the ADTS profile plus one. */
  objectType: number;
  sampleRateIndex: number;
  channelConfig: number;
  /** The raw AAC frame (a view, header stripped). */
  data: Uint8Array;
}

/** Splits `bytes` into its ADTS frames (a PES may hold several); null when it does not start with one. */
export function splitAdts(bytes: Uint8Array): AdtsFrame[] | null {
  const frames: AdtsFrame[] = [];
  let at = 0;
  while (at + 7 <= bytes.length) {
    const b = (i: number) => bytes[at + i] as number;
    // 12-bit syncword 0xFFF; layer (2 bits) is always 0.
    if (b(0) !== 0xff || (b(1) & 0xf6) !== 0xf0) return frames.length > 0 ? frames : null;
    const protectionAbsent = b(1) & 0x01;
    const objectType = (b(2) >> 6) + 1;
    const sampleRateIndex = (b(2) >> 2) & 0x0f;
    const channelConfig = ((b(2) & 0x01) << 2) | (b(3) >> 6);
    const frameLength = ((b(3) & 0x03) << 11) | (b(4) << 3) | (b(5) >> 5);
    const headerLength = protectionAbsent ? 7 : 9;
    if (frameLength < headerLength || at + frameLength > bytes.length)
      return frames.length > 0 ? frames : null;
    frames.push({
      objectType,
      sampleRateIndex,
      channelConfig,
      data: bytes.subarray(at + headerLength, at + frameLength),
    });
    at += frameLength;
  }
  return frames.length > 0 ? frames : null;
}

/**
 * The 2-byte AudioSpecificConfig (ISO/IEC 14496-3, 1.6.2.1) for an object type, rate and channel
 * configuration: what an MP4 `esds` holds and WebCodecs takes as `description`. A rate outside the table is
 * written in full (escape index 15, 24 bits), making it 5 bytes.
 */
export function audioSpecificConfig(
  objectType: number,
  sampleRate: number,
  channelConfig: number,
): Uint8Array {
  const index = AAC_SAMPLE_RATES.indexOf(sampleRate as (typeof AAC_SAMPLE_RATES)[number]);
  // Bits: object type (5), rate index (4) [+ rate (24)], channels (4), GASpecificConfig: three 0 bits.
  const bits: [number, number][] = [[objectType, 5]];
  if (index >= 0) bits.push([index, 4]);
  else bits.push([15, 4], [sampleRate, 24]);
  bits.push([channelConfig, 4], [0, 3]);
  const total = bits.reduce((n, [, w]) => n + w, 0);
  const out = new Uint8Array(Math.ceil(total / 8));
  let pos = 0;
  for (const [value, width] of bits) {
    for (let i = width - 1; i >= 0; i--) {
      if ((value >> i) & 1) out[pos >> 3] = (out[pos >> 3] as number) | (0x80 >> (pos & 7));
      pos++;
    }
  }
  return out;
}

/** The sample rate of an ADTS rate index, or 0 for a reserved one. */
export function adtsSampleRate(index: number): number {
  return AAC_SAMPLE_RATES[index] ?? 0;
}
