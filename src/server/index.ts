import type net from 'node:net';
import { DEFAULT_CONFIG, type ServerConfig } from './config.js';
import { Logger, type LogSink } from './log.js';
import { Relay } from './relay.js';
import { type ServerStats, snapshotStats } from './stats.js';
import { listenTcp } from './tcp.js';

export { DEFAULT_CONFIG, DEFAULT_TCP_PORT, type ServerConfig } from './config.js';
export type { ServerStats, StreamStats, ViewerStats } from './stats.js';

/** Options of {@link startServer}: any config field, plus where log lines go. */
export type ServerOptions = Partial<ServerConfig> & { log?: LogSink };

/** How long a graceful stop waits for clients to take their goodbye before cutting them. */
const SHUTDOWN_GRACE_MS = 2000;

/** A running relay server. */
export class RelayServer {
  readonly host: string;
  readonly tcpPort: number;
  private closed: Promise<void> | null = null;

  constructor(
    readonly relay: Relay,
    private readonly tcp: net.Server,
  ) {
    const address = tcp.address() as net.AddressInfo;
    this.host = address.address;
    this.tcpPort = address.port;
  }

  /** Counters for every room, stream and viewer, as the HTTP API and tests read them. */
  stats(): ServerStats {
    return snapshotStats(this.relay);
  }

  /** Graceful stop: tells every client FW_SHUTDOWN, waits briefly for them to go, then closes. */
  close(): Promise<void> {
    this.closed ??= (async () => {
      const { relay } = this;
      relay.log.info('shutdown', { connections: relay.connections.size });
      const listening = new Promise<void>((resolve) => this.tcp.close(() => resolve()));
      for (const conn of relay.connections) conn.fail('FW_SHUTDOWN', 'server is shutting down');
      const deadline = Date.now() + SHUTDOWN_GRACE_MS;
      while (relay.connections.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      for (const conn of relay.connections) conn.transport.destroy();
      await listening;
    })();
    return this.closed;
  }
}

/** Starts a relay listening on TCP; resolves once it accepts connections. */
export async function startServer(options: ServerOptions = {}): Promise<RelayServer> {
  const { log, ...overrides } = options;
  const config: ServerConfig = { ...DEFAULT_CONFIG, ...definedOnly(overrides) };
  const relay = new Relay(config, new Logger(log));
  const tcp = await listenTcp(relay, config.host, config.tcpPort);
  const server = new RelayServer(relay, tcp);
  relay.log.info('listening', { tcp: `${server.host}:${server.tcpPort}` });
  return server;
}

function definedOnly<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
