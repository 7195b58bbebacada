// The local camera: which ones exist, opening one at a size, and saying clearly why it could not be opened.

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

/** Opens a camera (the default one when `deviceId` is empty) at about this size and 30 fps. */
export async function openCamera(deviceId: string, size: Resolution): Promise<MediaStream> {
  if (!navigator.mediaDevices?.getUserMedia) {
    throw new DOMException('navigator.mediaDevices is missing', 'InsecureContextError');
  }
  return navigator.mediaDevices.getUserMedia({
    audio: false,
    video: {
      ...(deviceId ? { deviceId: { exact: deviceId } } : {}),
      width: { ideal: size.width },
      height: { ideal: size.height },
      frameRate: { ideal: 30 },
    },
  });
}

/** A sentence a person can act on, for an error from {@link openCamera}. */
export function cameraErrorMessage(err: unknown): string {
  const name = err instanceof DOMException || err instanceof Error ? err.name : '';
  switch (name) {
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
