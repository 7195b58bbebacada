import { ProtocolError } from './errors.js';

/**
 * Video codec families, as the lowercase prefix of a WebCodecs codec string (`avc1.42e01f` is `avc1`). A
 * `room-codecs` message lists only these, in this order: a publisher picks the first it can encode.
 */
export const VIDEO_CODEC_FAMILIES = ['avc1', 'vp8', 'vp09', 'av01', 'hev1', 'hvc1'] as const;

/** Audio codec families a `decoders` message may name beside the video ones. */
export const AUDIO_CODEC_FAMILIES = ['opus', 'mp4a'] as const;

/** One of {@link VIDEO_CODEC_FAMILIES}. */
export type VideoCodecFamily = (typeof VIDEO_CODEC_FAMILIES)[number];

/**
 * Most entries in a `decoders` or `room-codecs` list: a few more than the families we know, so a newer
 * peer's families fit, and few enough that a hostile list costs nothing.
 */
export const MAX_CODEC_FAMILIES = 16;

/** Longest family name, bytes: the prefixes are four characters; 16 leaves room and no more. */
export const MAX_CODEC_FAMILY_BYTES = 16;

const FAMILY = /^[a-z0-9]+$/;

/** The family of a WebCodecs codec string: its part before the first dot, lowercased (`vp09.00.10.08` → `vp09`). */
export function codecFamily(codec: string): string {
  const dot = codec.indexOf('.');
  return (dot < 0 ? codec : codec.slice(0, dot)).toLowerCase();
}

/** True when `s` may be sent as a family: 1–16 characters of `a-z 0-9`. */
export function isCodecFamily(s: string): boolean {
  return s.length >= 1 && s.length <= MAX_CODEC_FAMILY_BYTES && FAMILY.test(s);
}

/**
 * Checks a list of families for the wire (encoder and decoder alike): at most {@link MAX_CODEC_FAMILIES}
 * entries, each {@link isCodecFamily}; FW_BAD_MESSAGE otherwise.
 */
export function checkCodecFamilies(codecs: readonly string[]): void {
  if (codecs.length > MAX_CODEC_FAMILIES) {
    throw new ProtocolError(
      'FW_BAD_MESSAGE',
      `${codecs.length} codec families listed; at most ${MAX_CODEC_FAMILIES}`,
    );
  }
  for (const c of codecs) {
    if (!isCodecFamily(c)) {
      throw new ProtocolError(
        'FW_BAD_MESSAGE',
        `codec family ${JSON.stringify(c.slice(0, 40))} is not 1 to ${MAX_CODEC_FAMILY_BYTES} characters of a-z 0-9`,
      );
    }
  }
}
