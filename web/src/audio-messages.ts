// What the page and the AudioWorklet (audio-worklet.ts) say to each other over a node's MessagePort.

/** Page → playout processor. */
export type PlayoutCommand =
  | {
      type: 'chunk';
      /** Decoded samples, one array per channel (transferred). */
      channels: Float32Array[];
      rate: number;
      /** Capture time of the first sample, µs on the server's clock. */
      captureUs: number;
    }
  /** The depth the buffer steers towards, ms. */
  | { type: 'target'; ms: number }
  /** Forget everything buffered (the stream restarted). */
  | { type: 'reset' };

/** Playout processor → page, every ~53 ms: the buffer, what is playing now, and the samples it played. */
export interface PlayoutReport {
  /** The context's currentTime when the report was made (the start of the next quantum). */
  contextTime: number;
  depthMs: number;
  /** Capture time (server clock, µs) of the sample at the read head; null while not playing. */
  headCaptureUs: number | null;
  playing: boolean;
  /** Playback speed now (1 ± a little while it steers the depth). */
  speed: number;
  /** Loudest sample played since the last report (0–1). */
  peak: number;
  /** Sum of squares and count of the samples played since the last report (for RMS). */
  sumSquares: number;
  samples: number;
  /** Cumulative: times it ran dry, jumped forward, or dropped audio over its bound. */
  underruns: number;
  skips: number;
  overflows: number;
}

/** Capture processor → page: 10 ms of microphone samples. */
export interface CaptureBlock {
  channels: Float32Array[];
  rate: number;
  /** Context time of the block's first sample. */
  contextTime: number;
}
