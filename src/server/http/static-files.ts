import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import sirv from 'sirv';
import { type HttpRequest, notFound } from './reply.js';

/**
 * Where the built web app is: dist/web next to the compiled server (dist/server), or, when the server runs
 * from its TypeScript sources, the repository's dist/web. Null if it has not been built.
 */
export function defaultWebRoot(): string | null {
  const here = path.dirname(fileURLToPath(import.meta.url));
  for (const candidate of [path.join(here, '../../web'), path.join(here, '../../../dist/web')]) {
    if (existsSync(path.join(candidate, 'index.html'))) return candidate;
  }
  return null;
}

/** Vite fingerprints everything under assets/, so those never change; the page itself always may. */
function cacheControl(pathname: string): string {
  return pathname.startsWith('/assets/') ? 'public, max-age=31536000, immutable' : 'no-cache';
}

/**
 * Serves the built web app (GET and HEAD): files under `root`, and index.html for the app's own routes
 * (`/`, `/r/<room>`: one page that reads the path itself). sirv lists the folder once, at start, and
 * answers only names from that list, so no path (`..`, encoded or not) can reach outside it; a rebuilt
 * app is served after a restart.
 */
export function staticFiles(root: string | null): (request: HttpRequest) => void {
  if (root === null) {
    return ({ res }) => {
      res.writeHead(503, { 'content-type': 'text/plain; charset=utf-8' });
      res.end('The web app is not built: run `npm run build` and restart the server.\n');
    };
  }
  const serve = sirv(root, {
    etag: true,
    setHeaders: (res, pathname) => res.setHeader('cache-control', cacheControl(pathname)),
  });
  return ({ req, res, path: urlPath }) => {
    if (urlPath === '/' || urlPath.startsWith('/r/')) req.url = '/index.html';
    // sirv trusts a Range header's numbers (a reversed range makes fs throw); the app never needs one.
    delete req.headers.range;
    serve(req, res, () => notFound(res, urlPath));
  };
}
