import type { HttpGuard } from '../http/guard.js';
import { type HttpRoute, notFound, sendJson } from '../http/reply.js';
import type { Cluster } from './cluster.js';

/**
 * GET /api/cluster: this node, the nodes it hears and the streams of theirs it carries (with link
 * counters). An admin token in token mode, like /metrics: node addresses are the operator's to know. A
 * server outside a cluster answers 404.
 */
export function clusterRoutes(cluster: Cluster | null, guard: HttpGuard): HttpRoute[] {
  return [
    {
      methods: ['GET', 'HEAD'],
      path: '/api/cluster',
      handle: async (request) => {
        if (!(await guard.admin(request))) return;
        if (cluster === null) {
          notFound(request.res, 'cluster (this server was started without --cluster)');
          return;
        }
        sendJson(request.res, 200, cluster.stats());
      },
    },
  ];
}
