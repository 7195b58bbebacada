// Who is speaking: from the level bytes publishers put on their audio frames (RFC 6464's voice bit and
// level), so the page needs no decoding or analysis of its own to highlight a tile.

/** What the detector needs of each candidate: a key, its level (0–1) and when it last had voice. */
export interface SpeakerCandidate {
  key: string;
  level: number;
  /** performance.now() of the last frame marked as voice; -Infinity if never. */
  lastVoiceAt: number;
}

/** A candidate counts as speaking while its last voice frame is this recent, ms. */
const VOICE_RECENT_MS = 400;
/** The highlighted speaker keeps it this long after their last voice, unless someone else speaks. */
const HOLD_MS = 1500;

/** Picks the active speaker, holding the choice so that the highlight does not flicker between words. */
export class ActiveSpeaker {
  /** The key of the active speaker; null when nobody has spoken lately. */
  current: string | null = null;

  /** Updates the choice from the candidates now; returns the active speaker's key or null. */
  update(candidates: readonly SpeakerCandidate[], now = performance.now()): string | null {
    const held = candidates.find((c) => c.key === this.current);
    const speaking = candidates.filter((c) => now - c.lastVoiceAt < VOICE_RECENT_MS);
    if (held && now - held.lastVoiceAt < VOICE_RECENT_MS) return this.current;
    if (speaking.length > 0) {
      // The loudest of those speaking now takes over.
      this.current = speaking.reduce((a, b) => (b.level > a.level ? b : a)).key;
      return this.current;
    }
    if (!held || now - held.lastVoiceAt >= HOLD_MS) this.current = null;
    return this.current;
  }
}
