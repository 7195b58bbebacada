// What the app remembers between visits (localStorage): the person's name and their camera settings.
import type { CodecChoice } from './codecs.js';

const KEY = 'framewire.settings';

/** The remembered settings. */
export interface Settings {
  name: string;
  deviceId: string;
  /** The microphone's device id; empty for the default one. */
  micId: string;
  /** `640x480` */
  resolution: string;
  codec: CodecChoice;
}

const DEFAULTS: Settings = { name: '', deviceId: '', micId: '', resolution: '640x480', codec: 'auto' };

/** The remembered settings, or the defaults (storage may be unavailable or hold junk). */
export function loadSettings(): Settings {
  try {
    const raw = localStorage.getItem(KEY);
    const parsed: unknown = raw ? JSON.parse(raw) : {};
    return { ...DEFAULTS, ...(typeof parsed === 'object' && parsed !== null ? parsed : {}) };
  } catch {
    return { ...DEFAULTS };
  }
}

/** Remembers some settings, keeping the others. */
export function saveSettings(changes: Partial<Settings>): void {
  try {
    localStorage.setItem(KEY, JSON.stringify({ ...loadSettings(), ...changes }));
  } catch {
    // Private windows may refuse storage; the app works without it.
  }
}
