/** The benchmark's peers: nginx-rtmp and node-media-server launchers, and light RTMP / HTTP-FLV clients. */
export { HttpFlvError, HttpFlvPlayer } from './flv-player.js';
export { startNginxRtmp } from './nginx.js';
export { startNodeMediaServer } from './nms.js';
export { RtmpClientError } from './rtmp-connection.js';
export { RtmpPlayer, type VideoHandler } from './rtmp-player.js';
export { RtmpPublisher } from './rtmp-publisher.js';
export { type PeerServer, PeerStartError } from './server.js';
export { WaitPortError } from './wait-port.js';
