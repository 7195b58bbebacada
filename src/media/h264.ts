import { MediaError } from './errors.js';

/** H.264 NAL unit types this code cares about. */
export const NalType = { slice: 1, idr: 5, sei: 6, sps: 7, pps: 8, aud: 9 } as const;

/** The 4-byte Annex B start code put before every NAL unit on the wire. */
const START_CODE = new Uint8Array([0, 0, 0, 1]);

/** An AVCDecoderConfigurationRecord (avcC) reduced to what conversion needs. */
export interface AvcConfig {
  /** Bytes of the length prefix in front of each NAL unit in AVCC frames (1, 2 or 4). */
  nalLengthSize: number;
  sps: Uint8Array[];
  pps: Uint8Array[];
}

/** Parses an avcC record (ISO 14496-15 §5.2.4.1). Throws MediaError FW_FFMPEG_FAILED if malformed. */
export function parseAvcC(bytes: Uint8Array): AvcConfig {
  const fail = () => new MediaError('FW_FFMPEG_FAILED', 'malformed avcC (H.264 sequence header) from ffmpeg');
  if (bytes.length < 7 || bytes[0] !== 1) throw fail();
  const nalLengthSize = ((bytes[4] as number) & 0x03) + 1;
  let pos = 5;
  const readList = (count: number): Uint8Array[] => {
    const list: Uint8Array[] = [];
    for (let i = 0; i < count; i++) {
      if (pos + 2 > bytes.length) throw fail();
      const len = ((bytes[pos] as number) << 8) | (bytes[pos + 1] as number);
      pos += 2;
      if (pos + len > bytes.length) throw fail();
      list.push(bytes.subarray(pos, pos + len));
      pos += len;
    }
    return list;
  };
  const sps = readList((bytes[pos++] as number) & 0x1f);
  if (pos >= bytes.length) throw fail();
  const pps = readList(bytes[pos++] as number);
  if (sps.length === 0 || pps.length === 0) throw fail();
  return { nalLengthSize, sps, pps };
}

/** The WebCodecs codec string `avc1.PPCCLL` from an SPS NAL unit (profile, constraints, level in hex). */
export function avcCodecString(sps: Uint8Array): string {
  if (sps.length < 4) throw new MediaError('FW_FFMPEG_FAILED', 'truncated H.264 SPS');
  const hex = (b: number | undefined) => (b ?? 0).toString(16).padStart(2, '0');
  return `avc1.${hex(sps[1])}${hex(sps[2])}${hex(sps[3])}`;
}

/** The NAL units of a length-prefixed (AVCC) frame, as views. Throws MediaError on a bad length. */
export function splitAvcc(data: Uint8Array, nalLengthSize: number): Uint8Array[] {
  const nals: Uint8Array[] = [];
  let pos = 0;
  while (pos < data.length) {
    if (pos + nalLengthSize > data.length)
      throw new MediaError('FW_FFMPEG_FAILED', 'truncated AVCC NAL length');
    let len = 0;
    for (let i = 0; i < nalLengthSize; i++) len = len * 256 + (data[pos + i] as number);
    pos += nalLengthSize;
    if (pos + len > data.length) throw new MediaError('FW_FFMPEG_FAILED', 'AVCC NAL unit overruns its frame');
    nals.push(data.subarray(pos, pos + len));
    pos += len;
  }
  return nals;
}

/**
 * Converts an AVCC frame to Annex B with 4-byte start codes. For a keyframe, the parameter sets are
 * prepended unless the frame already has an SPS, so every keyframe on the wire is decodable on its own
 * (a viewer joining mid-stream gets its SPS/PPS from the GOP cache's first frame, not from a side channel).
 */
export function avccToAnnexB(data: Uint8Array, config: AvcConfig, key: boolean): Uint8Array {
  const nals = splitAvcc(data, config.nalLengthSize);
  const hasSps = nals.some((nal) => nalType(nal) === NalType.sps);
  const all = key && !hasSps ? [...config.sps, ...config.pps, ...nals] : nals;
  let size = 0;
  for (const nal of all) size += START_CODE.length + nal.length;
  const out = new Uint8Array(size);
  let pos = 0;
  for (const nal of all) {
    out.set(START_CODE, pos);
    out.set(nal, pos + START_CODE.length);
    pos += START_CODE.length + nal.length;
  }
  return out;
}

/** The NAL units of an Annex B buffer (3- or 4-byte start codes), as views without their start codes. */
export function splitAnnexB(data: Uint8Array): Uint8Array[] {
  const nals: Uint8Array[] = [];
  let start = -1;
  let i = 0;
  while (i + 2 < data.length) {
    if (data[i] === 0 && data[i + 1] === 0 && data[i + 2] === 1) {
      if (start >= 0) {
        // A 4-byte start code's leading zero belongs to the start code, not to the previous NAL.
        const end = data[i - 1] === 0 ? i - 1 : i;
        nals.push(data.subarray(start, end));
      }
      i += 3;
      start = i;
    } else {
      i++;
    }
  }
  if (start >= 0 && start < data.length) nals.push(data.subarray(start));
  return nals;
}

/** The nal_unit_type of a NAL unit (low 5 bits of its header byte), or -1 for an empty unit. */
export function nalType(nal: Uint8Array): number {
  const head = nal[0];
  return head === undefined ? -1 : head & 0x1f;
}
