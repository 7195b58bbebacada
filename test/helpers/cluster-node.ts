// A cluster node in a process of its own, so a test can kill it with SIGKILL (a crash, not a goodbye).
// Usage: node --import tsx test/helpers/cluster-node.ts NATS_URL NODE_NAME; prints {"tcpPort":…,"httpPort":…}.
import { startServer } from '../../src/server/index.js';

const [nats, nodeName] = process.argv.slice(2);
if (nats === undefined || nodeName === undefined)
  throw new Error('usage: cluster-node.ts NATS_URL NODE_NAME');
const server = await startServer({
  tcpPort: 0,
  httpPort: 0,
  log: () => {},
  secret: process.env.FRAMEWIRE_SECRET ?? null,
  cluster: { servers: [nats], nodeName },
});
process.stdout.write(`${JSON.stringify({ tcpPort: server.tcpPort, httpPort: server.httpPort })}\n`);
