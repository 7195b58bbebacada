/** Codes of the WebRTC side's refusals; each maps to one HTTP status in the routes. */
export type WebRtcErrorCode =
  | 'FW_BAD_SDP'
  | 'FW_UNSUPPORTED_CODEC'
  | 'FW_LIMIT'
  | 'FW_WEBRTC_FAILED'
  | 'FW_TIMEOUT'
  /** A trickle ICE PATCH that would restart ICE (another ufrag): not supported. */
  | 'FW_ICE_RESTART';

/** A WHIP or WHEP request we refuse or could not serve; `code` is stable, the text says what to change. */
export class WebRtcError extends Error {
  override readonly name = 'WebRtcError';
  constructor(
    readonly code: WebRtcErrorCode,
    message: string,
  ) {
    super(message);
  }
}
