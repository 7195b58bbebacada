import { randomBytes, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { isWildcardHost } from '../ops/addresses.js';

/** How a server joins a cluster (`serve --cluster`); absent or null: a single node, no NATS. */
export interface ClusterConfig {
  /** NATS servers to coordinate through (`nats://host:4222`); the client tries them in turn. */
  servers: string[];
  /** This node's name in the cluster, unique in it; defaults to the host name and a random suffix. */
  nodeName?: string;
  /**
   * `host:port` other nodes dial to pull this node's streams (its protocol port as they reach it); defaults
   * to the TCP listen address, which is right on one machine and wrong behind NAT or on 0.0.0.0.
   */
  advertise?: string;
  /**
   * A listener of this node's own for other nodes' links (port 0: any free one), beside its public ports: plain TCP,
   * listening even where the public ports are shared (`serve --workers`: every worker takes the same public
   * ports, so a link dialled there could land on any of them) or speak TLS. `advertise` defaults to it.
   */
  peerListen?: { host: string; port: number };
  /**
   * Where browsers reach this node's HTTP port (`https://m1.example:7480`), told to pages so that they can
   * move to it when their node goes; default: the HTTP listen address (or `advertise`'s host on 0.0.0.0).
   */
  publicUrl?: string;
  /** NATS credentials (a server run with `--user`/`--pass`, or `--auth`): `serve` reads them from the environment. */
  natsAuth?: { user: string; pass: string } | { token: string };
  /** PEM CA file to trust for `tls://` NATS servers beyond the system's (a private CA). */
  natsCaFile?: string;
  /**
   * PEM CA file to trust, beyond the system's, for links to nodes whose protocol port speaks TLS (the CA
   * that signed every node's certificate). A node with TLS on its protocol port takes links over TLS.
   */
  linkCaFile?: string;
  /** How long a pull stays up after its last local viewer left, so a viewer who reloads starts at once. */
  lingerMs?: number;
  /** How often this node renews its presence. */
  heartbeatMs?: number;
  /** A node silent this long is lost: its streams end on every other node (`node-lost`). */
  nodeTimeoutMs?: number;
}

/** The cluster settings with every default filled in (the peer listener is the server's, not the cluster's). */
export type ClusterSettings = Required<
  Omit<ClusterConfig, 'peerListen' | 'natsAuth' | 'natsCaFile' | 'linkCaFile' | 'publicUrl'>
> & {
  /** The CA of `linkCaFile`, read once; null for the system's. */
  linkCa: Buffer | null;
};

/** A cluster node name: what it may be (it is a NATS key, and appears in logs and the API). */
export const NODE_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;

/**
 * The defaults: a dead node's streams end everywhere within 3 s (2.5 s of silence, found within a quarter
 * of a heartbeat), four beats missed before that, so a node busy for a second is not taken for dead; a
 * pull kept 5 s after its last viewer.
 */
export const CLUSTER_DEFAULTS = { lingerMs: 5000, heartbeatMs: 500, nodeTimeoutMs: 2500 } as const;

/** Why a node cannot join its cluster: a setting that cannot be used, or NATS out of reach. */
export class ClusterError extends Error {
  override readonly name = 'ClusterError';
  constructor(
    readonly code: 'FW_BAD_CONFIG' | 'FW_CLUSTER_UNREACHABLE',
    message: string,
  ) {
    super(message);
  }
}

/** Fills in the defaults of `config` (advertise from `listening`, the TCP listen address) and checks it. */
export function clusterSettings(config: ClusterConfig, listening: string): ClusterSettings {
  const s: ClusterSettings = {
    servers: config.servers,
    nodeName: config.nodeName ?? defaultNodeName(),
    advertise: config.advertise ?? listening,
    lingerMs: config.lingerMs ?? CLUSTER_DEFAULTS.lingerMs,
    heartbeatMs: config.heartbeatMs ?? CLUSTER_DEFAULTS.heartbeatMs,
    nodeTimeoutMs: config.nodeTimeoutMs ?? CLUSTER_DEFAULTS.nodeTimeoutMs,
    linkCa: config.linkCaFile === undefined ? null : readCa(config.linkCaFile),
  };
  if (s.servers.length === 0)
    throw new ClusterError('FW_BAD_CONFIG', 'cluster: give at least one NATS server');
  for (const url of s.servers) {
    if (!/^(nats|tls):\/\/[^\s/]+$/.test(url))
      throw new ClusterError(
        'FW_BAD_CONFIG',
        `cluster: ${JSON.stringify(url)} is not a NATS address (nats://HOST:4222)`,
      );
  }
  if (!NODE_NAME_PATTERN.test(s.nodeName)) {
    throw new ClusterError(
      'FW_BAD_CONFIG',
      `cluster: node name ${JSON.stringify(s.nodeName)} must be 1-64 of A-Z a-z 0-9 _ - (starting with a letter or digit)`,
    );
  }
  parseHostPort(s.advertise);
  // The heartbeat must fit several times into the timeout, or one late beat loses a live node.
  if (s.heartbeatMs < 100 || s.nodeTimeoutMs < 2 * s.heartbeatMs) {
    throw new ClusterError(
      'FW_BAD_CONFIG',
      'cluster: nodeTimeoutMs must be at least twice heartbeatMs (>= 100 ms)',
    );
  }
  if (!Number.isInteger(s.lingerMs) || s.lingerMs < 0)
    throw new ClusterError('FW_BAD_CONFIG', 'cluster: lingerMs must be a whole number of ms, 0 or more');
  return s;
}

/**
 * Where browsers reach a node's HTTP port when `publicUrl` is not given: its listen address, or on a
 * wildcard (0.0.0.0, ::) the host of its link address, which other machines reach.
 */
export function defaultPublicUrl(
  listenHost: string,
  advertise: string,
  httpPort: number,
  tls: boolean,
): string {
  const host = isWildcardHost(listenHost) ? parseLinkAddress(advertise).host : listenHost;
  const shown = host.includes(':') ? `[${host}]` : host;
  return `${tls ? 'https' : 'http'}://${shown}:${httpPort}`;
}

/** Reads a PEM CA file for links; a ClusterError naming the file when it cannot be read or is not one. */
function readCa(file: string): Buffer {
  let pem: Buffer;
  try {
    pem = readFileSync(file);
  } catch (err) {
    throw new ClusterError(
      'FW_BAD_CONFIG',
      `cluster: cannot read the link CA ${file}: ${(err as NodeJS.ErrnoException).code}`,
    );
  }
  try {
    new X509Certificate(pem);
  } catch {
    throw new ClusterError('FW_BAD_CONFIG', `cluster: the link CA ${file} is not a PEM certificate`);
  }
  return pem;
}

/**
 * Where a directory entry says to dial: `host:port` for plain TCP, `tls://host:port` when the origin's
 * protocol port speaks TLS. Throws a {@link ClusterError} when it is neither.
 */
export function parseLinkAddress(address: string): { host: string; port: number; tls: boolean } {
  const tls = address.startsWith('tls://');
  return { ...parseHostPort(tls ? address.slice('tls://'.length) : address), tls };
}

/** Splits `host:port` (`[v6]:port` too); throws a {@link ClusterError} when it is not one. */
export function parseHostPort(address: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:\s]+)):(\d{1,5})$/.exec(address);
  const port = m ? Number(m[3]) : 0;
  if (!m || port < 1 || port > 65535) {
    throw new ClusterError(
      'FW_BAD_CONFIG',
      `cluster: advertise address ${JSON.stringify(address)} is not HOST:PORT`,
    );
  }
  return { host: (m[1] ?? m[2]) as string, port };
}

/** A node name for this machine: its host name and a random suffix. */
export function defaultNodeName(): string {
  const host = hostname()
    .replace(/[^A-Za-z0-9_-]/g, '-')
    .replace(/^[^A-Za-z0-9]+/, '')
    .slice(0, 50);
  return `${host || 'node'}-${randomBytes(3).toString('hex')}`;
}
