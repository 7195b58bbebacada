import { isIP } from 'node:net';
import os from 'node:os';
import { parseArgs } from 'node:util';
import { formatAddress } from '../protocol/address.js';
import {
  ClusterError,
  RecordDirError,
  type RelayServer,
  RevocationError,
  startServer,
  TlsConfigError,
} from '../server/index.js';
import { addressesToOpen, certificateNames } from '../server/ops/addresses.js';
import { secretFromEnv, WeakSecretError } from '../server/ops/auth.js';
import {
  DEFAULT_CONFIG,
  DEFAULT_HTTP_PORT,
  DEFAULT_METRICS_PORT,
  DEFAULT_TCP_PORT,
  type ServerConfig,
} from '../server/ops/config.js';
import { ConfigError, loadConfigFile } from '../server/ops/config-file.js';
import { Logger } from '../server/ops/log.js';
import { ensureSelfSignedCert, type SelfSignedCert, SelfSignedCertError } from '../server/ops/self-signed.js';
import { defaultStateDir } from '../server/ops/state-dir.js';
import { chooseTlsMode } from '../server/ops/tls-mode.js';
import { parsePort, withUsage } from './args.js';
import { aborted, type CliContext, type Command } from './command.js';
import { parseDurationMs } from './duration.js';
import { CliError, usageError } from './errors.js';
import {
  parseWorkers,
  reportListening,
  runPrimary,
  shareMetrics,
  type WorkerListening,
  workerRole,
  workerStopSignal,
} from './serve-workers.js';

const USAGE = `Usage: framewire serve [--host H] [--tcp-port P] [--http-port P]
                       [--tls-cert FILE --tls-key FILE | --no-tls] [--state-dir DIR]
                       [--record DIR [--record-segment 10m]] [--metrics-host H [--metrics-port P]]
                       [--webrtc-port P] [--webrtc-public-ip IP] [--config FILE]
                       [--cluster nats://H:4222[,nats://...] [--node-name N] [--advertise H:P]]
                       [--workers N|auto] [--link-ca FILE] [--public-url URL]

Runs the relay server until Ctrl-C (or SIGTERM), then tells clients it is shutting down and exits.
Once it listens it prints \`framewire listening on tcp://H:P\` (\`tls://H:P\` with TLS), then a line
with the HTTP address (web app, JSON API, WebSocket). Log lines go to stderr.

TLS: on 127.0.0.1 (the default) the ports are plain: a browser on this machine treats http://127.0.0.1
as secure. On any other --host (0.0.0.0 included) they speak TLS, since a page opened over plain http://
from another machine gets no camera and no video codecs: with --tls-cert/--tls-key when given, else with
a self-signed certificate that serve makes and keeps in --state-dir (reused on restart while valid and
naming this machine's addresses). Then it also prints the https:// addresses to open from other machines,
the certificate file and its SHA-256 fingerprint: the browser asks once to trust it, and CLI clients pass
the file as --ca.

Flags:
  --host H         address to listen on (default 127.0.0.1; 0.0.0.0 for every interface)
  --tcp-port P     TCP port of the socket protocol (default ${DEFAULT_TCP_PORT}; 0 = any free port)
  --http-port P    HTTP port of the web app, API and WebSocket (default ${DEFAULT_HTTP_PORT}; 0 = any free port)
  --tls-cert FILE  PEM certificate (chain) of the server; with --tls-key, the TCP port speaks TLS and the
                   HTTP port HTTPS and WSS (no plain fallback). Clients then use --server tls://H:P
  --tls-key FILE   PEM private key of --tls-cert
  --no-tls         plain TCP and HTTP on any --host, e.g. behind a proxy that does TLS (not with --tls-cert)
  --state-dir DIR  where the self-signed certificate (DIR/tls/) and, with a secret, the revoked tokens
                   (DIR/revoked-tokens.jsonl) are kept (default $XDG_STATE_HOME/framewire, else
                   ~/.local/state/framewire)
  --record DIR     record every stream to DIR/<room>/<name>-<UTC time>.webm (VP8/VP9/AV1) or .mp4 (H.264);
                   the API can stop and restart a stream's recording. Ctrl-C/SIGTERM finalise the files;
                   after a crash or kill -9 a file still plays up to its last keyframe
  --record-segment D  go on in a new file every D of recording (at a keyframe), so no file grows
                   without end: 10m (default), 90s, 1h; 0 = one file per recording
  --metrics-host H  also serve GET /metrics, and nothing else, on H (e.g. 127.0.0.1 for a local
                   Prometheus) over plain HTTP with no token; with a secret, /metrics on the HTTP port
                   takes an admin token (\`framewire token --admin\`)
  --metrics-port P  port of that listener (default ${DEFAULT_METRICS_PORT}; 0 = any free port); given
                   alone, the listener is on 127.0.0.1
  --webrtc-port P  UDP port every WebRTC session (WHIP publish, WHEP play) shares (default 7483; 0 =
                   any free port); open it in the firewall
  --webrtc-public-ip IP  address WHIP/WHEP answers name first, for a server behind NAT (its public
                   address, with the UDP port forwarded)
  --cluster URLS   join a cluster of relay nodes coordinated by these NATS servers (nats-server -js),
                   comma-separated: a room spans the nodes, names are unique across them, and a node
                   pulls another's stream over a direct link while it has viewers for it.
                   NATS credentials come from the environment: FRAMEWIRE_NATS_USER and
                   FRAMEWIRE_NATS_PASSWORD, or FRAMEWIRE_NATS_TOKEN; FRAMEWIRE_NATS_CA names a PEM CA
                   file to trust for tls:// NATS servers
  --node-name N    this node's name in the cluster (default: host name and a random suffix)
  --advertise H:P  the address other nodes dial for this node's streams (default: the TCP listen
                   address; set it when listening on 0.0.0.0 or behind NAT). Links speak TLS when the
                   TCP port does (--tls-cert), else plain TCP: keep those on a private network
  --public-url URL  where browsers reach this node's HTTP port (default: its listen address), told to
                   pages of the cluster so they go on at this node when theirs goes
  --link-ca FILE   PEM CA to trust for links to other nodes' TLS ports, beyond the system's (the CA
                   that signed every node's --tls-cert)
  --workers N|auto  run N relay processes (auto: one per core) sharing the ports, each a cluster node of
                   the others, so a room spans them all: connections are handed to the workers in turn.
                   They coordinate through --cluster's NATS, or through a nats-server that serve starts
                   (on PATH: apt-get install nats-server). --advertise is then a host alone; worker i
                   takes WebRTC UDP port P+i. A worker that dies is replaced; its clients reconnect.
                   The --metrics-host listener is then the primary's, summing every worker's metrics
  --config FILE    JSON object of settings (limits, queue bounds, ports...); flags win over the file.
                   Every setting and its default: docs/operations.md

Access: with FRAMEWIRE_SECRET set (32+ bytes), every client needs a token from \`framewire token\`, for
watching and publishing and for every read of the API (see docs/security.md); tokens revoked with
\`framewire token --revoke\` are kept in --state-dir. Without a secret the server is open to anyone who
can reach it (the default, on 127.0.0.1).
  -h, --help       show this help
`;

// Listen failures said in words, with the fix.
const LISTEN_ERRORS: Record<string, string> = {
  EADDRINUSE: 'the port is in use: stop the other server or pick another FLAG (0 = any free port)',
  EACCES: 'permission denied: use a FLAG above 1023',
  EADDRNOTAVAIL: 'no such address on this machine: use --host 127.0.0.1 or 0.0.0.0',
  ENOTFOUND: 'unknown host name: use --host 127.0.0.1 or 0.0.0.0',
};

async function run(argv: string[], ctx: CliContext): Promise<number> {
  const flags = withUsage(
    'serve',
    () =>
      parseArgs({
        args: argv,
        strict: true,
        allowPositionals: false,
        options: {
          host: { type: 'string' },
          'tcp-port': { type: 'string' },
          'http-port': { type: 'string' },
          'tls-cert': { type: 'string' },
          'tls-key': { type: 'string' },
          'no-tls': { type: 'boolean' },
          'state-dir': { type: 'string' },
          record: { type: 'string' },
          'record-segment': { type: 'string' },
          'metrics-host': { type: 'string' },
          'metrics-port': { type: 'string' },
          'webrtc-port': { type: 'string' },
          'webrtc-public-ip': { type: 'string' },
          cluster: { type: 'string' },
          'node-name': { type: 'string' },
          advertise: { type: 'string' },
          workers: { type: 'string' },
          'link-ca': { type: 'string' },
          'public-url': { type: 'string' },
          config: { type: 'string' },
        },
      }).values,
    argv,
  );
  let file: Partial<ServerConfig> = {};
  if (flags.config !== undefined) {
    try {
      file = await loadConfigFile(flags.config);
    } catch (err) {
      if (err instanceof ConfigError) throw new CliError(err.message);
      throw err;
    }
  }
  const host = flags.host ?? file.host ?? DEFAULT_CONFIG.host;
  const tcpPort =
    flags['tcp-port'] === undefined
      ? (file.tcpPort ?? DEFAULT_TCP_PORT)
      : parsePort('serve', 'tcp-port', flags['tcp-port']);
  const httpPort =
    flags['http-port'] === undefined
      ? (file.httpPort ?? DEFAULT_HTTP_PORT)
      : parsePort('serve', 'http-port', flags['http-port']);
  // Either flag asks for the listener; the port alone puts it on loopback, the safe place for no token.
  const metricsHost =
    flags['metrics-host'] ?? file.metricsHost ?? (flags['metrics-port'] !== undefined ? '127.0.0.1' : null);
  if (metricsHost === '') throw usageError('serve', '--metrics-host needs an address, e.g. 127.0.0.1');
  const metricsPort =
    flags['metrics-port'] === undefined
      ? (file.metricsPort ?? DEFAULT_METRICS_PORT)
      : parsePort('serve', 'metrics-port', flags['metrics-port']);
  let webrtcPort =
    flags['webrtc-port'] === undefined
      ? (file.webrtcPort ?? DEFAULT_CONFIG.webrtcPort)
      : parsePort('serve', 'webrtc-port', flags['webrtc-port']);
  const webrtcPublicIp = flags['webrtc-public-ip'] ?? file.webrtcPublicIp ?? null;
  if (webrtcPublicIp !== null && isIP(webrtcPublicIp) !== 4)
    throw usageError('serve', '--webrtc-public-ip needs an IPv4 address, e.g. 203.0.113.7');
  const noTls = flags['no-tls'] === true;
  if (noTls && (flags['tls-cert'] !== undefined || flags['tls-key'] !== undefined)) {
    const tlsFlag = flags['tls-cert'] !== undefined ? '--tls-cert' : '--tls-key';
    throw usageError(
      'serve',
      `--no-tls (plain TCP and HTTP) and ${tlsFlag} (TLS) cannot go together: keep one`,
    );
  }
  // Flags win over the file: --no-tls also sets aside a tlsCert/tlsKey given there.
  let tlsCert = noTls ? null : (flags['tls-cert'] ?? file.tlsCert ?? null);
  let tlsKey = noTls ? null : (flags['tls-key'] ?? file.tlsKey ?? null);
  const stateDir = flags['state-dir'] ?? file.stateDir ?? defaultStateDir();
  if (stateDir === '') throw usageError('serve', '--state-dir needs a folder name');
  const recordDir = flags.record ?? file.recordDir ?? null;
  if (recordDir === '') throw usageError('serve', '--record needs a folder name');
  const recordSegmentMs =
    flags['record-segment'] === undefined
      ? (file.recordSegmentMs ?? DEFAULT_CONFIG.recordSegmentMs)
      : parseDurationMs('serve', 'record-segment', flags['record-segment']);
  if ((tlsCert === null) !== (tlsKey === null)) {
    // Refused rather than served in clear: the operator asked for TLS.
    const [has, lacks] = tlsCert !== null ? ['--tls-cert', '--tls-key'] : ['--tls-key', '--tls-cert'];
    throw usageError(
      'serve',
      `${has} needs ${lacks} too (TLS takes a certificate and its private key, as flags or as tlsCert and tlsKey in the config file)`,
    );
  }
  let secret: string | null;
  try {
    // The environment wins over the file: secrets are better kept out of config files.
    secret = secretFromEnv() ?? file.secret ?? null;
  } catch (err) {
    throw new CliError((err as Error).message);
  }
  const role = workerRole();
  // A worker's lines say which worker wrote them: they all go to the one terminal.
  const tag = role === null ? '' : ` worker=${role.index}`;
  const sink = (line: string) => ctx.stderr.write(`${line}${tag}\n`);
  let selfSigned: SelfSignedCert | null = null;
  if (chooseTlsMode({ host, certGiven: tlsCert !== null, noTls }) === 'self-signed') {
    selfSigned = await selfSignedCert(host, stateDir, new Logger(sink));
    tlsCert = selfSigned.certFile;
    tlsKey = selfSigned.keyFile;
  }
  const workers = parseWorkers(flags.workers);
  const joined = clusterFlags(flags.cluster, flags['node-name'], flags.advertise, workers > 1);
  // Checked here, in the primary too, so a mistake is said once and not by every worker.
  const extras = clusterExtras(flags, joined !== undefined || workers > 1);
  if (workers > 1 && role === null) {
    return runPrimary(
      {
        workers,
        nats: joined?.servers ?? null,
        nodeName: flags['node-name'] ?? null,
        log: new Logger(sink),
        metrics: metricsHost === null ? null : { host: metricsHost, port: metricsPort },
        printListening: (first) => printListening(ctx, first, selfSigned),
      },
      ctx,
    );
  }
  let cluster = joined && { ...joined, ...extras };
  if (role !== null) {
    // Each worker its own links' listener (the public ports are shared) and its own WebRTC UDP port.
    const peerHost = flags.advertise ?? '127.0.0.1';
    const peerListen = { host: peerHost, port: 0 };
    cluster = { servers: role.nats, nodeName: role.nodeName, peerListen, ...extras };
    if (webrtcPort !== 0) webrtcPort += role.index;
  }
  let server: RelayServer;
  try {
    server = await startServer({
      cluster,
      ...file,
      secret,
      host,
      tcpPort,
      httpPort,
      tlsCert,
      tlsKey,
      recordDir,
      recordSegmentMs,
      stateDir,
      // A worker serves no metrics listener: the primary serves them all, summed.
      metricsHost: role === null ? metricsHost : null,
      metricsPort,
      webrtcPort,
      webrtcPublicIp,
      log: sink,
    });
  } catch (err) {
    if (
      err instanceof WeakSecretError ||
      err instanceof TlsConfigError ||
      err instanceof RecordDirError ||
      err instanceof RevocationError ||
      err instanceof ClusterError ||
      err instanceof ConfigError
    )
      throw new CliError(err.message);
    const { code, port } = err as NodeJS.ErrnoException & { port?: number };
    const fix = code ? LISTEN_ERRORS[code] : undefined;
    if (fix && metricsHost !== null && port === metricsPort && port !== httpPort && port !== tcpPort) {
      const where = `http://${formatAddress(metricsHost, metricsPort)}`;
      throw new CliError(
        `cannot listen on ${where}: ${fix.replace('FLAG', '--metrics-port').replace('--host', '--metrics-host')}`,
      );
    }
    if (fix) {
      // Both listeners share the host; the failing port says which flag to change.
      const http = port === httpPort && port !== tcpPort;
      const scheme = tlsCert === null ? (http ? 'http' : 'tcp') : http ? 'https' : 'tls';
      const where = `${scheme}://${formatAddress(host, http ? httpPort : tcpPort)}`;
      throw new CliError(
        `cannot listen on ${where}: ${fix.replace('FLAG', http ? '--http-port' : '--tcp-port')}`,
      );
    }
    throw err;
  }
  const listening: WorkerListening = {
    type: 'listening',
    node: server.cluster?.nodeName ?? '',
    tcpUrl: server.tcpUrl,
    httpUrl: server.httpUrl,
    metricsUrl: server.metricsUrl,
    host: server.host,
    tcpPort: server.tcpPort,
    httpPort: server.httpPort,
  };
  // A worker's primary prints the addresses once for all of them.
  if (role === null) printListening(ctx, listening, selfSigned);
  else {
    if (server.metricsRegistry) shareMetrics(server.metricsRegistry);
    reportListening(listening);
  }
  await aborted(role === null ? ctx.signal : workerStopSignal(ctx.signal));
  await server.close();
  // The channel to the primary would keep a worker's process alive after its server has closed.
  if (role !== null) process.disconnect?.();
  return 0;
}

/** What a person and a script need once the server listens: the addresses, and the certificate if self-made. */
function printListening(ctx: CliContext, at: WorkerListening, selfSigned: SelfSignedCert | null): void {
  // The first line is the contract scripts and tests read; keep its form (tcp:// or tls://).
  ctx.stdout.write(`framewire listening on ${at.tcpUrl}\n`);
  ctx.stdout.write(`framewire web app and API on ${at.httpUrl}\n`);
  if (at.metricsUrl !== null) ctx.stdout.write(`framewire metrics (no token) on ${at.metricsUrl}\n`);
  if (selfSigned !== null) ctx.stdout.write(selfSignedNotice(at, selfSigned));
}

/** The kept (or a new) self-made certificate naming every address of this machine and `host`. */
async function selfSignedCert(host: string, stateDir: string, log: Logger): Promise<SelfSignedCert> {
  try {
    return await ensureSelfSignedCert({
      stateDir,
      names: certificateNames(host, os.networkInterfaces(), os.hostname()),
      // Browsers show it on their warning page: it tells which machine the certificate is for.
      commonName: `framewire on ${os.hostname()}`,
      log,
    });
  } catch (err) {
    if (err instanceof SelfSignedCertError) throw new CliError(err.message);
    throw err;
  }
}

/**
 * What a person needs to reach a server on its self-made certificate: where to point a browser from
 * another machine, which certificate the browser will show (to compare before trusting it), and what CLI
 * clients pass.
 */
function selfSignedNotice(
  server: { host: string; httpPort: number; tcpPort: number },
  cert: SelfSignedCert,
): string {
  const hosts = addressesToOpen(server.host, os.networkInterfaces());
  const lines = hosts.map(
    (h) => `framewire open from other machines: https://${formatAddress(h, server.httpPort)}`,
  );
  if (hosts.length === 0) {
    lines.push('framewire open from other machines: none found (this machine has no network address now)');
  }
  const cliHost = hosts[0] ?? '127.0.0.1';
  lines.push(
    `framewire TLS certificate (self-signed by framewire, valid until ${cert.validTo.toISOString().slice(0, 10)}): ${cert.certFile}`,
    `framewire certificate SHA-256 fingerprint: ${cert.fingerprint256}`,
    'framewire browsers warn once about it: check the fingerprint, then Advanced -> Proceed (or install the certificate file)',
    `framewire CLI clients: --server tls://${formatAddress(cliHost, server.tcpPort)} --ca ${cert.certFile}`,
  );
  return `${lines.join('\n')}\n`;
}

/** `framewire serve`: the relay server. */
export const serveCommand: Command = {
  name: 'serve',
  summary: 'run the relay server',
  usage: USAGE,
  run,
};

type ClusterExtras = Pick<
  NonNullable<ServerConfig['cluster']>,
  'natsAuth' | 'natsCaFile' | 'publicUrl' | 'linkCaFile'
>;

/** --public-url, --link-ca and the NATS credentials (see natsCredentials), for a node of a cluster only. */
function clusterExtras(
  flags: { 'public-url'?: string; 'link-ca'?: string },
  inCluster: boolean,
): ClusterExtras {
  const publicUrl = flags['public-url'];
  const linkCaFile = flags['link-ca'];
  if (!inCluster) {
    if (publicUrl !== undefined || linkCaFile !== undefined)
      throw usageError(
        'serve',
        `--${publicUrl !== undefined ? 'public-url' : 'link-ca'} needs --cluster (or --workers)`,
      );
    return {};
  }
  if (publicUrl !== undefined && !/^https?:\/\/[^\s/]+\/?$/.test(publicUrl))
    throw usageError(
      'serve',
      `--public-url "${publicUrl}": give http(s)://HOST:PORT, e.g. https://m1.example:7480`,
    );
  return {
    ...natsCredentials(process.env),
    ...(publicUrl === undefined ? {} : { publicUrl: publicUrl.replace(/\/$/, '') }),
    ...(linkCaFile === undefined ? {} : { linkCaFile }),
  };
}

/** NATS credentials and CA from the environment (secrets stay out of `ps` and config files). */
function natsCredentials(
  env: NodeJS.ProcessEnv,
): Pick<NonNullable<ServerConfig['cluster']>, 'natsAuth' | 'natsCaFile'> {
  const { FRAMEWIRE_NATS_USER: user, FRAMEWIRE_NATS_PASSWORD: pass, FRAMEWIRE_NATS_TOKEN: token } = env;
  if ((user === undefined) !== (pass === undefined))
    throw new CliError('FRAMEWIRE_NATS_USER and FRAMEWIRE_NATS_PASSWORD go together: set both, or neither');
  if (token !== undefined && user !== undefined)
    throw new CliError('set FRAMEWIRE_NATS_TOKEN or FRAMEWIRE_NATS_USER/PASSWORD, not both');
  const natsAuth =
    token !== undefined ? { token } : user !== undefined ? { user, pass: pass as string } : undefined;
  const natsCaFile = env.FRAMEWIRE_NATS_CA;
  return { ...(natsAuth ? { natsAuth } : {}), ...(natsCaFile ? { natsCaFile } : {}) };
}

/**
 * The cluster settings from --cluster, --node-name and --advertise; undefined without --cluster. With
 * `workers`, --advertise is a host alone (each worker advertises its own port on it) and --cluster may be
 * left out (the primary starts a NATS).
 */
function clusterFlags(
  servers: string | undefined,
  nodeName: string | undefined,
  advertise: string | undefined,
  workers: boolean,
): ServerConfig['cluster'] | undefined {
  if (workers && advertise !== undefined && /:\d+$/.test(advertise) && isIP(advertise) === 0) {
    throw usageError(
      'serve',
      `--advertise with --workers is a host alone (each worker has its own port): not "${advertise}"`,
    );
  }
  if (servers === undefined) {
    if (workers) return undefined;
    if (nodeName !== undefined || advertise !== undefined) {
      throw usageError('serve', `--${nodeName !== undefined ? 'node-name' : 'advertise'} needs --cluster`);
    }
    return undefined;
  }
  const list = servers
    .split(',')
    .map((u) => u.trim())
    .filter((u) => u !== '');
  if (list.length === 0)
    throw usageError('serve', '--cluster needs a NATS address, e.g. nats://127.0.0.1:4222');
  return { servers: list, nodeName, advertise: workers ? undefined : advertise };
}
