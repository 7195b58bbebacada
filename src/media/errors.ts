/** Stable codes for media failures; the CLI branches on them, people read the message. */
export type MediaErrorCode =
  | 'FW_FFMPEG_MISSING'
  | 'FW_CAMERA_MISSING'
  | 'FW_CAMERA_BUSY'
  | 'FW_DISPLAY_MISSING'
  | 'FW_WINDOW_MISSING'
  | 'FW_MIC_MISSING'
  | 'FW_FILE_MISSING'
  | 'FW_FFMPEG_FAILED'
  | 'FW_FFMPEG_TIMEOUT'
  | 'FW_UNSUPPORTED_CODEC';

/** A media failure with a stable code and a message that says what to do about it. */
export class MediaError extends Error {
  override readonly name = 'MediaError';
  constructor(
    readonly code: MediaErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/**
 * The MediaError for a media tool (`ffmpeg` or `ffplay`, started as `path`) that could not start:
 * FW_FFMPEG_MISSING, saying how to install it, when it is not there; FW_FFMPEG_FAILED otherwise.
 */
export function startError(err: NodeJS.ErrnoException, tool: 'ffmpeg' | 'ffplay', path: string): MediaError {
  if (err.code === 'ENOENT') {
    return new MediaError(
      'FW_FFMPEG_MISSING',
      `${tool} not found (${path}): install it with \`apt-get install ffmpeg\` (or run scripts/install-system-deps.sh)`,
      { cause: err },
    );
  }
  return new MediaError('FW_FFMPEG_FAILED', `could not start ${tool}: ${err.message}`, { cause: err });
}
