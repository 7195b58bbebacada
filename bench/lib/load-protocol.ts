import type { Scenario } from './scenarios.js';
import type { Endpoints, TargetName } from './target.js';

/** What the orchestrator tells one load process (as JSON in argv[2]). */
export interface LoadConfig {
  target: TargetName;
  scenario: Scenario;
  endpoints: Endpoints;
  /** The server's processes: CPU and RSS are read from /proc for these at the window's edges. */
  serverPids: number[];
  clipFile: string;
  warmupS: number;
  windowS: number;
  /** After the window, how long frames sent inside it may still arrive before they count as dropped. */
  graceS: number;
  /** Bound on connecting every publisher and viewer, and on every viewer receiving a first frame. */
  connectTimeoutS: number;
}

/** The line the load process prints on stdout when it is done, followed by the JSON of a LoadResult. */
export const RESULT_MARK = 'BENCH-RESULT ';

/** Everything one (scenario, target) run measured. Times in ms, rates per second of the window. */
export interface LoadResult {
  ok: boolean;
  error?: string;
  target: TargetName;
  scenario: string;
  publishers: number;
  /** Subscriptions (viewer × stream): what per-viewer figures divide by. */
  viewers: number;
  /** Connections the load process opened for viewing (RTMP needs one per stream watched). */
  viewerConnections: number;
  windowS: number;
  server: {
    pids: number[];
    cpuPercent: number;
    /** The same CPU per process, in `pids` order (the relay, then e.g. its WebRTC child or a sidecar). */
    cpuPercentByPid: number[];
    cpuUsPerViewerSecond: number;
    rssMb: number;
    rssBaselineMb: number;
    rssKbPerViewer: number;
  };
  delivery: {
    kbpsMin: number;
    kbpsMedian: number;
    framesExpected: number;
    framesReceived: number;
    framesDropped: number;
    droppedPercent: number;
    /** Frames whose identity matched nothing sent (should be 0; otherwise the server rewrote timestamps). */
    unmatched: number;
  };
  latencyMs: { p50: number; p99: number; max: number; samples: number };
  load: {
    cpuPercent: number;
    eventLoopDelayP99Ms: number;
    publisherMaxSlipMs: number;
    publisherMaxBacklogKb: number;
    connectSeconds: number;
  };
}
