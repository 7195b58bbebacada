// What this browser lets the page do with video here. WebCodecs and the camera exist only on a secure page
// (https://, or http:// on localhost), and not every browser has all of WebCodecs even there.
import { canCaptureFromElement } from './video-capture.js';

/**
 * Whether the page can send its camera: a VideoEncoder, and a way to get camera frames as VideoFrames
 * (video-capture.ts): MediaStreamTrackProcessor in the window, or a hidden <video> with
 * requestVideoFrameCallback. The third way, MediaStreamTrackProcessor in a worker (Safari 18), can only be
 * learnt by asking a worker; every browser known to have it has the <video> way too, so this stays synchronous.
 */
export function canSendVideo(): boolean {
  if (typeof VideoEncoder === 'undefined') return false;
  return typeof MediaStreamTrackProcessor !== 'undefined' || canCaptureFromElement();
}

/** Whether the page can decode remote streams itself; without it, tiles play the server's plain video. */
export function canDecodeVideo(): boolean {
  return typeof VideoDecoder !== 'undefined' && typeof EncodedVideoChunk !== 'undefined';
}

/** Whether the browser treats this page as secure; only then does it give the page a camera and WebCodecs. */
export function isSecurePage(): boolean {
  return window.isSecureContext;
}

/** Said before any click in a browser that can watch but not send (no WebCodecs VideoEncoder). */
export const CANNOT_SEND_HERE =
  'This browser cannot send video (it has no WebCodecs VideoEncoder): a newer version of it, or another current browser, can. You can watch here.';
