import type { Relay } from '../../core/relay.js';
import { relayMetrics } from '../../ops/metrics.js';
import type { HttpRoute } from '../reply.js';

/** GET /metrics: the relay and process metrics in Prometheus text format (not access-controlled). */
export function metricsRoutes(relay: Relay): HttpRoute[] {
  const registry = relayMetrics(relay);
  return [
    {
      methods: ['GET', 'HEAD'],
      path: '/metrics',
      handle: async ({ res }) => {
        const body = await registry.metrics();
        res.writeHead(200, {
          'content-type': registry.contentType,
          'content-length': Buffer.byteLength(body),
          'cache-control': 'no-store',
        });
        res.end(body);
      },
    },
  ];
}
