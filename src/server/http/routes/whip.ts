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
import { WhipSession } from '../../webrtc/whip-session.js';
import type { HttpGuard } from '../guard.js';
import { type HttpRequest, type HttpRoute, sendError } from '../reply.js';

/**
 * WHIP (RFC 9725): POST /whip/<room>/<stream> with an SDP offer (OBS 30+, a browser's RTCPeerConnection)
 * answers 201 with the SDP answer and the session's URL in `Location`; the publisher's H.264 or VP8 and
 * Opus become stream <stream> of <room>, as any publisher's. DELETE on the session URL ends it, GET reads
 * its counters, PATCH adds trickled ICE candidates. Takes a token that may publish in the room
 * (`Authorization: Bearer`).
 */
export function whipRoutes(relay: Relay, guard: HttpGuard, webrtc: WebRtcService): HttpRoute[] {
  return [
    { methods: ['POST'], path: '/whip/:room/:name', handle: (r) => publish(relay, guard, webrtc, r) },
    {
      methods: SESSION_METHODS,
      path: '/whip/:room/:name/:session',
      handle: (r) => session(guard, webrtc, r),
    },
  ];
}

async function publish(
  relay: Relay,
  guard: HttpGuard,
  webrtc: WebRtcService,
  request: HttpRequest,
): Promise<void> {
  const { res, params } = request;
  const room = params.room as string;
  const name = params.name as string;
  const admitted = await guard.room(request, 'publish', room, `room ${room}`);
  if (!admitted) return;
  const offer = await readOffer(request);
  if (offer === null) return;
  // Checked here so the publisher hears it; the stream itself opens at the first keyframe.
  if (relay.findStream(room, name)) {
    sendError(res, 409, 'FW_STREAM_EXISTS', `stream ${name} already exists in room ${room}`);
    return;
  }
  try {
    const { session, answer } = await webrtc.publish(room, name, offer);
    session.whenEnded(guard.hold(admitted.grant, () => session.close('revoked')));
    const location = `/whip/${encodeURIComponent(room)}/${encodeURIComponent(name)}/${session.id}`;
    relay.log.info('whip-offer', {
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
  const admitted = await guard.room(request, 'publish', room, `room ${room}`);
  if (!admitted) return;
  const found = webrtc.get(params.session as string);
  const mine = found instanceof WhipSession && found.room === room && found.name === name ? found : null;
  if (request.req.method === 'PATCH') return trickleSession(request, 'WHIP', mine, webrtc);
  answerSession(request, 'WHIP', mine, 'ended');
}
