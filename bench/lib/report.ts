import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { BenchLoadResult } from './audio-delivery.js';
import type { MachineInfo } from './proc.js';
import type { Scenario } from './scenarios.js';
import type { TargetName } from './target.js';

/** One scenario's results for every target, as written to bench/results/<scenario>.json. */
export interface ScenarioReport {
  scenario: Scenario;
  machine: MachineInfo;
  settings: Record<string, unknown>;
  results: BenchLoadResult[];
  ratios: Ratio[];
  /** With `--audio both`: each Framewire target's CPU per viewer-second with audio over without. */
  audioRatios?: AudioRatio[];
  notes: string[];
}

/** One target's server CPU per viewer-second without and with audio, from two runs of one invocation. */
export interface AudioRatio {
  target: TargetName;
  cpuUsPerViewerSecondWithout: number;
  cpuUsPerViewerSecondWith: number;
  /** With / without: 1.5 means audio made each viewer-second cost half as much again. */
  ratio: number;
  /** With − without, µs per viewer-second. */
  addedUsPerViewerSecond: number;
}

/** One target over another (Framewire over a peer, WHEP over TCP…): below 1 means the first cost less. */
export interface Ratio {
  framewire: TargetName;
  peer: TargetName;
  cpuPerViewerSecond: number;
  latencyP50: number;
  latencyP99: number;
}

const HEAD = [
  'target',
  'viewers',
  'server CPU %',
  'CPU µs/viewer·s',
  'RSS MB',
  'RSS KB/viewer',
  'kbit/s min',
  'kbit/s median',
  'dropped %',
  'latency p50 ms',
  'p99 ms',
  'max ms',
  'load CPU %',
];

/** The target as the tables name it: `+audio` when its publishers sent audio. */
function label(r: BenchLoadResult): string {
  return r.withAudio ? `${r.target} +audio` : r.target;
}

function cells(r: BenchLoadResult): string[] {
  if (!r.ok) return [label(r), 'FAILED', r.error ?? '', ...HEAD.slice(3).map(() => '')];
  const f = (v: number) => (Number.isFinite(v) ? String(v) : 'n/a');
  return [
    label(r),
    r.viewers === r.viewerConnections || r.viewerConnections === 0
      ? String(r.viewers)
      : `${r.viewers} (${r.viewerConnections} conn)`,
    f(r.server.cpuPercent),
    f(r.server.cpuUsPerViewerSecond),
    f(r.server.rssMb),
    f(r.server.rssKbPerViewer),
    f(r.delivery.kbpsMin),
    f(r.delivery.kbpsMedian),
    f(r.delivery.droppedPercent),
    f(r.latencyMs.p50),
    f(r.latencyMs.p99),
    f(r.latencyMs.max),
    f(r.load.cpuPercent),
  ];
}

/**
 * Pairs compared: Framewire over each peer; WebRTC over Framewire's own transports; werift over
 * node-datachannel (the choice of stack); a WHIP publisher over a TCP one, both played over WHEP.
 */
const PAIRS: readonly (readonly [TargetName, TargetName])[] = [
  ['framewire-tcp', 'nginx-rtmp'],
  ['framewire-tcp', 'node-media-server'],
  ['framewire-ws', 'nginx-rtmp'],
  ['framewire-ws', 'node-media-server'],
  ['framewire-whep', 'framewire-tcp'],
  ['framewire-whep', 'framewire-ws'],
  ['werift-whep', 'framewire-whep'],
  ['framewire-whip-whep', 'framewire-whep'],
];

/** The ratios of every pair in {@link PAIRS} that both succeeded, like for like: runs without audio only. */
export function ratios(results: readonly BenchLoadResult[]): Ratio[] {
  const ok = (t: TargetName) => results.find((r) => r.target === t && r.ok && !r.withAudio);
  const out: Ratio[] = [];
  for (const [fw, peer] of PAIRS) {
    const a = ok(fw);
    const b = ok(peer);
    if (!a || !b) continue;
    const div = (x: number, y: number) => Math.round((x / y) * 100) / 100;
    out.push({
      framewire: fw,
      peer,
      cpuPerViewerSecond: div(a.server.cpuUsPerViewerSecond, b.server.cpuUsPerViewerSecond),
      latencyP50: div(a.latencyMs.p50, b.latencyMs.p50),
      latencyP99: div(a.latencyMs.p99, b.latencyMs.p99),
    });
  }
  return out;
}

/** With / without audio, for every target that has both runs and both succeeded. */
export function audioRatios(results: readonly BenchLoadResult[]): AudioRatio[] {
  const out: AudioRatio[] = [];
  for (const target of new Set(results.map((r) => r.target))) {
    const without = results.find((r) => r.target === target && r.ok && !r.withAudio);
    const withA = results.find((r) => r.target === target && r.ok && r.withAudio);
    if (!without || !withA) continue;
    const a = withA.server.cpuUsPerViewerSecond;
    const b = without.server.cpuUsPerViewerSecond;
    out.push({
      target,
      cpuUsPerViewerSecondWithout: b,
      cpuUsPerViewerSecondWith: a,
      ratio: Math.round((a / b) * 100) / 100,
      addedUsPerViewerSecond: Math.round((a - b) * 10) / 10,
    });
  }
  return out;
}

function audioRatioLine(r: AudioRatio): string {
  const sign = r.addedUsPerViewerSecond >= 0 ? '+' : '';
  return `${r.target}: server CPU µs per viewer-s without audio ${r.cpuUsPerViewerSecondWithout}, with audio ${r.cpuUsPerViewerSecondWith}: ×${r.ratio.toFixed(2)} (${sign}${r.addedUsPerViewerSecond})`;
}

/** The audio delivery of one run with audio, in a line. */
function audioLine(r: BenchLoadResult): string | null {
  const a = r.audio;
  if (!r.ok || !a) return null;
  return [
    `${label(r)}: audio frames per viewer-s ${a.receivedPerViewerSecond} received / ${a.expectedPerViewerSecond} sent (${a.framesReceived}/${a.framesExpected}, dropped ${a.droppedPercent} %)`,
    `${a.kbpsMedian} kbit/s median`,
    `latency p50 ${a.latencyMs.p50} p99 ${a.latencyMs.p99} max ${a.latencyMs.max} ms`,
    a.unmatched > 0 ? `unmatched ${a.unmatched}` : '',
    a.subscriptionsWithoutAudio > 0 ? `${a.subscriptionsWithoutAudio} viewers got no audio` : '',
  ]
    .filter(Boolean)
    .join(', ');
}

function ratioLine(r: Ratio): string {
  return `${r.framewire} / ${r.peer}: CPU per viewer-s ${r.cpuPerViewerSecond.toFixed(2)}, latency p50 ${r.latencyP50.toFixed(2)}, p99 ${r.latencyP99.toFixed(2)}`;
}

/** The scenario's table as aligned text for the terminal. */
export function textTable(report: ScenarioReport): string {
  const rows = [HEAD, ...report.results.map(cells)];
  const widths = HEAD.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]) =>
    r.map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join('  ');
  const out = [`\n${report.scenario.title}`, line(HEAD), ...report.results.map((r) => line(cells(r)))];
  for (const r of report.ratios) out.push(`  ${ratioLine(r)}`);
  for (const r of report.audioRatios ?? []) out.push(`  ${audioRatioLine(r)}`);
  for (const r of report.results.filter((x) => x.ok)) {
    const d = r.delivery;
    const extra = [
      `frames ${d.framesReceived}/${d.framesExpected}`,
      (r.server.cpuPercentByPid?.length ?? 0) > 1
        ? `server CPU % by process ${r.server.cpuPercentByPid.join(' + ')}`
        : '',
      d.unmatched > 0 ? `unmatched ${d.unmatched}` : '',
      `load event-loop p99 ${r.load.eventLoopDelayP99Ms} ms`,
      `publisher slip max ${r.load.publisherMaxSlipMs} ms`,
      `connect ${r.load.connectSeconds} s`,
    ].filter(Boolean);
    out.push(`  ${label(r)}: ${extra.join(', ')}`);
    const audio = audioLine(r);
    if (audio) out.push(`  ${audio}`);
  }
  return out.join('\n');
}

/** The scenario's table in Markdown (for bench/results/summary.md and the README). */
export function markdownTable(report: ScenarioReport): string {
  const row = (r: string[]) => `| ${r.join(' | ')} |`;
  return [
    `### ${report.scenario.title}`,
    '',
    row(HEAD),
    row(HEAD.map((_, i) => (i === 0 ? '---' : '---:'))),
    ...report.results.map((r) => row(cells(r))),
    '',
    ...report.ratios.map((r) => `- ${ratioLine(r)}`),
    ...(report.audioRatios ?? []).map((r) => `- ${audioRatioLine(r)}`),
    ...report.results.flatMap((r) => {
      const line = audioLine(r);
      return line ? [`- ${line}`] : [];
    }),
    '',
  ].join('\n');
}

/** Writes bench/results/<scenario>.json. */
export function writeScenario(dir: string, report: ScenarioReport): string {
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `${report.scenario.name}.json`);
  writeFileSync(file, `${JSON.stringify(report, null, 2)}\n`);
  return file;
}

/** Writes bench/results/summary.md: every table, the machine, and the caveats. */
export function writeSummary(
  dir: string,
  reports: readonly ScenarioReport[],
  machine: MachineInfo,
  settings: string,
  notes: readonly string[],
): string {
  const file = path.join(dir, 'summary.md');
  const md = [
    '## Benchmark results',
    '',
    `${machine.cpuModel}, ${machine.cores} cores, ${machine.memoryGb} GB, Node ${machine.node}, Linux ${machine.kernel}; ${machine.date}.`,
    settings,
    '',
    ...reports.map(markdownTable),
    '### How to read these figures',
    '',
    ...notes.map((n) => `- ${n}`),
    '',
  ].join('\n');
  writeFileSync(file, md);
  return file;
}
