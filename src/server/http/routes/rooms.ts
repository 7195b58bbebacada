import type { Relay } from '../../core/relay.js';
import { snapshotStats } from '../../ops/stats.js';
import { type HttpRoute, notFound, pathSegments, refuseMethod, sendJson } from '../reply.js';

/** The JSON API's read side: GET /api/rooms and GET /api/rooms/:room. */
export function apiRoute(relay: Relay): HttpRoute {
  return ({ req, res, url }) => {
    const parts = pathSegments(url.pathname);
    if (parts?.[0] !== 'api' || parts[1] !== 'rooms' || parts.length > 3) return false;
    if (refuseMethod({ req, res, url }, ['GET', 'HEAD'])) return true;
    const stats = snapshotStats(relay);
    if (parts.length === 2) {
      sendJson(res, 200, { rooms: stats.rooms });
      return true;
    }
    const name = parts[2] as string;
    const room = stats.rooms.find((r) => r.name === name);
    if (!room) {
      notFound(res, `room ${name}`);
      return true;
    }
    sendJson(res, 200, { ...room, streams: stats.streams.filter((s) => s.room === name) });
    return true;
  };
}
