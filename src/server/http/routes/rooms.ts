import { allows, type Grant } from '../../core/access.js';
import type { Relay } from '../../core/relay.js';
import { type StreamStats, snapshotStats, type ViewerStats } from '../../ops/stats.js';
import type { HttpGuard } from '../guard.js';
import { type HttpRoute, notFound, sendJson } from '../reply.js';

/** A viewer as the API shows it: figures, and its network address only to an admin token. */
type ViewerEntry = ViewerStats & { address?: string };

/**
 * The JSON API's read side: GET /api/rooms and GET /api/rooms/:room. In token mode the list holds the
 * rooms the token may view (every room for an admin token), and a room the token may not view is a 404.
 */
export function roomRoutes(relay: Relay, guard: HttpGuard): HttpRoute[] {
  return [
    {
      methods: ['GET', 'HEAD'],
      path: '/api/rooms',
      handle: async (request) => {
        const admitted = await guard.token(request);
        if (!admitted) return;
        const rooms = snapshotStats(relay).rooms.filter((r) => mayView(admitted.grant, r.name));
        sendJson(request.res, 200, { rooms });
      },
    },
    {
      methods: ['GET', 'HEAD'],
      path: '/api/rooms/:room',
      handle: async (request) => {
        const name = request.params.room as string;
        const admitted = await guard.room(request, 'view', name, `room ${name}`);
        if (!admitted) return;
        const stats = snapshotStats(relay);
        const room = stats.rooms.find((r) => r.name === name);
        if (!room) {
          notFound(request.res, `room ${name}`);
          return;
        }
        const streams = stats.streams.filter((s) => s.room === name);
        const answer = admitted.grant?.admin === true ? withAddresses(relay, streams) : streams;
        sendJson(request.res, 200, { ...room, streams: answer });
      },
    },
  ];
}

/** Whether `grant` may view `room`; open mode (null) may view everything. */
function mayView(grant: Grant | null, room: string): boolean {
  return grant === null || allows(grant, 'view', room) === null;
}

/**
 * `streams` with each viewer's network address added: for admin tokens only. Viewers see each other by
 * connection id and figures; where someone watches from is the operator's to know (and the logs').
 */
function withAddresses(relay: Relay, streams: StreamStats[]): (StreamStats & { viewers: ViewerEntry[] })[] {
  const addresses = new Map<number, string>();
  for (const conn of relay.connections) addresses.set(conn.id, conn.transport.ip);
  return streams.map((s) => ({
    ...s,
    viewers: s.viewers.map((v) => ({ ...v, address: addresses.get(v.connection) ?? '' })),
  }));
}
