import { monitorEventLoopDelay } from 'node:perf_hooks';
import { cpuMicros } from './proc.js';
import { round } from './stats.js';

/** What the two busy processes did over one minute: the context a latency tail needs to be read in. */
export interface ProcessMinute {
  /** CPU of the server, % of one core. */
  serverCpuPct: number;
  /** CPU of the soak process (publishers and healthy viewers), % of one core. */
  loadCpuPct: number;
  /**
   * p99 and max of the soak process's event-loop delay, ms: a healthy viewer's frame waits this long to be
   * read when the loop is busy, so it is in the healthy latency too, and is not the relay's.
   */
  loadLoopP99Ms: number;
  loadLoopMaxMs: number;
}

/** The loop-delay sampling interval, ms; the histogram holds whole intervals, so it is taken off. */
const LOOP_RESOLUTION_MS = 10;

/** Per-minute CPU of the server and of this process, and this process's event-loop delay. */
export class ProcessMeter {
  private readonly loop = monitorEventLoopDelay({ resolution: LOOP_RESOLUTION_MS });
  private at = performance.now();
  private serverCpu: number;
  private loadCpu = process.cpuUsage();

  constructor(private readonly serverPid: number) {
    this.serverCpu = cpuMicros(serverPid) ?? 0;
    this.loop.enable();
  }

  /** The figures since the last call (or the start). */
  closeMinute(): ProcessMinute {
    const now = performance.now();
    const wallUs = Math.max(1, (now - this.at) * 1000);
    const serverCpu = cpuMicros(this.serverPid) ?? this.serverCpu;
    const load = process.cpuUsage(this.loadCpu);
    const figures: ProcessMinute = {
      serverCpuPct: round(((serverCpu - this.serverCpu) / wallUs) * 100, 1),
      loadCpuPct: round(((load.user + load.system) / wallUs) * 100, 1),
      loadLoopP99Ms: round(Math.max(0, this.loop.percentile(99) / 1e6 - LOOP_RESOLUTION_MS), 1),
      loadLoopMaxMs: round(Math.max(0, this.loop.max / 1e6 - LOOP_RESOLUTION_MS), 1),
    };
    this.at = now;
    this.serverCpu = serverCpu;
    this.loadCpu = process.cpuUsage();
    this.loop.reset();
    return figures;
  }

  /** Stops measuring the event loop. */
  stop(): void {
    this.loop.disable();
  }
}
