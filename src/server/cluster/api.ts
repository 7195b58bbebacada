import type { HttpGuard } from '../http/guard.js';
import { type HttpRoute, notFound, sendJson } from '../http/reply.js';
import type { Cluster } from './cluster.js';

/**
 * GET /api/cluster/nodes: where browsers reach each node of the cluster (none outside a cluster).
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
    {
      // Where a page may move when its node goes: any genuine token may read it (a page has one for its room).
      methods: ['GET', 'HEAD'],
      path: '/api/cluster/nodes',
      handle: async (request) => {
        if (!(await guard.token(request))) return;
        sendJson(request.res, 200, { nodes: cluster === null ? [] : cluster.nodeUrls() });
      },
    },
  ];
}
