// What this browser lets the page do with video here. WebCodecs and the camera exist only on a secure page
// (https://, or http:// on localhost), and not every browser has all of WebCodecs even there.

/** Whether the page can send its camera: camera frames as VideoFrames, and a VideoEncoder. */
export function canSendVideo(): boolean {
  return typeof MediaStreamTrackProcessor !== 'undefined' && typeof VideoEncoder !== 'undefined';
}

/** Whether the page can decode remote streams itself; without it, tiles play the server's plain video. */
export function canDecodeVideo(): boolean {
  return typeof VideoDecoder !== 'undefined' && typeof EncodedVideoChunk !== 'undefined';
}

/** Whether the browser treats this page as secure; only then does it give the page a camera and WebCodecs. */
export function isSecurePage(): boolean {
  return window.isSecureContext;
}

/** Said before any click in a browser that can watch but not send (Firefox today). */
export const CANNOT_SEND_HERE =
  'This browser cannot send video yet (it lacks MediaStreamTrackProcessor or WebCodecs encoding): send from Chrome, Edge or another Chromium. You can watch here.';
