/** One line of a chart: points in data units; a null y breaks the line there. */
export interface ChartSeries {
  label: string;
  colour: string;
  dashed?: boolean;
  points: readonly (readonly [number, number | null])[];
}

/** A horizontal reference line (a bound, a target). */
export interface ChartGuide {
  y: number;
  label: string;
  colour: string;
}

/** What {@link lineChartSvg} draws. */
export interface LineChart {
  title: string;
  subtitle?: string;
  xLabel: string;
  yLabel: string;
  series: readonly ChartSeries[];
  guides?: readonly ChartGuide[];
  /** Log y axis: figures that span decades (1 ms and 2 s) both stay readable. */
  logY: boolean;
  /** Lowest value a log axis shows; smaller values (0 included) are drawn on it. */
  yFloor?: number;
  width?: number;
  height?: number;
}

const FONT = 'font-family="system-ui, -apple-system, Segoe UI, Helvetica, Arial, sans-serif"';
const MARGIN = { left: 72, right: 24, top: 64, bottom: 58 };
const LEGEND_ROW = 20;

/**
 * A plain SVG line chart: axes with ticks and labels, a legend, a title. A pure function of its input, with
 * no dependency: the chart is a few dozen lines and polylines, and a plotting library (or a headless
 * browser to run one) would cost more to install than this costs to read.
 */
export function lineChartSvg(chart: LineChart): string {
  const width = chart.width ?? 820;
  const legendHeight =
    Math.ceil(chart.series.length / 2) * LEGEND_ROW + (chart.guides?.length ? LEGEND_ROW : 0);
  const height = chart.height ?? 440;
  const plot = {
    x0: MARGIN.left,
    x1: width - MARGIN.right,
    y0: MARGIN.top,
    y1: height - MARGIN.bottom - legendHeight,
  };
  const xs = chart.series.flatMap((s) => s.points.map((p) => p[0]));
  const ys = [
    ...chart.series.flatMap((s) => s.points.flatMap((p) => (p[1] === null ? [] : [p[1]]))),
    ...(chart.guides ?? []).map((g) => g.y),
  ];
  const xMin = Math.min(...xs, 1);
  const xMax = Math.max(...xs, xMin + 1);
  const y = chart.logY ? logAxis(ys, chart.yFloor ?? 1) : linearAxis(ys);
  const px = (v: number) => plot.x0 + ((v - xMin) / (xMax - xMin)) * (plot.x1 - plot.x0);
  const py = (v: number) => plot.y1 - y.fraction(v) * (plot.y1 - plot.y0);

  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" ${FONT} font-size="12">`,
    // A title element: what screen readers and hovering browsers show for the image.
    `<title>${escapeXml(chart.title)}</title>`,
    `<rect width="${width}" height="${height}" fill="#ffffff"/>`,
    text(width / 2, 24, chart.title, 'middle', 'font-size="16" font-weight="600"'),
  ];
  if (chart.subtitle) out.push(text(width / 2, 44, chart.subtitle, 'middle', 'fill="#555"'));
  for (const t of y.ticks) {
    const yy = fmt(py(t));
    out.push(`<line x1="${plot.x0}" x2="${plot.x1}" y1="${yy}" y2="${yy}" stroke="#e5e5e5"/>`);
    out.push(text(plot.x0 - 6, py(t) + 4, tickLabel(t), 'end'));
  }
  for (const t of xTicks(xMin, xMax)) {
    const xx = fmt(px(t));
    out.push(`<line x1="${xx}" x2="${xx}" y1="${plot.y1}" y2="${plot.y1 + 5}" stroke="#333"/>`);
    out.push(text(px(t), plot.y1 + 18, String(t), 'middle'));
  }
  out.push(
    `<path d="M${plot.x0} ${plot.y0}V${plot.y1}H${plot.x1}" fill="none" stroke="#333"/>`,
    text((plot.x0 + plot.x1) / 2, plot.y1 + 38, chart.xLabel, 'middle'),
    text(
      18,
      (plot.y0 + plot.y1) / 2,
      chart.yLabel,
      'middle',
      `transform="rotate(-90 18 ${fmt((plot.y0 + plot.y1) / 2)})"`,
    ),
  );
  for (const g of chart.guides ?? []) {
    const yy = fmt(py(g.y));
    out.push(
      `<line x1="${plot.x0}" x2="${plot.x1}" y1="${yy}" y2="${yy}" stroke="${g.colour}" stroke-dasharray="2 4" stroke-width="1.5"/>`,
    );
  }
  for (const s of chart.series) {
    const dash = s.dashed ? ' stroke-dasharray="7 4"' : '';
    for (const run of runs(s.points)) {
      const pts = run.map(([vx, vy]) => `${fmt(px(vx))},${fmt(py(vy))}`).join(' ');
      out.push(`<polyline points="${pts}" fill="none" stroke="${s.colour}" stroke-width="2"${dash}/>`);
      for (const [vx, vy] of run) {
        out.push(`<circle cx="${fmt(px(vx))}" cy="${fmt(py(vy))}" r="2.5" fill="${s.colour}"/>`);
      }
    }
  }
  // Legend below the axis label, two entries a row, guides last.
  const legendTop = plot.y1 + 56;
  chart.series.forEach((s, i) => {
    const lx = plot.x0 + (i % 2) * ((plot.x1 - plot.x0) / 2);
    const ly = legendTop + Math.floor(i / 2) * LEGEND_ROW;
    const dash = s.dashed ? ' stroke-dasharray="7 4"' : '';
    out.push(
      `<line x1="${lx}" x2="${lx + 28}" y1="${ly}" y2="${ly}" stroke="${s.colour}" stroke-width="2"${dash}/>`,
    );
    out.push(text(lx + 36, ly + 4, s.label, 'start'));
  });
  (chart.guides ?? []).forEach((g, i) => {
    const lx = plot.x0 + (i % 2) * ((plot.x1 - plot.x0) / 2);
    const ly = legendTop + Math.ceil(chart.series.length / 2) * LEGEND_ROW;
    out.push(
      `<line x1="${lx}" x2="${lx + 28}" y1="${ly}" y2="${ly}" stroke="${g.colour}" stroke-dasharray="2 4" stroke-width="1.5"/>`,
    );
    out.push(text(lx + 36, ly + 4, g.label, 'start'));
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}

/** A y axis: where a value falls (0 at the bottom, 1 at the top) and the values to label. */
interface Axis {
  fraction(v: number): number;
  ticks: number[];
}

/** From a 1-2-5 value at or below the smallest value (at least `floor`) to one at or above the largest. */
function logAxis(values: readonly number[], floor: number): Axis {
  // Values under the floor (0 included) sit on it, so the axis must reach down to it.
  const shown = values.map((v) => Math.max(floor, v));
  const steps = (from: number, to: number) => {
    const out: number[] = [];
    for (let decade = 10 ** Math.floor(Math.log10(from)); decade <= to * 10; decade *= 10) {
      for (const m of [1, 2, 5]) out.push(round3(decade * m));
    }
    return out;
  };
  const min = shown.length ? Math.min(...shown) : floor;
  const max = Math.max(...shown, min * 2);
  const nice = steps(min / 10, max);
  const lo = Math.max(floor, ...nice.filter((v) => v <= min));
  const hi = nice.find((v) => v >= max) ?? max;
  const span = Math.log10(hi) - Math.log10(lo);
  return {
    fraction: (v) => (Math.log10(Math.max(lo, v)) - Math.log10(lo)) / span,
    ticks: nice.filter((v) => v >= lo && v <= hi),
  };
}

/** From 0 to a round number above the largest value, about five ticks. */
function linearAxis(values: readonly number[]): Axis {
  const step = niceStep(Math.max(...values, 1) / 5);
  const hi = Math.ceil(Math.max(...values, 1) / step) * step;
  const ticks: number[] = [];
  for (let t = 0; t <= hi + step / 2; t += step) ticks.push(round3(t));
  return { fraction: (v) => Math.max(0, v) / hi, ticks };
}

/** Whole-number x ticks, at most about a dozen. */
function xTicks(lo: number, hi: number): number[] {
  const step = Math.max(1, niceStep((hi - lo) / 10));
  const ticks: number[] = [];
  for (let t = Math.ceil(lo / step) * step; t <= hi; t += step) ticks.push(t);
  return ticks;
}

/** The 1, 2 or 5 times a power of ten nearest above `raw`. */
function niceStep(raw: number): number {
  const p = 10 ** Math.floor(Math.log10(raw));
  return ([1, 2, 5, 10].find((m) => m * p >= raw) ?? 10) * p;
}

/** The unbroken stretches of a series (nulls split it). */
function runs(points: ChartSeries['points']): [number, number][][] {
  const out: [number, number][][] = [];
  let run: [number, number][] = [];
  for (const [x, y] of points) {
    if (y === null) {
      if (run.length) out.push(run);
      run = [];
    } else run.push([x, y]);
  }
  if (run.length) out.push(run);
  return out;
}

function tickLabel(v: number): string {
  return v >= 10_000 ? `${v / 1000}k` : String(v);
}

function text(x: number, y: number, s: string, anchor: 'start' | 'middle' | 'end', extra = ''): string {
  return `<text x="${fmt(x)}" y="${fmt(y)}" text-anchor="${anchor}" ${extra}>${escapeXml(s)}</text>`;
}

function escapeXml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function fmt(v: number): string {
  return String(Math.round(v * 10) / 10);
}

function round3(v: number): number {
  return Math.round(v * 1000) / 1000;
}
