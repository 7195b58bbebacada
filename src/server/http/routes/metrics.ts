import type { Registry } from 'prom-client';
import type { HttpGuard } from '../guard.js';
import type { HttpRoute } from '../reply.js';

/**
 * GET /metrics: the relay and process metrics in Prometheus text format. On the public port (`guard`
 * given) it takes an admin token in token mode; on the metrics listener (`--metrics-host`, no guard) it
 * takes none: whoever can reach that address was chosen by the operator.
 */
export function metricsRoutes(registry: Registry, guard: HttpGuard | null): HttpRoute[] {
  return [
    {
      methods: ['GET', 'HEAD'],
      path: '/metrics',
      handle: async (request) => {
        if (guard !== null && !(await guard.admin(request))) return;
        const body = await registry.metrics();
        request.res.writeHead(200, {
          'content-type': registry.contentType,
          'content-length': Buffer.byteLength(body),
          'cache-control': 'no-store',
        });
        request.res.end(body);
      },
    },
  ];
}
