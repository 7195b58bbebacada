import type http from 'node:http';
import type net from 'node:net';
import { formatAddress } from '../protocol/index.js';
import { Relay } from './core/relay.js';
import { HttpRouter } from './http/router.js';
import { ingestRoutes } from './http/routes/ingest.js';
import { liveRoutes } from './http/routes/live.js';
import { metricsRoutes } from './http/routes/metrics.js';
import { recordingRoutes } from './http/routes/recording.js';
import { roomRoutes } from './http/routes/rooms.js';
import { snapshotRoutes } from './http/routes/snapshot.js';
import { createHttpServer } from './http/server.js';
import { defaultWebRoot, staticFiles } from './http/static-files.js';
import { isLoopbackHost } from './ops/addresses.js';
import { checkSecret, tokenVerifier } from './ops/auth.js';
import { checkConfig, DEFAULT_CONFIG, type ServerConfig, type ServerRelay } from './ops/config.js';
import { Logger, type LogSink } from './ops/log.js';
import { type ServerStats, snapshotStats } from './ops/stats.js';
import { prepareRecordDir, Recordings } from './recording/recordings.js';
import { listenTcp } from './transport/tcp.js';
import { loadTlsCredentials } from './transport/tls.js';
import { WsEndpoint } from './transport/ws.js';

export { DEFAULT_CONFIG, DEFAULT_HTTP_PORT, DEFAULT_TCP_PORT, type ServerConfig } from './ops/config.js';
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
}

/** A running relay server. */
export class RelayServer {
  readonly host: string;
  readonly tcpPort: number;
  readonly httpPort: number;
  /** True when both ports speak TLS (tlsCert and tlsKey were given). */
  readonly tls: boolean;
  private readonly rateTimer: NodeJS.Timeout;
  private closed: Promise<void> | null = null;

  constructor(
    readonly relay: ServerRelay,
    private readonly listeners: Listeners,
    /** The server's recordings (with `recordDir`); close() finalises them. */
    readonly recordings: Recordings,
  ) {
    this.tls = relay.config.tlsCert !== null;
    const tcp = listeners.tcp.address() as net.AddressInfo;
    this.host = tcp.address;
    this.tcpPort = tcp.port;
    this.httpPort = (listeners.http.address() as net.AddressInfo).port;
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
      relay.stallClock.stop();
      // Recordings end now, at the shutdown, not when their publishers go; close() resolves once every
      // file is finalised, so a SIGTERM never leaves a file without its index.
      const recorded = this.recordings.close();
      const tcpClosed = new Promise<void>((resolve) => listeners.tcp.close(() => resolve()));
      const httpClosed = new Promise<void>((resolve) => listeners.http.close(() => resolve()));
      for (const conn of relay.connections) conn.fail('FW_SHUTDOWN', 'server is shutting down');
      const deadline = Date.now() + SHUTDOWN_GRACE_MS;
      while (relay.connections.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      for (const conn of relay.connections) conn.transport.destroy();
      listeners.ws.close();
      listeners.http.closeAllConnections();
      await Promise.all([tcpClosed, httpClosed, recorded]);
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
  const relay = new Relay(
    config,
    new Logger(log),
    config.secret === null ? null : tokenVerifier(config.secret),
  );
  // Before listening, so no stream can open unrecorded.
  const recordings = new Recordings(relay);
  const ws = new WsEndpoint(relay);
  const tcp = await listenTcp(relay, config.host, config.tcpPort, credentials);
  const router = new HttpRouter(
    [
      ...roomRoutes(relay),
      ...liveRoutes(relay),
      ...metricsRoutes(relay),
      ...recordingRoutes(relay, recordings),
      ...snapshotRoutes(relay),
      ...ingestRoutes(relay),
    ],
    staticFiles(config.webRoot),
  );
  const httpServer = createHttpServer(relay, router, ws, credentials);
  await new Promise<void>((resolve, reject) => {
    httpServer.once('error', (err) => {
      tcp.close();
      reject(err);
    });
    httpServer.listen(config.httpPort, config.host, () => resolve());
  });
  const server = new RelayServer(relay, { tcp, http: httpServer, ws }, recordings);
  relay.log.info('listening', {
    tcp: server.tcpUrl,
    http: server.httpUrl,
    web: config.webRoot ?? 'not built',
    access: config.secret === null ? 'open' : 'tokens',
    record: config.recordDir ?? undefined,
  });
  if (config.secret === null && !isLoopbackHost(config.host)) {
    relay.log.warn('open-mode', {
      host: config.host,
      hint: 'no FRAMEWIRE_SECRET: anyone who can reach this address can publish and watch',
    });
  }
  return server;
}

function definedOnly<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
