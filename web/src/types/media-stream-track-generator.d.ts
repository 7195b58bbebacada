// Chromium ships MediaStreamTrackGenerator (Insertable Streams for MediaStreamTrack) in the window, but
// TypeScript's DOM lib does not declare it; this is the part a screen tile uses.

/**
 * A video track whose frames the page writes (Chromium; not in TypeScript's DOM lib): shown in a `<video>`,
 * its frames reach the compositor without a canvas copy.
 */
declare class MediaStreamTrackGenerator extends MediaStreamTrack {
  constructor(init: { kind: 'video' | 'audio' });
  readonly writable: WritableStream<VideoFrame>;
}
