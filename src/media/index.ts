/** ffmpeg sources and sinks, bitstream parsers and muxing: the public surface of src/media. */
export type { EncodedFrame } from './depacketize.js';
export { type Display, type DisplayOptions, startDisplay } from './display.js';
export { MediaError, type MediaErrorCode } from './errors.js';
export type { SourceInput } from './ffmpeg-args.js';
export { createRecorder, type Recorder } from './recorder.js';
export { EncodedSource, type EncodedSourceEvents, type SourceOptions, startEncodedSource } from './source.js';
