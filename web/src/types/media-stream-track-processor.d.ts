// Chromium ships MediaStreamTrackProcessor (Insertable Streams for MediaStreamTrack) in the window, but
// TypeScript's DOM lib does not declare it yet; this is the part the publisher uses.

/**
 * Turns a track into a stream of its media: VideoFrames for a video track, AudioData for an audio track
 * (Chromium; not in TypeScript's DOM lib).
 */
declare class MediaStreamTrackProcessor<T extends VideoFrame | AudioData = VideoFrame> {
  constructor(init: { track: MediaStreamTrack; maxBufferSize?: number });
  readonly readable: ReadableStream<T>;
}
