import http from 'node:http';
import https from 'node:https';
import type { Relay } from './relay.js';
import type { StaticFiles } from './static-files.js';
import { snapshotStats } from './stats.js';
import { logTlsClientErrors, type TlsCredentials, tlsServerOptions } from './tls.js';
import type { WsEndpoint } from './ws.js';

function sendJson(res: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
  });
  res.end(text);
}

function notFound(res: http.ServerResponse, what: string): void {
  sendJson(res, 404, { error: { code: 'FW_NOT_FOUND', message: `${what} not found` } });
}

/** The JSON API: GET /api/rooms and GET /api/rooms/:room. Returns false for paths outside /api/. */
function serveApi(relay: Relay, urlPath: string, res: http.ServerResponse): boolean {
  if (!urlPath.startsWith('/api/')) return false;
  const parts = urlPath.split('/').filter(Boolean); // ['api', 'rooms', room?]
  if (parts[1] !== 'rooms' || parts.length > 3) {
    notFound(res, urlPath);
    return true;
  }
  const stats = snapshotStats(relay);
  if (parts.length === 2) {
    sendJson(res, 200, { rooms: stats.rooms });
    return true;
  }
  const name = decodeURIComponent(parts[2] as string);
  const room = stats.rooms.find((r) => r.name === name);
  if (!room) {
    notFound(res, `room ${name}`);
    return true;
  }
  sendJson(res, 200, { ...room, streams: stats.streams.filter((s) => s.room === name) });
  return true;
}

/**
 * The HTTP side of the server: JSON API, WebSocket upgrades, and the web app's files. With credentials it
 * is HTTPS (and the WebSocket endpoint WSS) on the same port, with no plain fallback.
 */
export function createHttpServer(
  relay: Relay,
  files: StaticFiles,
  ws: WsEndpoint,
  credentials: TlsCredentials | null = null,
): http.Server {
  const onRequest = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    const urlPath = (req.url ?? '/').split('?')[0] as string;
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    try {
      if (serveApi(relay, urlPath, res)) return;
    } catch (err) {
      relay.log.error('http-error', { path: urlPath, error: String(err) });
      sendJson(res, 500, { error: { code: 'FW_INTERNAL', message: 'internal error' } });
      return;
    }
    files.serve(urlPath, res).then(
      (served) => {
        if (!served) notFound(res, urlPath);
      },
      (err: unknown) => {
        relay.log.error('http-error', { path: urlPath, error: String(err) });
        if (!res.headersSent)
          sendJson(res, 500, { error: { code: 'FW_INTERNAL', message: 'internal error' } });
        else res.destroy();
      },
    );
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
  // Idle keep-alive sockets must not hold a graceful shutdown open.
  server.keepAliveTimeout = 5000;
  return server;
}
