import { constants, existsSync } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { type Container, preferredContainer } from '../../media/muxer.js';
import { describeTracks, isValidName } from '../../protocol/index.js';
import { type StreamCause, streamFields } from '../core/relay.js';
import type { Stream } from '../core/stream.js';
import type { ServerRelay } from '../ops/config.js';
import { DEFAULT_AUDIO_BACKLOG_BYTES } from './mux-tap.js';
import { makeDirs, Recording, type RecordingResult } from './recording.js';

/**
 * Bytes a recording may hold in memory while its file is slow (a stalled disk, a busy NFS mount) before
 * it skips to the next keyframe. Several seconds of any stream we accept (20 Mbit/s is 2.5 MB/s): a
 * healthy disk never comes near it, and a stalled one costs a gap in the file, not the server's memory.
 */
const RECORD_BACKLOG_BYTES = 16 * 1024 * 1024;

/** The record folder cannot be used; the message names it and says what to do. */
export class RecordDirError extends Error {
  override readonly name = 'RecordDirError';
  readonly code = 'FW_RECORD_DIR';
}

/**
 * Creates `dir` if needed and checks that we may write in it, so a bad `--record` stops the start with a
 * clear line rather than failing each recording later.
 */
export async function prepareRecordDir(dir: string): Promise<void> {
  try {
    await makeDirs(dir);
    if (!(await stat(dir)).isDirectory()) throw new Error('not a folder');
    await access(dir, constants.W_OK);
  } catch (err) {
    throw new RecordDirError(
      `cannot record to ${dir}: ${(err as Error).message}: pick a folder this user can write (--record DIR)`,
    );
  }
}

/** Why a recording was not started; `code` goes into the API's JSON error. */
export interface RecordingRefusal {
  code: 'FW_RECORDING_OFF' | 'FW_ALREADY_RECORDING' | 'FW_UNSUPPORTED_CODEC' | 'FW_BAD_NAME' | 'FW_SHUTDOWN';
  message: string;
}

/**
 * The server's recordings: with `recordDir` set, every stream is recorded from the moment it opens, and
 * the API can stop and start a stream's recording. Each is a stream tap (so a slow disk drops whole GOPs
 * rather than holding memory) writing a seekable file. close() finalises them all.
 */
export class Recordings {
  private readonly active = new Map<Stream, Recording>();
  /** Stopped but still finalising: close() waits for these too. */
  private readonly finishing = new Set<Recording>();
  private closing = false;
  /** File names handed out in this process, so two recordings started in one second do not share one. */
  private readonly used = new Set<string>();
  private readonly onStream = (stream: Stream, cause: StreamCause): void => {
    if (this.relay.config.recordDir === null) return;
    // Another node's stream is recorded on its origin; a copy here would be one more file of it per node.
    if (stream.publisher.origin !== undefined) return;
    if (cause === 'reconfigured') {
      // The old file ended with its codec (its tap was ended); one stopped through the API stays stopped.
      if (this.stop(stream, 'reconfigured') === null) return;
    }
    const started = this.start(stream);
    if (!(started instanceof Recording)) {
      this.relay.log.warn('record-skipped', {
        ...streamFields(stream),
        code: started.code,
        reason: started.message,
      });
    }
  };

  constructor(private readonly relay: ServerRelay) {
    relay.streamListeners.add(this.onStream);
  }

  /** The recording of `stream` in progress, if any. */
  get(stream: Stream): Recording | undefined {
    return this.active.get(stream);
  }

  /** Starts recording `stream` into `recordDir`, from its cached GOP on; or says why not. */
  start(stream: Stream): Recording | RecordingRefusal {
    const { recordDir } = this.relay.config;
    if (this.closing) return { code: 'FW_SHUTDOWN', message: 'the server is shutting down' };
    if (recordDir === null) {
      return {
        code: 'FW_RECORDING_OFF',
        message: 'recording is off: start the server with --record DIR (or "recordDir" in its config file)',
      };
    }
    const current = this.active.get(stream);
    if (current) {
      return {
        code: 'FW_ALREADY_RECORDING',
        message: `stream ${stream.name} in room ${stream.room.name} is already recording to ${current.file}`,
      };
    }
    const container = preferredContainer(stream.tracks);
    if (container === null) {
      return {
        code: 'FW_UNSUPPORTED_CODEC',
        message: `cannot record ${describeTracks(stream.tracks)} (only VP8, VP9, AV1, H.264, Opus, AAC)`,
      };
    }
    // Names are checked at publish; checked again here because they become path segments.
    if (!isValidName(stream.room.name) || !isValidName(stream.name)) {
      return {
        code: 'FW_BAD_NAME',
        message: `room or stream name cannot be a file name: ${stream.room.name}/${stream.name}`,
      };
    }
    const { gopCacheBytes, recordSegmentMs } = this.relay.config;
    // A GOP too long for the stream's own cache is one a fragmented MP4 muxer must not hold either.
    const limits = {
      maxBacklogBytes: RECORD_BACKLOG_BYTES,
      maxGopBytes: gopCacheBytes,
      maxAudioBacklogBytes: DEFAULT_AUDIO_BACKLOG_BYTES,
    };
    const recording = new Recording(stream, container, limits, {
      name: () => this.fileFor(recordDir, stream, container),
      segmentMs: recordSegmentMs,
      onRoll: (closed, next) => {
        // The closed file exists on disk now, which keeps its name from being handed out again.
        this.used.delete(closed.file);
        this.relay.log.info('record-segment', {
          ...streamFields(stream),
          file: closed.file,
          frames: closed.frames,
          next,
        });
      },
    });
    this.active.set(stream, recording);
    recording.done.then((result) => this.ended(recording, result));
    this.relay.log.info('record-start', { ...streamFields(stream), file: recording.file });
    stream.addTap(recording.tap);
    return recording;
  }

  /** Stops the recording of `stream` and resolves once its file is finalised; null when it records nothing. */
  stop(stream: Stream, reason = 'stopped'): Promise<RecordingResult> | null {
    const recording = this.active.get(stream);
    if (!recording) return null;
    this.active.delete(stream);
    this.finishing.add(recording);
    return recording.stop(reason);
  }

  /** Stops every recording and resolves once every file is finalised; no recording starts after it. */
  async close(): Promise<void> {
    this.closing = true;
    this.relay.streamListeners.delete(this.onStream);
    for (const stream of [...this.active.keys()]) this.stop(stream, 'shutdown');
    await Promise.all([...this.finishing].map((r) => r.done));
  }

  private ended(recording: Recording, result: RecordingResult): void {
    if (this.active.get(recording.stream) === recording) this.active.delete(recording.stream);
    this.finishing.delete(recording);
    this.used.delete(recording.file);
    const fields = {
      ...streamFields(recording.stream),
      file: result.file,
      frames: result.frames,
      dropped: result.dropped,
      audioFrames: result.audioFrames,
      seconds: result.seconds,
      reason: result.reason,
      removed: result.kept ? undefined : true,
    };
    if (result.error === undefined) this.relay.log.info('record-end', fields);
    else this.relay.log.error('record-end', { ...fields, error: result.error });
  }

  /** `<dir>/<room>/<name>-<UTC time>.<ext>`, with `-1`, `-2`... when that name is taken. */
  private fileFor(dir: string, stream: Stream, container: Container): string {
    const stamp = new Date()
      .toISOString()
      .replace(/\.\d+Z$/, 'Z')
      .replace(/[-:]/g, '');
    const base = join(resolve(dir), stream.room.name, `${stream.name}-${stamp}`);
    for (let i = 0; ; i++) {
      const file = `${base}${i === 0 ? '' : `-${i}`}.${container}`;
      if (!this.used.has(file) && !existsSync(file)) {
        this.used.add(file);
        return file;
      }
    }
  }
}
