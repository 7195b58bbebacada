import type http from 'node:http';
import type net from 'node:net';
import type { Registry } from 'prom-client';
import { formatAddress } from '../protocol/index.js';
import { clusterRoutes } from './cluster/api.js';
import { Cluster } from './cluster/cluster.js';
import { defaultPublicUrl } from './cluster/config.js';
import { Relay } from './core/relay.js';
import { HttpGuard } from './http/guard.js';
import { notFound } from './http/reply.js';
import { HttpRouter } from './http/router.js';
import { ingestRoutes } from './http/routes/ingest.js';
import { liveRoutes } from './http/routes/live.js';
import { metricsRoutes } from './http/routes/metrics.js';
import { recordingRoutes } from './http/routes/recording.js';
import { revocationRoutes } from './http/routes/revocations.js';
import { roomRoutes } from './http/routes/rooms.js';
import { snapshotRoutes } from './http/routes/snapshot.js';
import { whepRoutes } from './http/routes/whep.js';
import { whipRoutes } from './http/routes/whip.js';
import { createHttpServer, createMetricsServer } from './http/server.js';
import { defaultWebRoot, staticFiles } from './http/static-files.js';
import { isLoopbackHost } from './ops/addresses.js';
import { checkSecret, tokenVerifier } from './ops/auth.js';
import { checkConfig, DEFAULT_CONFIG, type ServerConfig, type ServerRelay } from './ops/config.js';
import { Logger, type LogSink } from './ops/log.js';
import { relayMetrics } from './ops/metrics.js';
import { RevocationList, revocationsFile } from './ops/revocations.js';
import { type ServerStats, snapshotStats } from './ops/stats.js';
import { prepareRecordDir, Recordings } from './recording/recordings.js';
import { listenTcp } from './transport/tcp.js';
import { loadTlsCredentials } from './transport/tls.js';
import { WsEndpoint } from './transport/ws.js';
import { WebRtcService } from './webrtc/service.js';

export { type ClusterConfig, ClusterError } from './cluster/config.js';
export {
  DEFAULT_CONFIG,
  DEFAULT_HTTP_PORT,
  DEFAULT_METRICS_PORT,
  DEFAULT_TCP_PORT,
  type ServerConfig,
} from './ops/config.js';
export { RevocationError } from './ops/revocations.js';
export type { RoomStats, ServerStats, StreamStats, ViewerStats } from './ops/stats.js';
export { RecordDirError } from './recording/recordings.js';
export { TlsConfigError } from './transport/tls.js';

/** Options of {@link startServer}: any config field, plus where log lines go. */
export type ServerOptions = Partial<ServerConfig> & { log?: LogSink };

/** How long a graceful stop waits for clients to take their goodbye before cutting them. */
const SHUTDOWN_GRACE_MS = 2000;

/** How often stream rates (fps, kbit/s) are sampled. */
const RATE_INTERVAL_MS = 1000;

/** The listening sockets of a running server. */
interface Listeners {
  tcp: net.Server;
  http: http.Server;
  ws: WsEndpoint;
  /** The metrics-only listener (`metricsHost`), or null. */
  metrics: http.Server | null;
  /** The cluster links' own listener (`cluster.peerListen`), or null. */
  peer: net.Server | null;
}

/** A running relay server. */
export class RelayServer {
  readonly host: string;
  readonly tcpPort: number;
  readonly httpPort: number;
  /** Port of the metrics listener, or null when there is none (`metricsHost` null). */
  readonly metricsPort: number | null;
  /** True when both ports speak TLS (tlsCert and tlsKey were given). */
  readonly tls: boolean;
  private readonly rateTimer: NodeJS.Timeout;
  private closed: Promise<void> | null = null;
  /** WHIP publishers and WHEP players (their peer connections run in a child process); close() stops it. */
  webrtc: WebRtcService | null = null;
  /** What /metrics serves: the relay's metrics and the process's (`serve --workers` aggregates them). */
  metricsRegistry: Registry | null = null;

  constructor(
    readonly relay: ServerRelay,
    private readonly listeners: Listeners,
    /** The server's recordings (with `recordDir`); close() finalises them. */
    readonly recordings: Recordings,
    /** The revoked tokens (with a secret), or null in open mode. */
    readonly revocations: RevocationList | null,
    /** This node's cluster membership (`cluster` config), or null for a single node. */
    readonly cluster: Cluster | null = null,
  ) {
    this.tls = relay.config.tlsCert !== null;
    const tcp = listeners.tcp.address() as net.AddressInfo;
    this.host = tcp.address;
    this.tcpPort = tcp.port;
    this.httpPort = (listeners.http.address() as net.AddressInfo).port;
    this.metricsPort = listeners.metrics ? (listeners.metrics.address() as net.AddressInfo).port : null;
    this.rateTimer = setInterval(() => {
      relay.sampleRates(RATE_INTERVAL_MS);
      relay.sweepIdle();
    }, RATE_INTERVAL_MS).unref();
  }

  /** Address of the socket protocol port: `tcp://H:P`, or `tls://H:P` with TLS. */
  get tcpUrl(): string {
    return `${this.tls ? 'tls' : 'tcp'}://${formatAddress(this.host, this.tcpPort)}`;
  }

  /** Address of the web app, API and WebSocket port: `http://H:P`, or `https://H:P` with TLS. */
  get httpUrl(): string {
    return `${this.tls ? 'https' : 'http'}://${formatAddress(this.host, this.httpPort)}`;
  }

  /** Address of the metrics listener's `/metrics` (plain HTTP), or null when there is none. */
  get metricsUrl(): string | null {
    const { metrics } = this.listeners;
    if (metrics === null) return null;
    const { address, port } = metrics.address() as net.AddressInfo;
    return `http://${formatAddress(address, port)}/metrics`;
  }

  /** Counters for every room, stream and viewer, as the HTTP API and tests read them. */
  stats(): ServerStats {
    return snapshotStats(this.relay);
  }

  /** Graceful stop: tells every client FW_SHUTDOWN, waits briefly for them to go, then closes. */
  close(): Promise<void> {
    this.closed ??= (async () => {
      const { relay, listeners } = this;
      relay.log.info('shutdown', { connections: relay.connections.size });
      clearInterval(this.rateTimer);
      // First, while NATS is up: this node's streams leave the directory, the others' end here.
      await this.cluster?.close();
      relay.stallClock.stop();
      this.revocations?.close();
      this.webrtc?.stop();
      // Recordings end now, at the shutdown, not when their publishers go; close() resolves once every
      // file is finalised, so a SIGTERM never leaves a file without its index.
      const recorded = this.recordings.close();
      const tcpClosed = new Promise<void>((resolve) => listeners.tcp.close(() => resolve()));
      listeners.peer?.close();
      const httpClosed = new Promise<void>((resolve) => listeners.http.close(() => resolve()));
      const metricsClosed = new Promise<void>((resolve) =>
        listeners.metrics ? listeners.metrics.close(() => resolve()) : resolve(),
      );
      listeners.metrics?.closeAllConnections();
      for (const conn of relay.connections) conn.fail('FW_SHUTDOWN', 'server is shutting down');
      const deadline = Date.now() + SHUTDOWN_GRACE_MS;
      while (relay.connections.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      for (const conn of relay.connections) conn.transport.destroy();
      listeners.ws.close();
      listeners.http.closeAllConnections();
      await Promise.all([tcpClosed, httpClosed, metricsClosed, recorded]);
    })();
    return this.closed;
  }
}

/** Starts a relay listening on TCP and HTTP (web app, WebSocket, API); resolves once both accept. */
export async function startServer(options: ServerOptions = {}): Promise<RelayServer> {
  const { log, ...overrides } = options;
  const config: ServerConfig = { ...DEFAULT_CONFIG, webRoot: defaultWebRoot(), ...definedOnly(overrides) };
  checkConfig(config, 'startServer options');
  // A weak secret is refused here, at start, rather than accepted and brute-forced later.
  if (config.secret !== null) checkSecret(config.secret, 'the server secret');
  // Read before listening: a missing or unreadable file stops the start, naming the file.
  const credentials = await loadTlsCredentials(config.tlsCert, config.tlsKey);
  if (config.recordDir !== null) await prepareRecordDir(config.recordDir);
  const logger = new Logger(log);
  // Read before listening: a token revoked before a restart is refused from the first hello on.
  const revocations =
    config.secret === null
      ? null
      : new RevocationList(config.stateDir === null ? null : revocationsFile(config.stateDir), logger);
  await revocations?.load();
  const verifier = config.secret === null ? null : tokenVerifier(config.secret, revocations);
  const relay = new Relay(config, logger, verifier);
  const guard = new HttpGuard(verifier, relay.log);
  revocations?.listeners.add((id) => closeRevoked(relay, guard, id));
  revocations?.watch();
  // Before listening, so no stream can open unrecorded.
  const recordings = new Recordings(relay);
  // Before listening too, so every stream opened here is claimed in the cluster's directory.
  const cluster = config.cluster ? new Cluster(relay, config.cluster) : null;
  const ws = new WsEndpoint(relay);
  // The WebRTC child process starts with the first WHIP or WHEP session, not here.
  const webrtc = new WebRtcService(relay, {
    port: config.webrtcPort,
    host: config.host,
    publicIp: config.webrtcPublicIp,
  });
  // One registry for both places /metrics is served: the latency histogram is fed once.
  const metrics = relayMetrics(relay, cluster);
  const listening: net.Server[] = [];
  try {
    const tcp = await listenTcp(relay, config.host, config.tcpPort, credentials);
    listening.push(tcp);
    let peer: net.Server | null = null;
    if (cluster) {
      const peerListen = config.cluster?.peerListen;
      if (peerListen !== undefined) {
        const at = peerListen;
        // Exclusive: a worker's own port, never shared with the other workers like the public ones.
        peer = await listenTcp(relay, at.host, at.port, null, { exclusive: true });
        listening.push(peer);
      }
      const { address, port } = (peer ?? tcp).address() as net.AddressInfo;
      await cluster.start(formatAddress(address, port));
    }
    const router = new HttpRouter(
      [
        ...roomRoutes(relay, guard),
        ...liveRoutes(relay, guard),
        ...metricsRoutes(metrics, guard),
        ...recordingRoutes(relay, recordings, guard),
        ...snapshotRoutes(relay, guard),
        ...ingestRoutes(relay, guard),
        ...revocationRoutes(revocations, guard),
        ...whipRoutes(relay, guard, webrtc),
        ...whepRoutes(relay, guard, webrtc),
        ...clusterRoutes(cluster, guard),
      ],
      staticFiles(config.webRoot),
    );
    const httpServer = createHttpServer(relay, router, ws, credentials);
    await listen(httpServer, config.httpPort, config.host);
    listening.push(httpServer);
    if (cluster) {
      const { port } = httpServer.address() as net.AddressInfo;
      cluster.setPublicUrl(defaultPublicUrl(config.host, cluster.advertise, port, credentials !== null));
    }
    let metricsServer: http.Server | null = null;
    if (config.metricsHost !== null) {
      const metricsRouter = new HttpRouter(metricsRoutes(metrics, null), ({ res, path }) =>
        notFound(res, path),
      );
      metricsServer = createMetricsServer(relay, metricsRouter);
      await listen(metricsServer, config.metricsPort, config.metricsHost);
    }
    const server = new RelayServer(
      relay,
      { tcp, http: httpServer, ws, metrics: metricsServer, peer },
      recordings,
      revocations,
      cluster,
    );
    server.webrtc = webrtc;
    server.metricsRegistry = metrics;
    logListening(server, config);
    return server;
  } catch (err) {
    revocations?.close();
    webrtc.stop();
    await cluster?.close();
    for (const s of listening) s.close();
    throw err;
  }
}

/** Listens on `port` of `host`; rejects with the listen error (EADDRINUSE...), its `port` set. */
function listen(server: net.Server, port: number, host: string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

/**
 * Ends everything open under revoked token `id`: its protocol connections (told FW_UNAUTHORIZED, as at a
 * refused hello) and its HTTP live video and ingests.
 */
function closeRevoked(relay: ServerRelay, guard: HttpGuard, id: string): void {
  let connections = 0;
  for (const conn of relay.connections) {
    if (conn.grant?.id !== id) continue;
    conn.fail('FW_UNAUTHORIZED', 'the access token was revoked: get a new one (revoked)');
    connections++;
  }
  const http = guard.revoked(id);
  relay.log.info('token-revoked', { id, connections, http });
}

/** The start line of the log: where the server listens and how it is set up. */
function logListening(server: RelayServer, config: ServerConfig): void {
  const { relay } = server;
  relay.log.info('listening', {
    tcp: server.tcpUrl,
    http: server.httpUrl,
    metrics: server.metricsUrl ?? undefined,
    web: config.webRoot ?? 'not built',
    access: config.secret === null ? 'open' : 'tokens',
    revocations: server.revocations?.file ?? undefined,
    record: config.recordDir ?? undefined,
  });
  if (config.secret === null && !isLoopbackHost(config.host)) {
    relay.log.warn('open-mode', {
      host: config.host,
      hint: 'no FRAMEWIRE_SECRET: anyone who can reach this address can publish and watch',
    });
  }
  if (config.metricsHost !== null && !isLoopbackHost(config.metricsHost)) {
    relay.log.warn('metrics-open', {
      host: config.metricsHost,
      hint: 'the metrics listener takes no token: anyone who can reach this address reads room and stream names',
    });
  }
}

function definedOnly<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
