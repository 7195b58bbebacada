import FindMyWay, { type HTTPMethod } from 'find-my-way';
import { badName } from '../../protocol/index.js';
import { type HttpMethod, type HttpRequest, type HttpRoute, sendError } from './reply.js';

/** Every method some route may answer, in the order an `Allow` header lists them. */
const METHODS: readonly HttpMethod[] = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE'];

/**
 * Longest path parameter the router will match. Names are at most 64 characters; matching longer ones
 * lets the name check answer 400 for them, where a shorter bound would make them an unexplained 404.
 */
const MAX_PARAM_CHARS = 4096;

/** The parameters every route with them gets checked against the name rule before it runs. */
const NAME_PARAMS = { room: 'room', name: 'stream name' } as const;

/** What a request asks for: its path (still percent-encoded) and its query. */
export interface RequestTarget {
  path: string;
  query: URLSearchParams;
}

/**
 * The path and query of a request target, or null when it names no path we could serve: not
 * origin-form (`/…`) nor an http(s) absolute URL, or a path with a malformed `%` escape.
 */
export function parseTarget(raw: string): RequestTarget | null {
  let target = raw;
  if (!target.startsWith('/')) {
    // Absolute-form (`GET http://host/path`) is valid HTTP/1.1, sent to proxies; take its path.
    let url: URL;
    try {
      url = new URL(target);
    } catch {
      return null;
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') return null;
    target = url.pathname + url.search;
  }
  const q = target.indexOf('?');
  const path = q === -1 ? target : target.slice(0, q);
  // Checked once here, so no route can meet a URIError later and answer a client's typo with a 500.
  try {
    decodeURIComponent(path);
  } catch {
    return null;
  }
  return { path, query: new URLSearchParams(q === -1 ? '' : target.slice(q + 1)) };
}

/**
 * The HTTP port's routing: find-my-way matches a route by method and path (so the order routes are
 * given in does not matter), `:room` and `:name` are decoded once and checked against the name rule
 * (400 FW_BAD_NAME), a path some route answers with other methods is 405 with `Allow`, and any other
 * GET or HEAD goes to `fallback` (the web app's files).
 */
export class HttpRouter {
  private readonly router = FindMyWay({ maxParamLength: MAX_PARAM_CHARS });

  constructor(
    routes: readonly HttpRoute[],
    private readonly fallback: (request: HttpRequest) => void | Promise<void>,
  ) {
    // The route itself is the store; the router's own handler slot is unused.
    for (const route of routes) this.router.on(route.methods as HTTPMethod[], route.path, () => {}, route);
  }

  /** Answers one request through its route, or with 400, 404 or 405; rejects only when a route fails. */
  async dispatch(req: HttpRequest['req'], res: HttpRequest['res']): Promise<void> {
    const method = req.method ?? 'GET';
    const target = parseTarget(req.url ?? '/');
    if (!target) {
      sendError(res, 400, 'FW_BAD_REQUEST', 'the request target is not a path, or has a malformed %-escape');
      return;
    }
    const found = this.router.find(method as HTTPMethod, target.path);
    const request: HttpRequest = { req, res, path: target.path, params: {}, query: target.query };
    if (!found) {
      await this.unrouted(method, request);
      return;
    }
    const params = { ...found.params } as Record<string, string>;
    for (const [key, what] of Object.entries(NAME_PARAMS)) {
      const value = params[key];
      const bad = value === undefined ? undefined : badName(value, what);
      if (bad) {
        sendError(res, 400, 'FW_BAD_NAME', bad);
        return;
      }
    }
    await (found.store as HttpRoute).handle({ ...request, params });
  }

  /** No route answers `method` here: 405 when others are answered, else the files (GET, HEAD) or 405. */
  private async unrouted(method: string, request: HttpRequest): Promise<void> {
    const allowed = this.allowedMethods(request.path);
    if (allowed.length === 0 && (method === 'GET' || method === 'HEAD')) {
      await this.fallback(request);
      return;
    }
    // Any other path is a (possibly missing) file of the web app, which answers GET and HEAD.
    const allow = allowed.length > 0 ? allowed : ['GET', 'HEAD'];
    request.res.setHeader('allow', allow.join(', '));
    sendError(
      request.res,
      405,
      'FW_BAD_METHOD',
      `${request.path} answers ${allow.join(', ')}, not ${method}`,
    );
  }

  /** The methods the routes answer at `path`, in the order each route lists them. */
  private allowedMethods(path: string): string[] {
    const allowed = new Set<string>();
    for (const method of METHODS) {
      const route = this.router.find(method, path)?.store as HttpRoute | undefined;
      for (const m of route?.methods ?? []) allowed.add(m);
    }
    return [...allowed];
  }
}
