import type { Outgoing } from './transport.js';

/**
 * The frames since the stream's latest keyframe, so a late joiner can decode at once instead of
 * waiting for the publisher's next scheduled keyframe, and hears the sound of that picture with it: the
 * audio frames since that keyframe are kept in order among the video ones. Bounded in bytes: a GOP that
 * outgrows the bound is dropped whole (a partial GOP is useless) and caching resumes at the next
 * keyframe. A stream without video caches nothing: any audio frame is a starting point, and the next
 * one is at most a frame away.
 */
export class GopCache {
  private frames: Outgoing[] = [];
  private bytes = 0;

  constructor(private readonly maxBytes: number) {}

  /** Records a frame the stream just relayed (`key` is a video keyframe; audio frames never start a GOP). */
  add(frame: Outgoing, key: boolean): void {
    if (key && !frame.audio) {
      this.frames = [frame];
      this.bytes = frame.framed.length;
      if (this.bytes > this.maxBytes) this.clear();
      return;
    }
    if (this.frames.length === 0) return; // no keyframe yet, or the GOP outgrew the bound
    if (this.bytes + frame.framed.length > this.maxBytes) {
      this.clear();
      return;
    }
    this.frames.push(frame);
    this.bytes += frame.framed.length;
  }

  /** The cached GOP, keyframe first; empty when there is none to offer. */
  get snapshot(): readonly Outgoing[] {
    return this.frames;
  }

  get byteLength(): number {
    return this.bytes;
  }

  clear(): void {
    this.frames = [];
    this.bytes = 0;
  }
}
