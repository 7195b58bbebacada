// The wire protocol: pure code over bytes, shared by the server, the Node client and the browser.

export * from './address.js';
export * from './backoff.js';
export * from './codec.js';
export * from './codec-families.js';
export * from './errors.js';
export * from './framing.js';
export * from './messages.js';
export * from './names.js';
export * from './server-clock.js';
export * from './tracks.js';
