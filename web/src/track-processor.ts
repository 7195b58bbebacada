// Reading a camera or microphone track with MediaStreamTrackProcessor in the window (Chromium): shared by
// video-capture.ts and audio-capture.ts, which fall back to other ways where it is missing.

/** A track's frames or samples, one at a time; `read` resolves null once the track has ended. */
export interface TrackReader<T> {
  read(): Promise<T | null>;
  stop(): void;
}

/** Reads `track` through a MediaStreamTrackProcessor built in the window. */
export function processorReader<T extends VideoFrame | AudioData>(track: MediaStreamTrack): TrackReader<T> {
  const reader = new MediaStreamTrackProcessor<T>({ track }).readable.getReader();
  return {
    read: async () => {
      const { value, done } = await reader.read();
      return done ? null : (value ?? null);
    },
    stop: () => void reader.cancel().catch(() => {}),
  };
}
