// `serve --workers N`: N relay processes on one machine, each a cluster node of the others, sharing the
// public ports through Node's cluster module (the primary accepts and hands each connection to a worker,
// round robin). The primary relays nothing: it starts a nats-server when --cluster names none, forks the
// workers, prints where they listen, replaces a worker that dies and stops them all on Ctrl-C.
import cluster, { type Worker } from 'node:cluster';
import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { AggregatorRegistry, type Registry } from 'prom-client';
import { formatAddress } from '../protocol/address.js';
import { type ClusterError, defaultNodeName } from '../server/cluster/config.js';
import { findNatsServer, type NatsProcess, startNatsServer } from '../server/cluster/nats-process.js';
import type { Logger } from '../server/ops/log.js';
import { aborted, type CliContext } from './command.js';
import { CliError, usageError } from './errors.js';

/** The environment a worker is started with: which worker it is, its node name and the NATS servers. */
const ENV_INDEX = 'FRAMEWIRE_WORKER_INDEX';
const ENV_NODE = 'FRAMEWIRE_WORKER_NODE';
const ENV_NATS = 'FRAMEWIRE_WORKER_NATS';
/** Most workers one serve starts: beyond the cores, workers only share them. */
const MAX_WORKERS = 64;
/** A worker that dies is replaced after this long... */
const RESTART_DELAY_MS = 1000;
/** ...unless this many died within RESTART_WINDOW_MS: then something is wrong with all of them. */
const MAX_RESTARTS = 5;
const RESTART_WINDOW_MS = 60_000;
/** How long workers may take to finish (recordings, goodbyes) after being asked to stop. */
const STOP_GRACE_MS = 10_000;

/** What a worker tells the primary once it listens. */
export interface WorkerListening {
  type: 'listening';
  node: string;
  tcpUrl: string;
  httpUrl: string;
  metricsUrl: string | null;
  host: string;
  tcpPort: number;
  httpPort: number;
}

/** This process as a worker of `serve --workers`: its index, node name and NATS servers; null otherwise. */
export interface WorkerRole {
  index: number;
  nodeName: string;
  nats: string[];
}

/** `--workers N|auto` (auto: one per core); 1 when not given. */
export function parseWorkers(text: string | undefined): number {
  if (text === undefined) return 1;
  if (text === 'auto') return Math.min(availableParallelism(), MAX_WORKERS);
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1 || n > MAX_WORKERS)
    throw usageError('serve', `--workers "${text}": give a whole number from 1 to ${MAX_WORKERS}, or auto`);
  return n;
}

/** What this process is if the primary of `serve --workers` forked it; null for any other process. */
export function workerRole(env: NodeJS.ProcessEnv = process.env): WorkerRole | null {
  if (!cluster.isWorker || env[ENV_INDEX] === undefined) return null;
  return {
    index: Number(env[ENV_INDEX]),
    nodeName: env[ENV_NODE] as string,
    nats: (env[ENV_NATS] as string).split(','),
  };
}

/** A worker's stop: Ctrl-C or SIGTERM to it, the primary asking, or the primary gone. */
export function workerStopSignal(signal: AbortSignal): AbortSignal {
  const controller = new AbortController();
  signal.addEventListener('abort', () => controller.abort(), { once: true });
  process.on('message', (m: { type?: string }) => {
    if (m?.type === 'stop') controller.abort();
  });
  // In cluster mode the primary accepts for the shared ports: without it a worker serves nothing new.
  process.once('disconnect', () => controller.abort());
  return controller.signal;
}

/** Tells the primary that this worker listens. */
export function reportListening(message: WorkerListening): void {
  process.send?.(message);
}

/** Lets the primary read this worker's metrics (`registry`) for the sum it serves (prom-client's protocol). */
export function shareMetrics(registry: Registry): void {
  AggregatorRegistry.setRegistries([registry]);
  // Constructing one in a worker is what makes prom-client answer the primary's requests.
  new AggregatorRegistry();
}

/** What the primary needs besides the command line its workers re-run. */
export interface PrimaryOptions {
  workers: number;
  /** The NATS servers of --cluster; null to start one. */
  nats: string[] | null;
  /** --node-name: the workers are named after it (BASE-w0, BASE-w1...); null for the host name. */
  nodeName: string | null;
  log: Logger;
  /** `--metrics-host`/`--metrics-port`: the primary serves there every worker's metrics, summed; or null. */
  metrics: { host: string; port: number } | null;
  /** Prints what a person needs once every worker listens (addresses, the certificate...). */
  printListening(first: WorkerListening): void;
}

/** Runs the primary of `serve --workers` until `ctx.signal`; resolves with the exit code. */
export async function runPrimary(opts: PrimaryOptions, ctx: CliContext): Promise<number> {
  let nats: NatsProcess | null = null;
  let storeDir: string | null = null;
  if (opts.nats === null) {
    const bin = findNatsServer();
    if (bin === null) {
      throw new CliError(
        `--workers ${opts.workers} needs a NATS server to coordinate its workers: install nats-server ` +
          '(apt-get install nats-server) and run again, or give --cluster nats://HOST:4222',
      );
    }
    storeDir = await mkdtemp(join(tmpdir(), 'framewire-nats-'));
    try {
      nats = await startNatsServer(bin, storeDir);
    } catch (err) {
      await rm(storeDir, { recursive: true, force: true });
      throw new CliError((err as ClusterError).message);
    }
    opts.log.info('nats-started', { url: nats.url, pid: nats.child.pid, store: storeDir });
  }
  const servers = opts.nats ?? [(nats as NatsProcess).url];
  const base = opts.nodeName ?? defaultNodeName();
  const supervisor = new Supervisor(servers, base, opts.log);
  let metrics: http.Server | null = null;
  try {
    const first = await supervisor.start(opts.workers);
    if (opts.metrics) {
      metrics = await serveWorkersMetrics(opts.metrics.host, opts.metrics.port);
      const { port } = metrics.address() as { port: number };
      first.metricsUrl = `http://${formatAddress(opts.metrics.host, port)}/metrics`;
    }
    opts.printListening(first);
    ctx.stdout.write(
      `framewire ${opts.workers} workers (nodes ${supervisor.nodeNames().join(', ')}), coordinated through NATS at ` +
        `${servers.join(',')}${nats ? ' (started by framewire)' : ''}\n`,
    );
    const failed = await Promise.race([aborted(ctx.signal).then(() => false), supervisor.givenUp]);
    return failed ? 1 : 0;
  } finally {
    metrics?.close();
    await supervisor.stop();
    await nats?.stop();
    if (storeDir !== null) await rm(storeDir, { recursive: true, force: true });
  }
}

/**
 * GET /metrics on `host:port`, and nothing else: every worker's metrics, gathered over the cluster
 * channel and combined by prom-client's AggregatorRegistry (sums, or a maximum where a sum means nothing).
 */
async function serveWorkersMetrics(host: string, port: number): Promise<http.Server> {
  const aggregator = new AggregatorRegistry();
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '').split('?')[0];
    if (path !== '/metrics' || (req.method !== 'GET' && req.method !== 'HEAD')) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('only GET /metrics here\n');
      return;
    }
    aggregator.clusterMetrics().then(
      (text) =>
        res
          .writeHead(200, { 'content-type': aggregator.contentType })
          .end(req.method === 'HEAD' ? undefined : text),
      (err: Error) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`${err.message}\n`),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) =>
      reject(
        new CliError(`cannot serve metrics on ${formatAddress(host, port)}: ${err.code ?? err.message}`),
      ),
    );
    server.listen(port, host, () => resolve());
  });
  return server;
}

/** The workers: started, replaced when they die, stopped together. */
class Supervisor {
  private readonly workers = new Map<number, { worker: Worker; node: string }>();
  private readonly restarts: number[] = [];
  /** Replacements so far, for their names. */
  private generation = 0;
  private stopping = false;
  private giveUp: (failed: true) => void = () => {};
  /** Resolves (true) when workers die faster than they can be replaced. */
  readonly givenUp = new Promise<true>((resolve) => {
    this.giveUp = resolve;
  });

  constructor(
    private readonly nats: string[],
    private readonly base: string,
    private readonly log: Logger,
  ) {}

  /** Forks `n` workers; resolves with the first's listening report once all listen. */
  async start(n: number): Promise<WorkerListening> {
    const reports = await Promise.all(
      Array.from({ length: n }, (_, i) => this.fork(i, `${this.base}-w${i}`)),
    );
    return reports[0] as WorkerListening;
  }

  nodeNames(): string[] {
    return [...this.workers.values()].map((w) => w.node);
  }

  /** Asks every worker to stop, and kills those still running after a grace. */
  async stop(): Promise<void> {
    this.stopping = true;
    const exits = [...this.workers.values()].map(({ worker }) => {
      if (worker.isDead()) return Promise.resolve();
      const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
      if (worker.isConnected()) worker.send({ type: 'stop' });
      const timer = setTimeout(() => worker.process.kill('SIGKILL'), STOP_GRACE_MS);
      return exited.finally(() => clearTimeout(timer));
    });
    await Promise.all(exits);
  }

  /** Starts worker `index` as node `node`; resolves once it listens, rejects if it exits before. */
  private fork(index: number, node: string): Promise<WorkerListening> {
    const worker = cluster.fork({
      [ENV_INDEX]: String(index),
      [ENV_NODE]: node,
      [ENV_NATS]: this.nats.join(','),
    });
    this.workers.set(index, { worker, node });
    return new Promise<WorkerListening>((resolve, reject) => {
      let listening = false;
      worker.on('message', (m: WorkerListening) => {
        if (m?.type !== 'listening') return;
        listening = true;
        this.log.info('worker-listening', { worker: index, node, pid: worker.process.pid });
        resolve(m);
      });
      worker.once('exit', (code, signal) => {
        if (!listening) {
          reject(
            new CliError(
              `worker ${index} (${node}) exited before it listened (${signal ?? `code ${code}`}): see its error above`,
            ),
          );
          return;
        }
        if (!this.stopping) this.replace(index, code, signal);
      });
    });
  }

  /** A worker died while serving: its viewers reconnect (to the others); a new one takes its place. */
  private replace(index: number, code: number | null, signal: string | null): void {
    const now = Date.now();
    this.restarts.push(now);
    while ((this.restarts[0] as number) < now - RESTART_WINDOW_MS) this.restarts.shift();
    if (this.restarts.length > MAX_RESTARTS) {
      this.log.error('workers-failing', {
        restarts: this.restarts.length,
        windowMs: RESTART_WINDOW_MS,
        hint: 'workers keep dying: stopping; see their errors above',
      });
      this.giveUp(true);
      return;
    }
    // A new name: the old one's streams end on the other nodes (node-lost), not taken over by a stranger.
    const node = `${this.base}-w${index}-${++this.generation}`;
    this.log.warn('worker-exit', {
      worker: index,
      code: code ?? undefined,
      signal: signal ?? undefined,
      replacement: node,
      inMs: RESTART_DELAY_MS,
    });
    setTimeout(() => {
      if (this.stopping) return;
      this.fork(index, node).catch((err: Error) => {
        this.log.error('worker-restart-failed', { worker: index, error: err.message });
        this.giveUp(true);
      });
    }, RESTART_DELAY_MS);
  }
}
