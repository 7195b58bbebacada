// Runs node-media-server v4 in its own process for the benchmark, configured from argv:
//   node nms-launcher.mjs RTMP_PORT HTTP_PORT DATA_DIR [BIND_ADDRESS]
// Its own process so its CPU and memory are measured apart from the players'.
import { createRequire } from 'node:module';
import path from 'node:path';

const require = createRequire(import.meta.url);
const NodeMediaServer = require('node-media-server');
const logger = require('node-media-server/src/core/logger.js');

const [rtmpPort, httpPort, dataDir, bind = '127.0.0.1'] = process.argv.slice(2);
if (!rtmpPort || !httpPort || !dataDir) {
  console.error('usage: node nms-launcher.mjs RTMP_PORT HTTP_PORT DATA_DIR [BIND_ADDRESS]');
  process.exit(2);
}

// Only what the bench uses: RTMP and HTTP-FLV on loopback (or the veth address the slow-link bench gives). No RTMPS/HTTPS (no certificates to load), no
// auth, no JWT section (which also leaves the REST API off), no webadmin, no recording.
const config = {
  bind,
  rtmp: { port: Number(rtmpPort) },
  http: { port: Number(httpPort) },
  auth: { play: false, publish: false, secret: '' },
  notify: { url: '' },
  webadmin: { enable: false },
  record: { auto: false, path: path.join(dataDir, 'record') },
  store: { path: path.join(dataDir, 'store') },
};

const nms = new NodeMediaServer(config, path.join(dataDir, 'config.json'));
// The constructor forces level "debug", which logs (with a toLocaleString date) every session start and
// close: per-player work the other peers do not do. Errors stay visible.
logger.level = 'error';
nms.run();

const stop = () => {
  nms.stop().finally(() => process.exit(0));
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
