import { CLIPS, type ClipName, type ClipSpec } from './clip.js';

/** One bench scenario: how many streams, and who watches what. */
export interface Scenario {
  /** File-safe name: bench/results/<name>.json. */
  name: string;
  title: string;
  kind: 'fanout' | 'conference' | 'wall';
  publishers: number;
  /** Fan-out: viewers of the one stream. Otherwise derived from the kind. */
  viewers: number;
  /** The clip every publisher sends: the camera clip (640x480 30 fps, ~1 Mbit/s) unless named. */
  clip?: ClipName;
}

/** One viewer of a scenario: the streams it watches, and for a conference the participant it is. */
export interface ViewerPlan {
  watch: number[];
  peer: number | null;
}

/** 1 publisher to N viewers. */
export function fanout(n: number): Scenario {
  return {
    name: `fanout-${n}`,
    title: `1 publisher → ${n} viewer${n === 1 ? '' : 's'}`,
    kind: 'fanout',
    publishers: 1,
    viewers: n,
  };
}

/** Every scenario of a full run, in order. */
export const ALL_SCENARIOS: readonly Scenario[] = [
  fanout(1),
  fanout(10),
  fanout(100),
  fanout(500),
  fanout(1000),
  {
    name: 'conference-10',
    title: '10 publishers, each watched by the other 9 (conference)',
    kind: 'conference',
    publishers: 10,
    viewers: 10,
  },
  {
    name: 'wall-50',
    title: '50 publishers → 1 viewer (camera wall)',
    kind: 'wall',
    publishers: 50,
    viewers: 1,
  },
  {
    // A game or a shared screen (issue 18): 60 frames a second of ~10 KB, 5 Mbit/s, to every viewer.
    name: 'screen-1080p60-100',
    title: '1 screen stream (1080p60, ~5 Mbit/s) → 100 viewers',
    kind: 'fanout',
    publishers: 1,
    viewers: 100,
    clip: 'screen',
  },
];

/** The scenarios of `--quick`: the camera clip's fan-out up to 100 viewers, the conference and the wall. */
export const QUICK_SCENARIOS: readonly Scenario[] = ALL_SCENARIOS.filter(
  (s) => s.clip === undefined && (s.kind !== 'fanout' || s.viewers <= 100),
);

/** The clip `s` sends. */
export function clipOf(s: Scenario): ClipSpec {
  return CLIPS[s.clip ?? 'camera'];
}

/** Who watches what in `s`. */
export function viewerPlans(s: Scenario): ViewerPlan[] {
  const all = Array.from({ length: s.publishers }, (_, k) => k);
  switch (s.kind) {
    case 'fanout':
      return Array.from({ length: s.viewers }, () => ({ watch: [0], peer: null }));
    case 'conference':
      return all.map((k) => ({ watch: all.filter((j) => j !== k), peer: k }));
    case 'wall':
      return [{ watch: all, peer: null }];
  }
}

/** Subscriptions (viewer × stream watched): the "viewers" that per-viewer figures divide by. */
export function subscriptionCount(s: Scenario): number {
  return viewerPlans(s).reduce((n, v) => n + v.watch.length, 0);
}
