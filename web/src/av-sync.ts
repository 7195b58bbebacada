// Lip sync: decoded pictures wait until the sound captured with them comes out of the speaker. The audio
// clock is the sound's playout delay (remote-audio.ts): a picture captured at T is due at T + that delay.
import type { ServerClock } from './clock.js';

/**
 * Pictures held at most: ~530 ms at 30 fps, 270 at 60 (MAX_HOLD_MS is the bound at camera rates). At 10, a
 * loaded machine whose jitter buffer had grown to 400 ms painted pictures 43 ms ahead of their sound (p50,
 * one CI run; 22-35 ms here under a two-core load), the oldest pushed out early; at 16, 2 ms.
 */
const MAX_HELD = 16;
/** Nor is a picture held for longer than this, ms, whatever the audio clock says. */
const MAX_HOLD_MS = 400;
/** A picture due within this, ms, is painted now: a timer cannot do better than a few ms anyway. */
const EARLY_OK_MS = 2;

interface Held {
  frame: VideoFrame;
  captureUs: number;
  /** performance.now() past which it is painted whatever the audio clock says. */
  deadline: number;
}

/** Holds decoded pictures until their sound plays, then paints them; without a sound, paints at once. */
export class PaintScheduler {
  private readonly held: Held[] = [];
  private timer: number | undefined;

  constructor(
    private readonly clock: ServerClock,
    /** The audio playout delay, µs; null when there is no sound to follow (paint at once). */
    private readonly audioDelayUs: () => number | null,
    /**
     * Paints a picture (and closes it); `offsetMs` is how far behind its sound it shows (negative: ahead),
     * null without an audio clock.
     */
    private readonly paint: (
      frame: VideoFrame,
      captureUs: number | undefined,
      offsetMs: number | null,
    ) => void,
    /** A held picture was replaced by a newer one that was due as well (it is closed here). */
    private readonly skipped: () => void,
  ) {}

  /** Number of pictures waiting for their sound. */
  get size(): number {
    return this.held.length;
  }

  /** A decoded picture: painted now, or held until its sound plays. */
  push(frame: VideoFrame, captureUs: number | undefined): void {
    const delay = this.audioDelayUs();
    if (delay === null || captureUs === undefined) {
      this.flush();
      this.paint(frame, captureUs, null);
      return;
    }
    const waitMs = (captureUs + delay - this.clock.nowUs()) / 1000;
    if (waitMs <= EARLY_OK_MS && this.held.length === 0) {
      this.paint(frame, captureUs, -waitMs);
      return;
    }
    this.held.push({ frame, captureUs, deadline: performance.now() + MAX_HOLD_MS });
    if (this.held.length > MAX_HELD) this.paintOne(this.held.shift() as Held);
    this.schedule();
  }

  /** Drops every held picture (the stream restarted or closed). */
  clear(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    for (const h of this.held.splice(0)) h.frame.close();
  }

  private paintOne(h: Held): void {
    const delay = this.audioDelayUs();
    this.paint(
      h.frame,
      h.captureUs,
      delay === null ? null : (this.clock.nowUs() - h.captureUs - delay) / 1000,
    );
  }

  /** Paints everything held now (the sound went away). */
  private flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    const last = this.held.pop();
    for (const h of this.held.splice(0)) {
      h.frame.close();
      this.skipped();
    }
    if (last) this.paintOne(last);
  }

  private schedule(): void {
    clearTimeout(this.timer);
    const head = this.held[0];
    if (!head) return;
    const delay = this.audioDelayUs() ?? 0;
    const waitMs = Math.min(
      head.deadline - performance.now(),
      (head.captureUs + delay - this.clock.nowUs()) / 1000,
    );
    this.timer = window.setTimeout(() => this.run(), Math.max(0, waitMs - EARLY_OK_MS / 2));
  }

  private run(): void {
    this.timer = undefined;
    const delay = this.audioDelayUs();
    if (delay === null) {
      this.flush();
      return;
    }
    const now = this.clock.nowUs();
    const nowPerf = performance.now();
    const isDue = (h: Held) => (h.captureUs + delay - now) / 1000 <= EARLY_OK_MS || nowPerf >= h.deadline;
    // Of the pictures due now, only the newest is worth painting.
    let due: Held | undefined;
    while (this.held[0] && isDue(this.held[0])) {
      if (due) {
        due.frame.close();
        this.skipped();
      }
      due = this.held.shift();
    }
    if (due) this.paintOne(due);
    this.schedule();
  }
}
