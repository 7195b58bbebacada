// What `--audio` adds to a load run's config and result, and the audio delivery figures. Kept beside
// load-protocol.ts (whose LoadConfig/LoadResult these extend) so that a run without audio is unchanged.
import type { SubTally } from './collector.js';
import type { LoadConfig, LoadResult } from './load-protocol.js';
import type { PacedPublisher } from './pacing.js';
import { median, quantile, round, type SampleLog } from './stats.js';

/** A load config, with the audio clip's path when the publishers send audio (`--audio`). */
export interface BenchLoadConfig extends LoadConfig {
  /** The Ogg Opus clip every publisher sends beside the video, or null for video only. */
  audioFile: string | null;
}

/** Audio delivery in the steady-state window, over every subscription (counted apart from the video). */
export interface AudioDelivery {
  codec: string;
  sampleRate: number;
  channels: number;
  /** Where the packets came from, their mean size and bitrate. */
  packetSource: string;
  packetMeanBytes: number;
  packetKbps: number;
  /** Audio frames the publishers sent in the window, per stream and second (50 for 20 ms frames). */
  sentPerStreamSecond: number;
  /** Audio frames sent to / received by viewers, per viewer-second (a viewer is a subscription). */
  expectedPerViewerSecond: number;
  receivedPerViewerSecond: number;
  framesExpected: number;
  framesReceived: number;
  framesDropped: number;
  droppedPercent: number;
  /** Audio frames whose seq matched no frame sent (should be 0). */
  unmatched: number;
  /** Subscriptions that received no audio frame at all during the run (should be 0). */
  subscriptionsWithoutAudio: number;
  kbpsMedian: number;
  latencyMs: { p50: number; p99: number; max: number; samples: number };
}

/** A load result, with whether the publishers sent audio and, if so, its delivery. */
export interface BenchLoadResult extends LoadResult {
  /** True when this run's publishers sent audio beside the video. */
  withAudio: boolean;
  audio?: AudioDelivery;
}

/** The clip facts an AudioDelivery repeats, so each result says what audio it carried. */
export interface AudioClipFacts {
  codec: string;
  sampleRate: number;
  channels: number;
  source: string;
  meanBytes: number;
  kbps: number;
}

/** Sums the audio tallies of a window [t0, t1) of `seconds` over `tallies`. */
export function audioDelivery(
  clip: AudioClipFacts,
  tallies: readonly SubTally[],
  pacers: readonly PacedPublisher<unknown>[],
  latencies: SampleLog,
  t0: number,
  t1: number,
): AudioDelivery {
  const seconds = (t1 - t0) / 1000;
  const sentBy = new Map<unknown, number>(pacers.map((p) => [p, p.sentBetween(t0, t1)]));
  let expected = 0;
  let received = 0;
  let dropped = 0;
  let unmatched = 0;
  let silent = 0;
  const kbps: number[] = [];
  for (const t of tallies) {
    const e = (t.audioPublisher && sentBy.get(t.audioPublisher)) ?? 0;
    expected += e;
    received += t.audioFrames;
    dropped += Math.max(0, e - t.audioFrames);
    unmatched += t.audioUnmatched;
    if (t.audioSeen === 0) silent++;
    kbps.push((t.audioBytes * 8) / seconds / 1000);
  }
  const sentTotal = [...sentBy.values()].reduce((n, v) => n + v, 0);
  const perViewerSecond = (n: number) => (tallies.length > 0 ? round(n / (tallies.length * seconds), 2) : 0);
  const lat = latencies.sorted();
  return {
    codec: clip.codec,
    sampleRate: clip.sampleRate,
    channels: clip.channels,
    packetSource: clip.source,
    packetMeanBytes: round(clip.meanBytes, 1),
    packetKbps: round(clip.kbps, 1),
    sentPerStreamSecond: pacers.length > 0 ? round(sentTotal / (pacers.length * seconds), 2) : 0,
    expectedPerViewerSecond: perViewerSecond(expected),
    receivedPerViewerSecond: perViewerSecond(received),
    framesExpected: expected,
    framesReceived: received,
    framesDropped: dropped,
    droppedPercent: expected > 0 ? round((dropped / expected) * 100, 2) : 0,
    unmatched,
    subscriptionsWithoutAudio: silent,
    kbpsMedian: round(median(kbps), 1),
    latencyMs: {
      p50: round(quantile(lat, 0.5), 2),
      p99: round(quantile(lat, 0.99), 2),
      max: round(lat.length > 0 ? (lat[lat.length - 1] as number) : Number.NaN, 2),
      samples: lat.length,
    },
  };
}
