import { rm } from 'node:fs/promises';
import { extname } from 'node:path';
import type { StreamTracks } from '../protocol/messages.js';
import { MediaError } from './errors.js';
import { CONTAINER_CODECS, type Container, containerHolds, createFileMuxer, type MuxFrame } from './muxer.js';

/** A file being written from received frames. */
export interface Recorder {
  /** Adds a frame (video or audio) in arrival order; frames before the first video keyframe are dropped. */
  add(frame: MuxFrame): Promise<void>;
  /** Writes the index and closes the file; with nothing playable ever added, removes the empty file instead. */
  finish(): Promise<void>;
}

/**
 * Opens `path` for recording a stream with `tracks` (video, audio or both); the container follows the
 * extension (.webm, .mkv, .mp4). Throws MediaError FW_UNSUPPORTED_CODEC when the tracks cannot be
 * written there.
 */
export async function createRecorder(path: string, tracks: StreamTracks): Promise<Recorder> {
  const ext = extname(path).toLowerCase().slice(1);
  if (!(ext in CONTAINER_CODECS)) {
    const choices = (Object.keys(CONTAINER_CODECS) as Container[]).map((c) => `.${c} (${containerHolds(c)})`);
    throw new MediaError(
      'FW_UNSUPPORTED_CODEC',
      `cannot record to "${ext ? `.${ext}` : path}": use a file name ending in ${choices.join(', ')}`,
    );
  }
  const muxer = await createFileMuxer(path, ext as Container, tracks);
  return {
    add: (frame) => muxer.add(frame),
    finish: async () => {
      if (!(await muxer.finish())) await rm(path, { force: true });
    },
  };
}
