import { createReadStream, existsSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { ServerResponse } from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { type HttpRoute, refuseMethod } from './reply.js';

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.map': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8',
};

/**
 * Where the built web app is: dist/web next to the compiled server (dist/server), or, when the server runs
 * from its TypeScript sources, the repository's dist/web. Null if it has not been built.
 */
export function defaultWebRoot(): string | null {
  const here = path.dirname(fileURLToPath(import.meta.url));
  for (const candidate of [path.join(here, '../web'), path.join(here, '../../dist/web')]) {
    if (existsSync(path.join(candidate, 'index.html'))) return candidate;
  }
  return null;
}

/** Serves the built web app: files under `root`, and index.html for the app's own routes. */
export class StaticFiles {
  constructor(private readonly root: string | null) {}

  /** Answers GET `urlPath`; returns false when there is no such file (the caller sends 404). */
  async serve(urlPath: string, res: ServerResponse): Promise<boolean> {
    if (!this.root) {
      res.writeHead(503, { 'content-type': 'text/plain; charset=utf-8' });
      res.end('The web app is not built: run `npm run build` and restart the server.\n');
      return true;
    }
    // The app routes (`/`, `/r/<room>`) are all the same page; the app reads the path itself.
    const isAppRoute = urlPath === '/' || urlPath.startsWith('/r/');
    const relative = isAppRoute ? 'index.html' : decodeURIComponent(urlPath).replace(/^\/+/, '');
    const file = path.resolve(this.root, relative);
    // Refuse anything that resolves outside the web root (`..`, encoded or not).
    if (file !== this.root && !file.startsWith(this.root + path.sep)) return false;
    const info = await stat(file).catch(() => null);
    if (!info?.isFile()) return false;
    res.writeHead(200, {
      'content-type': CONTENT_TYPES[path.extname(file)] ?? 'application/octet-stream',
      'content-length': info.size,
      // Vite fingerprints everything under assets/, so those never change; the page itself always may.
      'cache-control': relative.startsWith('assets/') ? 'public, max-age=31536000, immutable' : 'no-cache',
    });
    createReadStream(file).pipe(res);
    return true;
  }
}

/** The web app's files, last in the route list: anything no other route claimed is a file or a 404. */
export function staticRoute(files: StaticFiles): HttpRoute {
  return async (request) => {
    if (refuseMethod(request, ['GET', 'HEAD'])) return true;
    return files.serve(request.url.pathname, request.res);
  };
}
