import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { Cluster, ClusterStats } from '../cluster/cluster.js';
import type { Relay } from '../core/relay.js';
import type { Totals } from '../core/totals.js';
import { runningIngests } from '../ingest/running.js';

/**
 * Buckets of viewer-reported latency, in seconds (Prometheus' base unit): a live relay should sit
 * between tens and a few hundred ms; past a few seconds a viewer is effectively broken.
 */
const LATENCY_BUCKETS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

const TRANSPORTS = ['tcp', 'tls', 'ws'] as const;
const LINK_STATES = ['live', 'draining', 'keyframes-only'] as const;

let processRegistry: Registry | null = null;

/**
 * Process metrics (CPU, memory, handles, event-loop lag, GC), registered once per process and shared
 * by every server in it: collectDefaultMetrics starts an event-loop delay monitor and a GC observer
 * that it never stops, so calling it per server would leak both with each start.
 */
function processMetrics(): Registry {
  if (!processRegistry) {
    processRegistry = new Registry();
    collectDefaultMetrics({ register: processRegistry });
  }
  return processRegistry;
}

/**
 * The relay's metrics in their own registry (not prom-client's global one, so several servers can run
 * in one process), merged with the process metrics. Values are read from relay state at each scrape,
 * so nothing is updated on the frame path; only the latency histogram is fed as reports arrive.
 */
export function relayMetrics(relay: Relay, cluster: Cluster | null = null): Registry {
  const registers = [new Registry()];
  const { totals } = relay;
  if (cluster) clusterMetrics(registers, cluster);

  new Gauge({
    name: 'framewire_connections',
    help: 'Open client connections, by transport.',
    labelNames: ['transport'],
    registers,
    collect() {
      const counts = { tcp: 0, tls: 0, ws: 0 };
      for (const conn of relay.connections) counts[conn.transport.kind]++;
      for (const transport of TRANSPORTS) this.set({ transport }, counts[transport]);
    },
  });
  gauge(registers, 'framewire_rooms', 'Rooms with a stream or a subscriber.', () => relay.rooms.size);
  gauge(registers, 'framewire_streams', 'Live streams.', () => relay.streams.size);
  gauge(
    registers,
    'framewire_viewers',
    'Viewers summed over streams (connections and in-process taps).',
    () => {
      let viewers = 0;
      for (const stream of relay.streams.values()) viewers += stream.viewerCount;
      return viewers;
    },
  );
  gauge(registers, 'framewire_queued_bytes', 'Bytes held for viewers: queued plus socket buffers.', () => {
    let bytes = 0;
    for (const conn of relay.connections) bytes += conn.queue.bytes;
    return bytes;
  });
  new Gauge({
    name: 'framewire_viewer_links',
    help: 'Viewer connections by delivery state: live, draining a backlog, or keyframes only (link too slow).',
    labelNames: ['state'],
    registers,
    collect() {
      const counts = { live: 0, draining: 0, 'keyframes-only': 0 };
      for (const conn of relay.connections) if (conn.subscriptions.size > 0) counts[conn.queue.link.state]++;
      for (const state of LINK_STATES) this.set({ state }, counts[state]);
    },
  });
  gauge(
    registers,
    'framewire_viewer_backlog_max_seconds',
    'The largest backlog of any viewer connection, through every buffer to the viewer.',
    () => {
      const now = performance.now();
      let max = 0;
      for (const conn of relay.connections)
        if (conn.subscriptions.size > 0) max = Math.max(max, conn.queue.link.backlogMs(now));
      return max / 1000;
    },
    'max',
  );
  new Gauge({
    name: 'framewire_ingest_worker_heap_bytes',
    help:
      "Memory of each HTTP ingest's demuxer worker: its V8 heap in use plus the ArrayBuffers it holds, " +
      'as the worker last told (about every second).',
    labelNames: ['room', 'stream'],
    registers,
    collect() {
      // Reset first: an ended ingest's series goes with it.
      this.reset();
      for (const ingest of runningIngests(relay)) {
        const memory = ingest.workerMemory;
        if (memory) this.set({ room: ingest.room, stream: ingest.name }, memory.heapUsed + memory.external);
      }
    },
  });
  counter(registers, totals, 'framesIn', 'framewire_frames_in_total', 'Frames received from publishers.');
  counter(registers, totals, 'bytesIn', 'framewire_bytes_in_total', 'Frame message bytes received.');
  counter(registers, totals, 'framesOut', 'framewire_frames_out_total', 'Frames written to viewers.');
  counter(registers, totals, 'bytesOut', 'framewire_bytes_out_total', 'Frame message bytes written.');
  counter(
    registers,
    totals,
    'framesDropped',
    'framewire_frames_dropped_total',
    'Frames not sent to a viewer: it fell behind, or waits for a keyframe.',
  );

  const latency = new Histogram({
    name: 'framewire_viewer_latency_seconds',
    help: 'Glass-to-glass latency viewers report: the p50 of each receiver report.',
    buckets: LATENCY_BUCKETS,
    registers,
  });
  // Reports arrive about once a second per viewer, not per frame, so observing them as they come is cheap.
  relay.reportListeners.add((report) => {
    if (report.latencyP50Ms >= 0) latency.observe(report.latencyP50Ms / 1000);
  });

  return Registry.merge([...registers, processMetrics()]);
}

/**
 * A cluster node's view: the nodes it hears, and per stream pulled from another node its link's frames,
 * bytes, frames missed and the last frame's age. Counters per link restart with each link (a pull that
 * ends and starts again), which Prometheus' rate() takes as a counter reset.
 */
function clusterMetrics(registers: Registry[], cluster: Cluster): void {
  gauge(
    registers,
    'framewire_cluster_nodes',
    'Other cluster nodes this node hears.',
    () => cluster.stats().nodes.length,
    'max',
  );
  gauge(
    registers,
    'framewire_cluster_links',
    'Links up now: one per stream pulled from another node.',
    () => cluster.stats().links,
  );
  const labelNames = ['origin', 'room', 'stream'];
  const perLink = (name: string, help: string, read: (r: ClusterStats['remote'][number]) => number | null) =>
    new Gauge({
      name,
      help,
      labelNames,
      registers,
      collect() {
        // Reset first: a link that ended takes its series with it.
        this.reset();
        for (const r of cluster.stats().remote) {
          const value = r.linked ? read(r) : null;
          if (value !== null) this.set({ origin: r.origin, room: r.room, stream: r.name }, value);
        }
      },
    });
  perLink(
    'framewire_cluster_link_frames',
    'Frames received over the link since it opened.',
    (r) => r.framesIn,
  );
  perLink(
    'framewire_cluster_link_bytes',
    'Frame message bytes received over the link since it opened.',
    (r) => r.bytesIn,
  );
  perLink(
    'framewire_cluster_link_frames_missed',
    'Frames the origin skipped on the link since it opened (the link fell behind and went to a keyframe).',
    (r) => r.framesMissed,
  );
  perLink(
    'framewire_cluster_link_age_seconds',
    "Age of the link's last frame on arrival: its capture (publisher's clock) to this node (its clock).",
    (r) => (r.ageMs === null ? null : r.ageMs / 1000),
  );
}

/**
 * A gauge read at each scrape. `aggregator` says how `serve --workers` combines the workers' values into
 * one (prom-client's AggregatorRegistry): their sum unless that means nothing (a maximum, a count each sees).
 */
function gauge(
  registers: Registry[],
  name: string,
  help: string,
  read: () => number,
  aggregator: 'sum' | 'max' = 'sum',
): void {
  new Gauge({
    name,
    help,
    registers,
    aggregator,
    collect() {
      this.set(read());
    },
  });
}

// A counter mirrors one of the relay's running totals: reset, then raised to the total, at each scrape.
function counter(
  registers: Registry[],
  totals: Totals,
  field: keyof Totals,
  name: string,
  help: string,
): void {
  new Counter({
    name,
    help,
    registers,
    collect() {
      this.reset();
      this.inc(totals[field]);
    },
  });
}
