import { spawn } from 'node:child_process';
import { BufferTarget } from 'mediabunny';
import type { DecoderConfig } from '../protocol/messages.js';
import { MediaError, startError } from './errors.js';
import { createMuxer, preferredContainer } from './muxer.js';

/** Options of {@link keyframeToJpeg}. */
export interface KeyframeJpegOptions {
  /** ffmpeg is killed (by its PID) after this long and the call fails with FW_FFMPEG_TIMEOUT. */
  timeoutMs: number;
  /** Default 'ffmpeg'. */
  ffmpegPath?: string;
}

/**
 * Largest JPEG read back from ffmpeg. A 4K frame at mjpeg's default quality is well under 2 MB; an
 * output past this is not a picture we asked for, and must not grow our memory.
 */
const MAX_JPEG_BYTES = 16 * 1024 * 1024;
/** stderr kept for the error message: ffmpeg at -loglevel error says what failed in a line or two. */
const MAX_STDERR_CHARS = 2000;

/**
 * Decodes one keyframe to a JPEG with ffmpeg. The frame is muxed alone into a small in-memory container
 * (WebM for VP8/VP9/AV1, MP4 for H.264), so ffmpeg gets the codec and size from the container rather than
 * from guessed flags, then piped in; the JPEG comes back on stdout. Throws MediaError: FW_UNSUPPORTED_CODEC,
 * FW_FFMPEG_MISSING, FW_FFMPEG_TIMEOUT or FW_FFMPEG_FAILED.
 */
export async function keyframeToJpeg(
  config: DecoderConfig,
  frame: { timestamp: number; data: Uint8Array },
  opts: KeyframeJpegOptions,
): Promise<Uint8Array> {
  const container = preferredContainer({ video: config });
  if (container === null) {
    throw new MediaError('FW_UNSUPPORTED_CODEC', `cannot decode ${config.codec} to a picture`);
  }
  const target = new BufferTarget();
  const muxer = await createMuxer(container, { video: config }, target);
  await muxer.add({ key: true, timestamp: frame.timestamp, data: frame.data });
  await muxer.finish();
  if (target.buffer === null) throw new MediaError('FW_FFMPEG_FAILED', 'the muxer produced no output');
  return runFfmpeg(container, new Uint8Array(target.buffer), opts);
}

function runFfmpeg(format: string, input: Uint8Array, opts: KeyframeJpegOptions): Promise<Uint8Array> {
  const ffmpeg = opts.ffmpegPath ?? 'ffmpeg';
  const args = ['-hide_banner', '-loglevel', 'error', '-nostdin', '-f', format, '-i', 'pipe:0'];
  args.push('-frames:v', '1', '-f', 'image2', '-c:v', 'mjpeg', 'pipe:1');
  return new Promise((resolve, reject) => {
    const child = spawn(ffmpeg, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    const chunks: Buffer[] = [];
    let bytes = 0;
    let stderr = '';
    let failure: MediaError | null = null;
    const stop = (error: MediaError): void => {
      failure ??= error;
      // By the child's PID (ChildProcess.kill), never by name: other ffmpegs on the machine are not ours.
      child.kill('SIGKILL');
    };
    const timer = setTimeout(
      () =>
        stop(
          new MediaError('FW_FFMPEG_TIMEOUT', `ffmpeg did not decode the frame within ${opts.timeoutMs} ms`),
        ),
      opts.timeoutMs,
    );
    child.on('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(startError(err, 'ffmpeg', ffmpeg));
    });
    child.stdout.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
      if (bytes > MAX_JPEG_BYTES)
        stop(new MediaError('FW_FFMPEG_FAILED', `ffmpeg wrote more than ${MAX_JPEG_BYTES} bytes`));
      else chunks.push(chunk);
    });
    child.stderr.setEncoding('utf8').on('data', (text: string) => {
      if (stderr.length < MAX_STDERR_CHARS) stderr += text;
    });
    // ffmpeg may exit before reading all of its input (a broken frame); its exit code says what happened.
    child.stdin.on('error', () => {});
    child.stdin.end(input);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (failure) return reject(failure);
      if (code === 0 && bytes > 0) return resolve(Buffer.concat(chunks));
      const how = signal
        ? `was killed by ${signal}`
        : code === 0
          ? 'wrote no picture'
          : `exited with code ${code}`;
      reject(new MediaError('FW_FFMPEG_FAILED', `ffmpeg ${how}${stderr.trim() ? `: ${stderr.trim()}` : ''}`));
    });
  });
}
