import { rssKb } from './proc.js';
import { round } from './stats.js';
import { lineChartSvg } from './svg-chart.js';

/**
 * The server's memory over one minute, MB. Heaps by their floor (lowest sample): between two garbage
 * collections a heap climbs by megabytes of garbage (an ingest worker's by its dead input chunks, ~7 MB over
 * ~50 s at 1 Mbit/s), which hides a slow leak; its floors, just after collections, show one. RSS by its
 * peak: the process keeps what its allocator once took, so RSS sits at its high-water mark and dips only
 * when an ingest worker ends (a restarting pusher), a dip the floor would catch and the peak does not.
 */
export interface MemoryMinute {
  /** The whole process: the peak of the minute. */
  rssMb: number | null;
  /** The server thread's V8 heap in use (`nodejs_heap_size_used_bytes`). */
  heapMb: number | null;
  /** Each ingest worker by stream name: its heap plus ArrayBuffers (`framewire_ingest_worker_heap_bytes`). */
  workersMb: Record<string, number>;
}

/** The server's memory now, from /proc and its /metrics; null where it could not be read. */
interface MemorySample {
  rssMb: number | null;
  heapMb: number | null;
  workersMb: Record<string, number>;
}

const MB = 1024 * 1024;

/**
 * Samples the server's RSS, main heap and ingest workers every `intervalMs` until `until` (Date.now()),
 * keeping each minute's RSS peak and heap floors. It stops with the load, before the pushers and viewers
 * leave: their leaving is not the server's memory levelling off.
 */
export class MemorySampler {
  private minute: MemoryMinute = { rssMb: null, heapMb: null, workersMb: {} };
  private readonly timer: NodeJS.Timeout;
  private busy = false;

  constructor(
    private readonly pid: number,
    private readonly metricsUrl: string,
    private readonly until: number,
    intervalMs = 2000,
  ) {
    // Often: a floor lasts until the heap climbs again, so a sparse sample would miss it.
    this.timer = setInterval(() => void this.sample(), intervalMs);
  }

  /** The floors since the last call (or the start). */
  closeMinute(): MemoryMinute {
    const m = this.minute;
    this.minute = { rssMb: null, heapMb: null, workersMb: {} };
    return m;
  }

  /** Stops sampling. */
  stop(): void {
    clearInterval(this.timer);
  }

  private async sample(): Promise<void> {
    if (this.busy || Date.now() > this.until) return;
    this.busy = true;
    try {
      const s = await this.read();
      const m = this.minute;
      m.rssMb = m.rssMb === null || s.rssMb === null ? (s.rssMb ?? m.rssMb) : Math.max(m.rssMb, s.rssMb);
      m.heapMb = lower(m.heapMb, s.heapMb);
      for (const [name, mb] of Object.entries(s.workersMb))
        m.workersMb[name] = lower(m.workersMb[name] ?? null, mb) ?? mb;
    } finally {
      this.busy = false;
    }
  }

  private async read(): Promise<MemorySample> {
    const kb = rssKb(this.pid);
    const sample: MemorySample = { rssMb: kb === null ? null : kb / 1024, heapMb: null, workersMb: {} };
    let text: string;
    try {
      const res = await fetch(this.metricsUrl, { signal: AbortSignal.timeout(1500) });
      text = await res.text();
    } catch {
      return sample; // the server is busy or gone: this sample has no heaps
    }
    for (const line of text.split('\n')) {
      if (line.startsWith('nodejs_heap_size_used_bytes ')) sample.heapMb = sampleValue(line) / MB;
      const worker = /^framewire_ingest_worker_heap_bytes\{[^}]*stream="([^"]+)"[^}]*\} /.exec(line);
      if (worker?.[1]) sample.workersMb[worker[1]] = sampleValue(line) / MB;
    }
    return sample;
  }
}

/** The value at the end of a Prometheus sample line. */
function sampleValue(line: string): number {
  return Number(line.slice(line.lastIndexOf(' ') + 1));
}

function lower(a: number | null, b: number | null): number | null {
  if (a === null) return b;
  if (b === null) return a;
  return Math.min(a, b);
}

/** Least-squares slope of `points` (minute, MB), in KB per minute; null with fewer than 2 points. */
export function slopeKbPerMin(points: readonly (readonly [number, number])[]): number | null {
  if (points.length < 2) return null;
  const n = points.length;
  const mx = points.reduce((s, p) => s + p[0], 0) / n;
  const my = points.reduce((s, p) => s + p[1], 0) / n;
  let num = 0;
  let den = 0;
  for (const [x, y] of points) {
    num += (x - mx) * (y - my);
    den += (x - mx) ** 2;
  }
  return den === 0 ? null : round((num / den) * 1024, 0);
}

/** One series' floors over the second half of the run, and their slope. */
export interface MemoryTrend {
  name: string;
  /** Minutes judged: the second half of the run. */
  from: number;
  to: number;
  slopeKbPerMin: number | null;
}

/**
 * The slope of each series over the second half of `minutes` (the minutes after the first half, where
 * memory should have levelled off): RSS, the main heap, and each named worker.
 */
export function memoryTrends(
  minutes: readonly { minute: number; memory: MemoryMinute }[],
  workers: readonly string[],
): MemoryTrend[] {
  const second = minutes.slice(Math.floor(minutes.length / 2));
  const from = second[0]?.minute ?? 0;
  const to = second[second.length - 1]?.minute ?? 0;
  const trend = (name: string, read: (m: MemoryMinute) => number | null | undefined): MemoryTrend => {
    const points = second.flatMap((m) => {
      const v = read(m.memory);
      return v === null || v === undefined ? [] : [[m.minute, v] as const];
    });
    return { name, from, to, slopeKbPerMin: slopeKbPerMin(points) };
  };
  return [
    trend('RSS', (m) => m.rssMb),
    trend('main heap', (m) => m.heapMb),
    ...workers.map((w) => trend(`worker ${w}`, (m) => m.workersMb[w])),
  ];
}

/** One line of a minute's memory: RSS, main heap, then every ingest worker by name. */
export function memoryLine(minute: number, m: MemoryMinute): string {
  const mb = (v: number | null | undefined) => (v === null || v === undefined ? '-' : v.toFixed(1));
  const workers = Object.keys(m.workersMb)
    .sort()
    .map((w) => `${w} ${mb(m.workersMb[w])}`)
    .join(', ');
  return `  memory min ${minute} (MB): RSS peak ${mb(m.rssMb)}; floors: main heap ${mb(m.heapMb)}, ingest workers ${workers || 'none'}`;
}

/** The memory chart beside the latency chart: RSS, main heap and the mean steady worker per container. */
export function memoryChartSvg(
  minutes: readonly { minute: number; memory: MemoryMinute }[],
  steady: readonly string[],
  opts: { date: string; span: string },
): string {
  const mean = (prefix: string) => (m: MemoryMinute) => {
    const values = steady.filter((w) => w.startsWith(prefix)).flatMap((w) => m.workersMb[w] ?? []);
    return values.length ? values.reduce((s, v) => s + v, 0) / values.length : null;
  };
  const series = (label: string, colour: string, read: (m: MemoryMinute) => number | null) => ({
    label,
    colour,
    points: minutes.map((m) => [m.minute, read(m.memory)] as const),
  });
  return lineChartSvg({
    title: `Framewire soak, ${opts.date}: server memory, ${opts.span}`,
    subtitle:
      'per minute, of samples every 2 s: RSS its peak, heaps their floor; ingest workers: heap plus ArrayBuffers',
    xLabel: 'minute of the run',
    // Log: RSS (hundreds of MB) and the heaps (tens) both stay readable.
    yLabel: 'MB (log scale)',
    logY: true,
    yFloor: 1,
    series: [
      series('RSS (whole process), peak', '#1f77b4', (m) => m.rssMb),
      series('main thread heap', '#2ca02c', (m) => m.heapMb),
      series('MPEG-TS ingest worker (mean of steady)', '#d95f02', mean('ts-')),
      series('Matroska ingest worker (mean of steady)', '#7570b3', mean('mkv-')),
    ],
  });
}
