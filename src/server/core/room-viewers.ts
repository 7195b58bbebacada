import { VIDEO_CODEC_FAMILIES } from '../../protocol/index.js';

/** What the tally needs of a viewer: the codec families it declared, or null when it never did. */
export interface Decoding {
  readonly decoders: ReadonlySet<string> | null;
}

/**
 * The viewers of one room (connections subscribed to the room or to any stream in it) and what they decode,
 * kept as counts so that a change costs the same with 1000 viewers as with one: how many reasons each
 * connection has to view the room (its room subscription, each stream subscription), how many viewers
 * declared their decoders, and how many of those decode each video family. Undeclared viewers decode
 * anything and so restrict nothing.
 */
export class RoomViewers<V extends Decoding = Decoding> {
  private readonly reasons = new Map<V, number>();
  private declaring = 0;
  /** Per entry of VIDEO_CODEC_FAMILIES: declaring viewers that decode it. */
  private readonly decoding = new Array<number>(VIDEO_CODEC_FAMILIES.length).fill(0);

  /** Viewers, each counted once however many subscriptions make it one. */
  get size(): number {
    return this.reasons.size;
  }

  /** True when `viewer` views the room. */
  has(viewer: V): boolean {
    return this.reasons.has(viewer);
  }

  /** One more reason for `viewer` to view the room; true when it just became a viewer. */
  add(viewer: V): boolean {
    const n = this.reasons.get(viewer) ?? 0;
    this.reasons.set(viewer, n + 1);
    if (n > 0) return false;
    this.count(viewer.decoders, 1);
    return true;
  }

  /** One reason fewer; true when `viewer` just stopped viewing the room. Unknown viewers are ignored. */
  remove(viewer: V): boolean {
    const n = this.reasons.get(viewer);
    if (n === undefined) return false;
    if (n > 1) {
      this.reasons.set(viewer, n - 1);
      return false;
    }
    this.reasons.delete(viewer);
    this.count(viewer.decoders, -1);
    return true;
  }

  /** `viewer`, a viewer of the room, replaced its declaration `before` with `after`. */
  redeclare(viewer: V, before: ReadonlySet<string> | null, after: ReadonlySet<string> | null): void {
    if (!this.reasons.has(viewer)) return;
    this.count(before, -1);
    this.count(after, 1);
  }

  /**
   * The video families every declaring viewer but `except` decodes, in VIDEO_CODEC_FAMILIES order; null
   * when none of them declared. `except` is a publisher: its own declaration does not bind its own stream.
   */
  codecsFor(except: V | null): string[] | null {
    const own = except !== null && this.reasons.has(except) ? except.decoders : null;
    const declaring = this.declaring - (own === null ? 0 : 1);
    if (declaring === 0) return null;
    const out: string[] = [];
    VIDEO_CODEC_FAMILIES.forEach((family, i) => {
      const n = (this.decoding[i] as number) - (own?.has(family) ? 1 : 0);
      if (n === declaring) out.push(family);
    });
    return out;
  }

  private count(decoders: ReadonlySet<string> | null, delta: 1 | -1): void {
    if (decoders === null) return;
    this.declaring += delta;
    VIDEO_CODEC_FAMILIES.forEach((family, i) => {
      if (decoders.has(family)) this.decoding[i] = (this.decoding[i] as number) + delta;
    });
  }
}
