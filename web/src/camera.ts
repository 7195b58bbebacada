// The local camera and microphone: which ones exist, opening them (the microphone comes on with the camera),
// and saying clearly why one could not be opened.

/** A capture size the app offers. */
export interface Resolution {
  width: number;
  height: number;
}

/** The sizes in the resolution menu; 640x480 is the default. */
export const RESOLUTIONS: readonly Resolution[] = [
  { width: 320, height: 240 },
  { width: 640, height: 480 },
  { width: 1280, height: 720 },
];

/** The video inputs the browser reports. Labels stay empty until the page has been allowed a camera once. */
export async function listCameras(): Promise<MediaDeviceInfo[]> {
  if (!navigator.mediaDevices?.enumerateDevices) return [];
  const devices = await navigator.mediaDevices.enumerateDevices();
  return devices.filter((d) => d.kind === 'videoinput');
}

/** The audio inputs the browser reports (labels, again, only once allowed). */
export async function listMicrophones(): Promise<MediaDeviceInfo[]> {
  if (!navigator.mediaDevices?.enumerateDevices) return [];
  const devices = await navigator.mediaDevices.enumerateDevices();
  return devices.filter((d) => d.kind === 'audioinput');
}

/** What {@link openMedia} got: a stream with a camera, a microphone or both, and why one is missing. */
export interface OpenedMedia {
  stream: MediaStream;
  /** Why there is no camera track (null when there is one). */
  cameraError: unknown;
  /** Why there is no microphone track (null when there is one). */
  micError: unknown;
}

/** The camera constraints: this device (the default one when empty), about this size, 30 fps. */
function videoConstraints(deviceId: string, size: Resolution): MediaTrackConstraints {
  return {
    ...(deviceId ? { deviceId: { exact: deviceId } } : {}),
    width: { ideal: size.width },
    height: { ideal: size.height },
    frameRate: { ideal: 30 },
  };
}

/** The microphone constraints: this device, with the browser's echo cancellation, noise suppression and gain. */
function audioConstraints(deviceId: string): MediaTrackConstraints {
  return {
    ...(deviceId ? { deviceId: { exact: deviceId } } : {}),
    echoCancellation: true,
    noiseSuppression: true,
    autoGainControl: true,
  };
}

/**
 * Opens the camera and the microphone together (one permission prompt); if that fails, each alone, so that
 * a refused or missing camera still sends sound and the reverse. Throws the camera's error when neither opens.
 */
export async function openMedia(cameraId: string, micId: string, size: Resolution): Promise<OpenedMedia> {
  if (!navigator.mediaDevices?.getUserMedia) {
    throw new DOMException('navigator.mediaDevices is missing', 'InsecureContextError');
  }
  const md = navigator.mediaDevices;
  const video = videoConstraints(cameraId, size);
  const audio = audioConstraints(micId);
  try {
    return { stream: await md.getUserMedia({ video, audio }), cameraError: null, micError: null };
  } catch (both) {
    if (errorName(both) === 'InsecureContextError') throw both;
  }
  let cameraError: unknown = null;
  let micError: unknown = null;
  const tracks: MediaStreamTrack[] = [];
  try {
    tracks.push(...(await md.getUserMedia({ video })).getTracks());
  } catch (err) {
    cameraError = err;
  }
  try {
    tracks.push(...(await md.getUserMedia({ audio })).getTracks());
  } catch (err) {
    micError = err;
  }
  if (tracks.length === 0) throw cameraError;
  return { stream: new MediaStream(tracks), cameraError, micError };
}

function errorName(err: unknown): string {
  return err instanceof DOMException || err instanceof Error ? err.name : '';
}

/** A sentence for a microphone that could not be opened while the camera could. */
export function micErrorMessage(err: unknown): string {
  switch (errorName(err)) {
    case 'NotAllowedError':
    case 'SecurityError':
      return 'Microphone access was refused: sending video without sound. Allow the microphone for this site (the icon in the address bar) and restart the camera to add it.';
    case 'NotFoundError':
    case 'OverconstrainedError':
      return 'No microphone was found: sending video without sound.';
    default:
      return `The microphone could not be started (${err instanceof Error ? err.message : String(err)}): sending video without sound.`;
  }
}

/** A sentence for a camera that could not be opened while the microphone could. */
export function cameraMissingMessage(err: unknown): string {
  switch (errorName(err)) {
    case 'NotAllowedError':
    case 'SecurityError':
      return 'Camera access was refused: sending sound only. Allow the camera for this site and restart to add video.';
    case 'NotFoundError':
    case 'OverconstrainedError':
      return 'No camera was found: sending sound only.';
    default:
      return `The camera could not be started (${err instanceof Error ? err.message : String(err)}): sending sound only.`;
  }
}

/** A sentence a person can act on, for an error from {@link openMedia} (neither device opened). */
export function cameraErrorMessage(err: unknown): string {
  switch (errorName(err)) {
    case 'NotAllowedError':
    case 'SecurityError':
      return 'Camera access was refused. Allow the camera for this site (the icon in the address bar) and try again. You can still watch the others.';
    case 'NotFoundError':
    case 'OverconstrainedError':
      return 'No camera was found. Plug one in and try again. You can still watch the others.';
    case 'NotReadableError':
    case 'AbortError':
      return 'The camera is busy or failed to start (is another app using it?). You can still watch the others.';
    case 'InsecureContextError':
      return 'The camera needs a secure page: open this app over https:// or on localhost.';
    default:
      return `The camera could not be started (${err instanceof Error ? err.message : String(err)}). You can still watch the others.`;
  }
}
