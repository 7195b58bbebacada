import type { GroupMinute } from './latency-groups.js';
import type { SoakMinute } from './soak-verdict.js';
import { lineChartSvg } from './svg-chart.js';

const COLOURS = { healthy: '#1f77b4', shaped: '#d95f02' } as const;

/** Columns of the per-minute table: heading, width, and the figure from a minute. */
const COLUMNS: [string, number, (m: SoakMinute) => number | string | null][] = [
  ['min', 4, (m) => m.minute],
  ['healthy p50', 12, (m) => m.groups.healthy.p50Ms],
  ['p99 ms', 7, (m) => m.groups.healthy.p99Ms],
  ['fps', 5, (m) => m.groups.healthy.fps],
  ['drops', 6, (m) => m.groups.healthy.drops],
  ['join', 6, (m) => m.groups.healthy.joinDrops],
  ['| shaped p50', 12, (m) => m.groups.shaped.p50Ms],
  ['p99 ms', 7, (m) => m.groups.shaped.p99Ms],
  ['fps', 5, (m) => m.groups.shaped.fps],
  ['drops', 6, (m) => m.groups.shaped.drops],
  ['kf-only s', 10, (m) => Math.round(m.shapedLink['keyframes-only'] ?? 0)],
  ['| RSS MB', 9, (m) => m.rssMb.toFixed(1)],
  ['heap MB', 8, (m) => m.memory.heapMb?.toFixed(1) ?? null],
  ['CPU%', 5, (m) => Math.round(m.serverCpuPct)],
  ['fds', 5, (m) => m.fds],
  ['viewers', 8, (m) => m.viewersOnline],
  ['pubs', 5, (m) => m.publishersOnline],
  ['| load CPU%', 11, (m) => Math.round(m.loadCpuPct)],
  ['loop p99', 9, (m) => m.loadLoopP99Ms],
];

/** A cell `width` wide; a heading starting with "| " keeps that separator at the cell's left edge. */
function cell(heading: string, width: number, text: string): string {
  return heading.startsWith('| ') ? `| ${text.padStart(width - 2)}` : text.padStart(width);
}

/** The header of the per-minute table. */
export const MINUTE_HEADER = COLUMNS.map(([h, w]) => cell(h, w, h.replace(/^\| /, ''))).join(' ');

/** One row of the per-minute table. */
export function minuteLine(m: SoakMinute): string {
  return COLUMNS.map(([h, w, f]) => cell(h, w, String(f(m) ?? '-'))).join(' ');
}

/** The chart beside soak.json: latency p50 and p99 per minute, one colour per viewer group. */
export function soakChartSvg(
  minutes: readonly SoakMinute[],
  opts: { date: string; shapedBoundMs: number; shapedKbit: number },
): string {
  const series = (
    group: keyof typeof COLOURS,
    q: keyof Pick<GroupMinute, 'p50Ms' | 'p99Ms'>,
    label: string,
  ) => ({
    label,
    colour: COLOURS[group],
    dashed: q === 'p99Ms',
    points: minutes.map((m) => [m.minute, m.groups[group][q]] as const),
  });
  const span = minutes[minutes.length - 1]?.endS ?? 0;
  return lineChartSvg({
    title: `Framewire soak, ${opts.date}: latency per viewer group, ${formatSpan(span)}`,
    subtitle:
      'capture to arrival, per minute; healthy: churning and steady viewers, unshaped; shaped: one viewer across a slow link',
    xLabel: 'minute of the run',
    yLabel: 'latency, ms (log scale)',
    logY: true,
    yFloor: 1,
    series: [
      series('healthy', 'p50Ms', 'healthy p50'),
      series('healthy', 'p99Ms', 'healthy p99'),
      series('shaped', 'p50Ms', `shaped (${opts.shapedKbit} kbit/s link) p50`),
      series('shaped', 'p99Ms', `shaped (${opts.shapedKbit} kbit/s link) p99`),
    ],
    guides: [
      { y: opts.shapedBoundMs, label: `shaped bound ${opts.shapedBoundMs} ms`, colour: COLOURS.shaped },
    ],
  });
}

function formatSpan(seconds: number): string {
  const min = seconds / 60;
  return Number.isInteger(Math.round(min * 10) / 10) ? `${Math.round(min)} min` : `${min.toFixed(1)} min`;
}
