import type { WireClient } from './wire-client.js';
import { testFrame } from './wire-client.js';

/** Shape of a synthetic stream: bitrate, frame rate and keyframe interval, like an encoder's settings. */
export interface SyntheticStreamOptions {
  kbit: number;
  fps: number;
  keyframeIntervalSec: number;
  /** A keyframe's size in average frames (an encoder's keyframe is several deltas' worth); default 6. */
  keyframeWeight?: number;
}

/** A running synthetic stream. */
export interface SyntheticStream {
  /** Frames sent so far (the next frame's seq). */
  readonly sent: number;
  /** Sizes of a keyframe and of a delta, bytes. */
  readonly keyBytes: number;
  readonly deltaBytes: number;
  stop(): void;
}

/**
 * Sends frames of `streamId` from `pub` in real time, as an encoder would: `fps` a second on a fixed
 * schedule, sized to average `kbit`, a keyframe every `keyframeIntervalSec`, each stamped with the wall
 * clock as it is sent (captureTime, µs), so a viewer's latency is its arrival time less that stamp.
 */
export function startSyntheticStream(
  pub: WireClient,
  streamId: number,
  o: SyntheticStreamOptions,
): SyntheticStream {
  const gop = Math.round(o.fps * o.keyframeIntervalSec);
  const average = (o.kbit * 1000) / 8 / o.fps;
  const weight = o.keyframeWeight ?? 6;
  // A GOP carries gop average frames' bytes: one keyframe of `weight` of them, the rest split over deltas.
  const deltaBytes = Math.round((average * (gop - weight)) / (gop - 1));
  const keyBytes = Math.round(average * weight);
  const started = performance.now();
  let seq = 0;
  let timer: NodeJS.Timeout | null = null;
  const tick = (): void => {
    // Frames due by now all go (a late timer must not slow the stream down), each stamped as it leaves.
    const due = Math.floor(((performance.now() - started) * o.fps) / 1000) + 1;
    while (seq < due) {
      const key = seq % gop === 0;
      pub.send(testFrame(streamId, seq, key, key ? keyBytes : deltaBytes));
      seq++;
    }
    const next = started + (seq * 1000) / o.fps;
    timer = setTimeout(tick, Math.max(0, next - performance.now()));
  };
  tick();
  return {
    get sent() {
      return seq;
    },
    keyBytes,
    deltaBytes,
    stop: () => {
      if (timer) clearTimeout(timer);
      timer = null;
    },
  };
}
