// Chromium ships MediaStreamTrackProcessor (Insertable Streams for MediaStreamTrack) in the window, but
// TypeScript's DOM lib does not declare it yet; this is the part the publisher uses.

/** Turns a video track into a stream of VideoFrames (Chromium; not in TypeScript's DOM lib). */
declare class MediaStreamTrackProcessor {
  constructor(init: { track: MediaStreamTrack; maxBufferSize?: number });
  readonly readable: ReadableStream<VideoFrame>;
}
