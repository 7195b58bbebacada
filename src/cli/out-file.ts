import { accessSync, constants, existsSync, type Stats, statSync } from 'node:fs';
import { dirname, extname } from 'node:path';
import { CONTAINER_CODECS, type Container, canHold, preferredContainer } from '../media/muxer.js';
import type { AudioConfig, DecoderConfig } from '../protocol/messages.js';
import { CliError, usageError } from './errors.js';

/** A `watch --out` path that was checked before anything was connected or written. */
export interface OutFile {
  path: string;
  container: Container;
}

/**
 * Checks where `watch --out` may write, before connecting or touching any file: the extension names a
 * container we write (else a usage error), the folder exists and is writable, and the file does not
 * exist unless `force` (else a CliError). A recording that fails later must not have cost the user a file.
 */
export function checkOutFile(command: string, path: string, force: boolean): OutFile {
  const ext = extname(path).toLowerCase().slice(1);
  if (!(ext in CONTAINER_CODECS)) {
    throw usageError(
      command,
      `--out "${path}" must end in .webm or .mkv (VP8, VP9, AV1, Opus; .mkv also AAC) or .mp4 (H.264, VP8, VP9, AV1, Opus, AAC)`,
    );
  }
  const dir = dirname(path);
  const dirStat = statOrProblem(dir);
  if (typeof dirStat === 'string' || !dirStat.isDirectory()) {
    const problem = typeof dirStat === 'string' ? dirStat : 'is not a folder';
    throw new CliError(
      `cannot record to ${path}: the folder "${dir}" ${problem}: create it or choose another --out`,
    );
  }
  if (!accessible(dir, constants.W_OK | constants.X_OK)) {
    throw new CliError(
      `cannot record to ${path}: no permission to write in the folder "${dir}": choose another --out`,
    );
  }
  const fileStat = statOrProblem(path);
  if (typeof fileStat !== 'string') {
    if (!fileStat.isFile()) {
      throw new CliError(`cannot record to ${path}: it exists and is not a file: choose another --out`);
    }
    if (!force) {
      throw new CliError(`${path} already exists: pass --force to overwrite it, or choose another --out`);
    }
    if (!accessible(path, constants.W_OK)) {
      throw new CliError(`cannot overwrite ${path}: no permission to write it: choose another --out`);
    }
  }
  return { path, container: ext as Container };
}

/**
 * Null when `out`'s container can hold a stream with tracks `video` and `audio` (either may be absent);
 * otherwise the one-line problem, naming the file to use instead (`the stream is H.264 (avc1.42e01f):
 * .webm cannot hold it; use --out x.mp4`, `the stream's audio is AAC (mp4a.40.2): ...`).
 */
export function codecMismatch(
  out: OutFile,
  video: DecoderConfig | undefined,
  audio?: AudioConfig,
): string | null {
  const misfit =
    video !== undefined && !canHold(out.container, video.codec)
      ? { whose: 'the stream', codec: video.codec }
      : audio !== undefined && !canHold(out.container, audio.codec)
        ? { whose: "the stream's audio", codec: audio.codec }
        : null;
  if (misfit === null) return null;
  const what = `${misfit.whose} is ${codecName(misfit.codec)} (${misfit.codec}): .${out.container} cannot hold it`;
  const fits = preferredContainer({ video, audio });
  if (fits === null) return `${what}, nor can any container watch records: watch it without --out`;
  return `${what}; use --out ${withExtension(out.path, fits)}`;
}

/**
 * The `n`th file of a `watch --out FILE` recording (n ≥ 2): FILE with `-n` before its extension
 * (`rec/cam.webm` → `rec/cam-2.webm`). watch goes on in the next one each time the stream's tracks change.
 */
export function numberedOutPath(path: string, n: number): string {
  const ext = extname(path);
  return `${path.slice(0, path.length - ext.length)}-${n}${ext}`;
}

/**
 * The first numbered file from `n` on that may be written: one that does not exist, or any with `force`
 * (as FILE itself was checked). A file left by an earlier run is skipped, never overwritten unasked.
 */
export function nextOutPath(path: string, n: number, force: boolean): { path: string; n: number } {
  for (let i = n; ; i++) {
    const candidate = numberedOutPath(path, i);
    if (force || !existsSync(candidate)) return { path: candidate, n: i };
  }
}

/** `path` with its extension replaced by `.ext`. */
function withExtension(path: string, ext: Container): string {
  return `${path.slice(0, path.length - extname(path).length)}.${ext}`;
}

/** The codec's common name, for people. */
function codecName(codec: string): string {
  if (codec.startsWith('avc1.') || codec.startsWith('avc3.')) return 'H.264';
  if (codec === 'vp8') return 'VP8';
  if (codec === 'vp9' || codec.startsWith('vp09.')) return 'VP9';
  if (codec.startsWith('av01.')) return 'AV1';
  if (codec.startsWith('hvc1.') || codec.startsWith('hev1.')) return 'H.265';
  if (codec === 'opus') return 'Opus';
  if (codec.startsWith('mp4a.40.')) return 'AAC';
  return codec;
}

/** The file's stats, or why there are none in words ("does not exist"). */
function statOrProblem(path: string): Stats | string {
  try {
    return statSync(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return code === 'ENOENT' || code === 'ENOTDIR' ? 'does not exist' : `cannot be read (${code})`;
  }
}

function accessible(path: string, mode: number): boolean {
  try {
    accessSync(path, mode);
    return true;
  } catch {
    return false;
  }
}
