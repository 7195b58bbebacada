// The camera bar of a room: name, camera, microphone, size and codec, the Start/Stop camera button, the
// microphone's mute button, and Share screen with what the screen shows.
import { listCameras, listMicrophones, RESOLUTIONS, type Resolution } from './camera.js';
import { CODEC_LABELS, type CodecChoice, supportedCodecs } from './codecs.js';
import { el } from './dom.js';
import { canShareScreen, type ScreenContent } from './screen.js';
import { loadSettings, saveSettings } from './settings.js';

/** What the person chose in the camera bar. */
export interface CameraChoice {
  name: string;
  deviceId: string;
  micId: string;
  size: Resolution;
  codec: CodecChoice;
}

/** The camera bar. `onToggle` is called by the button; `onChange` when a setting changes. */
export class CameraControls {
  /** The bar's root element. */
  readonly element: HTMLElement;
  /** The Start/Stop camera button (id `start-camera`, a hook for tests). */
  readonly button: HTMLButtonElement;
  private readonly nameInput: HTMLInputElement;
  private readonly cameraSelect: HTMLSelectElement;
  private readonly micSelect: HTMLSelectElement;
  /** Mutes the microphone while the camera runs (id `mute-mic`; `aria-pressed` is true while muted). */
  readonly muteButton: HTMLButtonElement;
  /** Whether the microphone is muted. */
  muted = false;
  private readonly sizeSelect: HTMLSelectElement;
  private readonly codecSelect: HTMLSelectElement;
  /** The Share/Stop sharing button (id `share-screen`); hidden where the browser cannot share a screen. */
  readonly screenButton: HTMLButtonElement;
  /** What the shared screen shows (id `screen-content`): sharp text or smooth motion. */
  private readonly screenContent: HTMLSelectElement;
  private readonly note = el('p', { class: 'camera-note', id: 'camera-note', hidden: '' });
  /** Why the camera cannot be sent (see {@link setUnavailable}); null when it can. */
  unavailable: string | null = null;

  constructor(
    initialName: string,
    private readonly onToggle: () => void,
    private readonly onChange: () => void,
    private readonly onMute: (muted: boolean) => void = () => {},
    private readonly onScreen: () => void = () => {},
  ) {
    const saved = loadSettings();
    this.nameInput = el('input', {
      id: 'your-name',
      type: 'text',
      maxlength: '40',
      placeholder: 'Your name',
      autocomplete: 'nickname',
    });
    this.nameInput.value = initialName || saved.name;
    this.cameraSelect = el(
      'select',
      { id: 'camera', 'aria-label': 'Camera' },
      el('option', { value: '' }, 'Default camera'),
    );
    this.micSelect = el(
      'select',
      { id: 'microphone', 'aria-label': 'Microphone' },
      el('option', { value: '' }, 'Default microphone'),
    );
    this.micSelect.dataset.saved = saved.micId;
    this.muteButton = el(
      'button',
      { id: 'mute-mic', type: 'button', 'aria-pressed': 'false', hidden: '', title: 'Mute your microphone' },
      'Mute',
    );
    this.muteButton.addEventListener('click', () => this.setMuted(!this.muted));
    this.sizeSelect = el(
      'select',
      { id: 'resolution', 'aria-label': 'Resolution' },
      ...RESOLUTIONS.map((r) => el('option', { value: `${r.width}x${r.height}` }, `${r.width}×${r.height}`)),
    );
    this.sizeSelect.value = saved.resolution;
    if (!this.sizeSelect.value) this.sizeSelect.value = '640x480';
    this.codecSelect = el(
      'select',
      { id: 'codec', 'aria-label': 'Codec' },
      el('option', { value: 'auto' }, 'Auto codec'),
    );
    this.codecSelect.dataset.saved = saved.codec;
    this.button = el('button', { id: 'start-camera', type: 'button', class: 'primary' }, 'Start camera');
    this.button.addEventListener('click', () => this.onToggle());
    this.screenButton = el(
      'button',
      { id: 'share-screen', type: 'button', title: 'Share a screen, a window or a tab' },
      'Share screen',
    );
    this.screenButton.addEventListener('click', () => this.onScreen());
    this.screenContent = el(
      'select',
      { id: 'screen-content', 'aria-label': 'What the shared screen shows' },
      el('option', { value: 'detail' }, 'Text & slides'),
      el('option', { value: 'motion' }, 'Video & games (60 fps)'),
    );
    const screenField = el('label', { class: 'field' }, el('span', {}, 'Screen shows'), this.screenContent);
    if (!canShareScreen()) {
      this.screenButton.hidden = true;
      screenField.hidden = true;
    }
    for (const select of [this.cameraSelect, this.micSelect, this.sizeSelect, this.codecSelect]) {
      select.addEventListener('change', () => {
        this.remember();
        if (select === this.sizeSelect) void this.refreshCodecs();
        this.onChange();
      });
    }
    this.nameInput.addEventListener('change', () => this.remember());
    this.element = el(
      'div',
      { class: 'camera-bar' },
      el('label', { class: 'field' }, el('span', {}, 'Name'), this.nameInput),
      el('label', { class: 'field' }, el('span', {}, 'Camera'), this.cameraSelect),
      el('label', { class: 'field' }, el('span', {}, 'Microphone'), this.micSelect),
      el('label', { class: 'field' }, el('span', {}, 'Size'), this.sizeSelect),
      el('label', { class: 'field' }, el('span', {}, 'Codec'), this.codecSelect),
      this.button,
      this.muteButton,
      screenField,
      this.screenButton,
      this.note,
    );
    this.cameraSelect.dataset.saved = saved.deviceId;
    void this.refreshDevices();
    void this.refreshCodecs();
  }

  /** The current choice. */
  get choice(): CameraChoice {
    const [w, h] = this.sizeSelect.value.split('x').map(Number);
    return {
      name: this.nameInput.value.trim(),
      deviceId: this.cameraSelect.value,
      micId: this.micSelect.value,
      size: { width: w ?? 640, height: h ?? 480 },
      codec: (this.codecSelect.value || 'auto') as CodecChoice,
    };
  }

  /** Shows whether the camera is on. */
  setRunning(running: boolean): void {
    this.button.textContent = running ? 'Stop camera' : 'Start camera';
    this.button.classList.toggle('primary', !running);
    this.button.classList.toggle('danger', running);
    this.nameInput.disabled = running;
    this.muteButton.hidden = !running;
    if (!running) this.setMuted(false);
  }

  /** What the person says their shared screen shows. */
  get screenChoice(): ScreenContent {
    return this.screenContent.value === 'motion' ? 'motion' : 'detail';
  }

  /** Shows whether a screen is shared. */
  setScreenRunning(running: boolean): void {
    this.screenButton.textContent = running ? 'Stop sharing' : 'Share screen';
    this.screenButton.classList.toggle('danger', running);
    this.screenContent.disabled = running;
  }

  /** Mutes or unmutes the microphone, and says so on the button. */
  setMuted(muted: boolean): void {
    const changed = muted !== this.muted;
    this.muted = muted;
    this.muteButton.textContent = muted ? 'Unmute' : 'Mute';
    this.muteButton.setAttribute('aria-pressed', String(muted));
    this.muteButton.title = muted ? 'Your microphone is muted: click to be heard' : 'Mute your microphone';
    this.muteButton.classList.toggle('danger', muted);
    if (changed) this.onMute(muted);
  }

  /**
   * Turns the Start button off for good and says why: the page's link does not allow sending (`token`), this
   * browser cannot send (`browser`), or this page is not secure, so the browser gives it no camera (`insecure`).
   */
  setUnavailable(reason: string, cause: 'token' | 'browser' | 'insecure' = 'token'): void {
    this.unavailable = reason;
    this.button.disabled = true;
    this.button.title = reason;
    // What stops a camera (the link, the browser, an insecure page) stops a screen too.
    this.screenButton.disabled = true;
    this.screenButton.title = reason;
    this.button.dataset.unavailable = cause;
    this.note.textContent = reason;
    this.note.hidden = false;
  }

  /** Fills the camera and microphone menus (names appear once the page has been allowed them). */
  async refreshDevices(): Promise<void> {
    const mics = await listMicrophones().catch(() => []);
    const currentMic = this.micSelect.value || this.micSelect.dataset.saved || '';
    this.micSelect.replaceChildren(
      el('option', { value: '' }, 'Default microphone'),
      ...mics
        .filter((m) => m.deviceId && m.deviceId !== 'default')
        .map((m, i) => el('option', { value: m.deviceId }, m.label || `Microphone ${i + 1}`)),
    );
    this.micSelect.value = currentMic;
    if (this.micSelect.value !== currentMic) this.micSelect.value = '';
    const cameras = await listCameras().catch(() => []);
    const current = this.cameraSelect.value || this.cameraSelect.dataset.saved || '';
    this.cameraSelect.replaceChildren(
      el('option', { value: '' }, 'Default camera'),
      ...cameras
        .filter((c) => c.deviceId)
        .map((c, i) => el('option', { value: c.deviceId }, c.label || `Camera ${i + 1}`)),
    );
    this.cameraSelect.value = current;
    if (this.cameraSelect.value !== current) this.cameraSelect.value = '';
  }

  /** Offers the codecs this browser can encode at the chosen size. */
  private async refreshCodecs(): Promise<void> {
    const { width, height } = this.choice.size;
    const codecs = await supportedCodecs(width, height);
    const current =
      this.codecSelect.value !== 'auto' ? this.codecSelect.value : this.codecSelect.dataset.saved || 'auto';
    this.codecSelect.replaceChildren(
      el('option', { value: 'auto' }, 'Auto codec'),
      ...codecs.map((c) => el('option', { value: c }, CODEC_LABELS[c])),
    );
    this.codecSelect.value = current;
    if (this.codecSelect.value !== current) this.codecSelect.value = 'auto';
  }

  private remember(): void {
    const c = this.choice;
    saveSettings({
      name: c.name,
      deviceId: c.deviceId,
      micId: c.micId,
      resolution: this.sizeSelect.value,
      codec: c.codec,
    });
  }
}
