import http from 'node:http';
import https from 'node:https';
import type { Relay } from '../core/relay.js';
import { logTlsClientErrors, type TlsCredentials, tlsServerOptions } from '../transport/tls.js';
import type { WsEndpoint } from '../transport/ws.js';
import { type HttpRoute, notFound, sendError } from './reply.js';

/**
 * The HTTP side of the server: each route in turn (JSON API, live video, ingest, metrics, the web app's
 * files), and WebSocket upgrades. With credentials it is HTTPS (and the WebSocket endpoint WSS) on the
 * same port, with no plain fallback.
 */
export function createHttpServer(
  relay: Relay,
  routes: readonly HttpRoute[],
  ws: WsEndpoint,
  credentials: TlsCredentials | null = null,
): http.Server {
  const onRequest = async (req: http.IncomingMessage, res: http.ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    try {
      for (const route of routes) if (await route({ req, res, url })) return;
      notFound(res, url.pathname);
    } catch (err) {
      relay.log.error('http-error', { path: url.pathname, error: String(err) });
      if (!res.headersSent) sendError(res, 500, 'FW_INTERNAL', 'internal error');
      else res.destroy();
    }
  };
  let server: http.Server;
  if (credentials) {
    const httpsServer = https.createServer(
      tlsServerOptions(credentials, relay.config.helloTimeoutMs),
      onRequest,
    );
    logTlsClientErrors(httpsServer, relay.log, 'http');
    server = httpsServer;
  } else {
    server = http.createServer(onRequest);
  }
  server.on('upgrade', (req, socket, head) => ws.handleUpgrade(req, socket, head));
  // Expect: 100-continue: an ingest sends 100 only once it accepts the stream, so ffmpeg can print a refusal
  // (-send_expect_100 1); every other request continues at once, as Node does by default.
  server.on('checkContinue', (req, res) => {
    if (!req.url?.startsWith('/ingest/')) res.writeContinue();
    void onRequest(req, res);
  });
  // Idle keep-alive sockets must not hold a graceful shutdown open.
  server.keepAliveTimeout = 5000;
  // Node's 5-minute limit on a whole request would cut live ingest bodies; ingests time out when idle instead.
  server.requestTimeout = 0;
  return server;
}
