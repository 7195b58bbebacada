import type { Relay } from '../../core/relay.js';
import {
  answerSession,
  readOffer,
  SESSION_METHODS,
  sendAnswer,
  sendWebRtcError,
  trickleSession,
} from '../../webrtc/sdp-request.js';
import type { WebRtcService } from '../../webrtc/service.js';
import { WhepSession } from '../../webrtc/whep-session.js';
import type { HttpGuard } from '../guard.js';
import { type HttpRequest, type HttpRoute, sendError, streamOr404 } from '../reply.js';

/**
 * WHEP (draft-ietf-wish-whep): POST /whep/<room>/<stream> with an SDP offer answers 201 with the SDP answer
 * and the session's URL in `Location`; DELETE on it ends the session, GET reads its counters (frames sent
 * and dropped, latency), PATCH adds trickled ICE candidates. Any stream in H.264 or VP8 (and Opus) plays in a browser's own RTCPeerConnection.
 * Tokens as for every read: a view grant for the room, and a room it may not see answers as a missing one.
 */
export function whepRoutes(relay: Relay, guard: HttpGuard, webrtc: WebRtcService): HttpRoute[] {
  return [
    { methods: ['POST'], path: '/whep/:room/:name', handle: (r) => play(relay, guard, webrtc, r) },
    {
      methods: SESSION_METHODS,
      path: '/whep/:room/:name/:session',
      handle: (r) => session(guard, webrtc, r),
    },
  ];
}

async function play(
  relay: Relay,
  guard: HttpGuard,
  webrtc: WebRtcService,
  request: HttpRequest,
): Promise<void> {
  const { res, params } = request;
  const room = params.room as string;
  const name = params.name as string;
  const admitted = await guard.room(request, 'view', room, `stream ${name} in room ${room}`);
  if (!admitted) return;
  const offer = await readOffer(request);
  if (offer === null) return;
  const stream = streamOr404(relay, res, room, name);
  if (!stream) return;
  const full = relay.viewerLimitRefusal(stream);
  if (full) {
    sendError(res, 503, full.code, full.message);
    return;
  }
  try {
    const { session, answer } = await webrtc.play(stream, offer);
    // A revoked token ends the session, as it cuts a live HTTP player.
    session.whenEnded(guard.hold(admitted.grant, () => session.close('revoked')));
    const location = `/whep/${encodeURIComponent(room)}/${encodeURIComponent(name)}/${session.id}`;
    relay.log.info('whep-start', {
      id: session.id,
      room,
      name,
      remote: request.req.socket.remoteAddress ?? '',
    });
    sendAnswer(res, location, answer);
  } catch (err) {
    sendWebRtcError(res, err);
  }
}

async function session(guard: HttpGuard, webrtc: WebRtcService, request: HttpRequest): Promise<void> {
  const { params } = request;
  const room = params.room as string;
  const name = params.name as string;
  const admitted = await guard.room(request, 'view', room, `stream ${name} in room ${room}`);
  if (!admitted) return;
  const found = webrtc.get(params.session as string);
  const mine =
    found instanceof WhepSession && found.stream.room.name === room && found.stream.name === name
      ? found
      : null;
  if (request.req.method === 'PATCH') return trickleSession(request, 'WHEP', mine, webrtc);
  answerSession(request, 'WHEP', mine, 'closed by viewer');
}
