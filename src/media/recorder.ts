import { rm } from 'node:fs/promises';
import { extname } from 'node:path';
import type { DecoderConfig } from '../protocol/messages.js';
import { MediaError } from './errors.js';
import { CONTAINER_CODECS, type Container, createFileMuxer, type MuxFrame } from './muxer.js';

/** A file being written from received frames. */
export interface Recorder {
  /** Adds a frame in decode order; deltas before the first keyframe are dropped. */
  add(frame: MuxFrame): Promise<void>;
  /** Writes the index and closes the file; with no keyframe ever added, removes the empty file instead. */
  finish(): Promise<void>;
}

/**
 * Opens `path` for recording frames described by `config`; the container follows the extension
 * (.webm, .mkv, .mp4). Throws MediaError FW_UNSUPPORTED_CODEC when the pair cannot be written.
 */
export async function createRecorder(path: string, config: DecoderConfig): Promise<Recorder> {
  const ext = extname(path).toLowerCase().slice(1);
  if (!(ext in CONTAINER_CODECS)) {
    throw new MediaError(
      'FW_UNSUPPORTED_CODEC',
      `cannot record to "${ext ? `.${ext}` : path}": use a .webm, .mkv (VP8/VP9/AV1) or .mp4 (H.264/VP8/VP9/AV1) file name`,
    );
  }
  const muxer = await createFileMuxer(path, ext as Container, config);
  return {
    add: (frame) => muxer.add(frame),
    finish: async () => {
      if (!(await muxer.finish())) await rm(path, { force: true });
    },
  };
}
