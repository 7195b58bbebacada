// The server's clock, as seen from the page: frames carry capture times on the server's clock so that every
// viewer can measure glass-to-glass latency against one clock, whatever the clocks of the machines say. The
// estimate itself is shared with the Node client (src/protocol/server-clock.ts).
export { localNowUs, ServerClock } from '../../src/protocol/server-clock.js';
