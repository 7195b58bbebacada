// The Node client library: connect, publish, subscribe, reconnect.
export * from './client.js';
export * from './errors.js';
export * from './publication.js';
export * from './reconnect.js';
export * from './server-clock.js';
