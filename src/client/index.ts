// The Node client library: connect, publish, subscribe, reconnect.

export { localNowUs, ServerClock } from '../protocol/server-clock.js';
export * from './client.js';
export * from './errors.js';
export * from './publication.js';
export * from './reconnect.js';
