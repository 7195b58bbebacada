import http from 'node:http';
import https from 'node:https';
import { describeError } from '../core/log.js';
import type { Relay } from '../core/relay.js';
import { secureServer, type TlsCredentials } from '../transport/tls.js';
import type { WsEndpoint } from '../transport/ws.js';
import { sendError } from './reply.js';
import type { HttpRouter } from './router.js';

/**
 * The HTTP side of the server: the router's routes (JSON API, live video, ingest, metrics, the web app's
 * files) and WebSocket upgrades. With credentials it is HTTPS (and the WebSocket endpoint WSS) on the
 * same port, with no plain fallback. No request can throw past it: a route's failure is a 500 with its
 * stack in the log, and the server goes on serving everyone else.
 */
export function createHttpServer(
  relay: Relay,
  router: HttpRouter,
  ws: WsEndpoint,
  credentials: TlsCredentials | null = null,
): http.Server {
  /** Responses not yet finished, per socket: an upgrade must not overtake them (see 'upgrade' below). */
  const unanswered = new WeakMap<object, number>();
  const onRequest = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    const { socket } = req;
    unanswered.set(socket, (unanswered.get(socket) ?? 0) + 1);
    res.once('close', () => unanswered.set(socket, (unanswered.get(socket) ?? 1) - 1));
    router.dispatch(req, res).catch((err: unknown) => {
      relay.log.error('http-error', {
        method: req.method,
        // The target as sent, bounded: it is client input and may be anything.
        target: (req.url ?? '').slice(0, 200),
        error: describeError(err),
      });
      if (res.headersSent) res.destroy();
      else sendError(res, 500, 'FW_INTERNAL', 'internal error');
    });
  };
  const server: http.Server = credentials
    ? secureServer(
        (options) => https.createServer(options, onRequest),
        credentials,
        relay.config.helloTimeoutMs,
        relay.log,
        'http',
      )
    : http.createServer(onRequest);
  server.on('upgrade', (req, socket, head) => {
    // The socket is ours from here: without a listener, a peer's reset would be an uncaught 'error'.
    socket.on('error', () => {});
    // An upgrade pipelined behind a request still being answered would put its 101 before that answer,
    // and the answer inside the WebSocket stream. No browser pipelines; such a client is cut.
    if ((unanswered.get(socket) ?? 0) > 0) {
      socket.destroy();
      return;
    }
    ws.handleUpgrade(req, socket, head);
  });
  // Expect: 100-continue: an ingest sends 100 only once it accepts the stream, so ffmpeg can print a refusal
  // (-send_expect_100 1); every other request continues at once, as Node does by default.
  server.on('checkContinue', (req, res) => {
    if (!req.url?.startsWith('/ingest/')) res.writeContinue();
    onRequest(req, res);
  });
  // Idle keep-alive sockets must not hold a graceful shutdown open.
  server.keepAliveTimeout = 5000;
  // Node's 5-minute limit on a whole request would cut live ingest bodies; ingests time out when idle instead.
  server.requestTimeout = 0;
  return server;
}

/**
 * The metrics listener (`metricsHost`): plain HTTP, only `router`'s routes (GET /metrics), nothing else
 * (no web app, no WebSocket). Like the main server, a route's failure is a 500 and the server goes on.
 */
export function createMetricsServer(relay: Relay, router: HttpRouter): http.Server {
  const server = http.createServer((req, res) => {
    router.dispatch(req, res).catch((err: unknown) => {
      relay.log.error('http-error', { target: (req.url ?? '').slice(0, 200), error: describeError(err) });
      if (res.headersSent) res.destroy();
      else sendError(res, 500, 'FW_INTERNAL', 'internal error');
    });
  });
  // An upgrade here has nothing to reach: without a listener Node would leave the socket open.
  server.on('upgrade', (_req, socket) => socket.destroy());
  server.keepAliveTimeout = 5000;
  return server;
}
