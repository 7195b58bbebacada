import type { Relay } from '../../core/relay.js';
import { snapshotStats } from '../../ops/stats.js';
import { type HttpRoute, notFound, sendJson } from '../reply.js';

/** The JSON API's read side: GET /api/rooms and GET /api/rooms/:room. */
export function roomRoutes(relay: Relay): HttpRoute[] {
  return [
    {
      methods: ['GET', 'HEAD'],
      path: '/api/rooms',
      handle: ({ res }) => sendJson(res, 200, { rooms: snapshotStats(relay).rooms }),
    },
    {
      methods: ['GET', 'HEAD'],
      path: '/api/rooms/:room',
      handle: ({ res, params }) => {
        const stats = snapshotStats(relay);
        const name = params.room as string;
        const room = stats.rooms.find((r) => r.name === name);
        if (!room) {
          notFound(res, `room ${name}`);
          return;
        }
        sendJson(res, 200, { ...room, streams: stats.streams.filter((s) => s.room === name) });
      },
    },
  ];
}
