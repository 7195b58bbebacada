/** Stable codes for media failures; the CLI branches on them, people read the message. */
export type MediaErrorCode =
  | 'FW_FFMPEG_MISSING'
  | 'FW_CAMERA_MISSING'
  | 'FW_CAMERA_BUSY'
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
