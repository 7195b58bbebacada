import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { MediaError } from './errors.js';
import type { AudioInput } from './ffmpeg-args.js';

/** The microphone input for `--mic [DEVICE]`: `pulse:NAME`, `alsa:NAME`, a bare ALSA name, or none. */
export type MicInput = Extract<AudioInput, { kind: 'mic' }>;

/**
 * The capture device a `--mic` value names. `pulse:NAME` and `alsa:NAME` pick the backend; a bare name is
 * an ALSA device (`hw:1,0`, `default`), since ALSA names are the ones with colons of their own. With no
 * value: PulseAudio's default source when a PulseAudio (or PipeWire) server is there, else ALSA's default.
 */
export function resolveMic(spec: string | undefined, env: NodeJS.ProcessEnv = process.env): MicInput {
  if (spec === undefined || spec === '') {
    return pulseAvailable(env)
      ? { kind: 'mic', backend: 'pulse', device: 'default' }
      : { kind: 'mic', backend: 'alsa', device: 'default' };
  }
  if (spec.startsWith('pulse:')) return { kind: 'mic', backend: 'pulse', device: spec.slice(6) || 'default' };
  if (spec.startsWith('alsa:')) return { kind: 'mic', backend: 'alsa', device: spec.slice(5) || 'default' };
  return { kind: 'mic', backend: 'alsa', device: spec };
}

/** How a microphone is named in messages: `pulse:default`. */
export function describeMic(mic: MicInput): string {
  return `${mic.backend}:${mic.device}`;
}

/** Whether a PulseAudio server can be reached by its usual socket (or is named by $PULSE_SERVER). */
function pulseAvailable(env: NodeJS.ProcessEnv): boolean {
  if (env.PULSE_SERVER) return true;
  const runtime = env.XDG_RUNTIME_DIR ?? (process.getuid ? `/run/user/${process.getuid()}` : '');
  return (runtime !== '' && existsSync(join(runtime, 'pulse', 'native'))) || existsSync('/run/pulse/native');
}

const NO_MIC_HINT =
  'check the device with `arecord -l` (ALSA) or `pactl list short sources` (PulseAudio), pick one with ' +
  '--mic alsa:hw:CARD,DEV or --mic pulse:NAME, or leave the sound out with --no-audio';

/** A fast, clear error for an ALSA microphone on a machine without any sound card, before ffmpeg starts. */
export function micPreflight(mic: MicInput): MediaError | null {
  if (mic.backend !== 'alsa') return null;
  let cards = '';
  try {
    cards = readFileSync('/proc/asound/cards', 'utf8');
  } catch {
    // No ALSA in this kernel (or no /proc): nothing can be opened.
  }
  if (cards.trim() === '' || /no soundcards/i.test(cards)) {
    return new MediaError(
      'FW_MIC_MISSING',
      `no microphone: this machine has no sound card for ALSA to open (${describeMic(mic)}): ${NO_MIC_HINT}`,
    );
  }
  return null;
}

/** The error for an ffmpeg that failed with `stderr`, when it says the microphone did not open; else null. */
export function micFailure(mic: MicInput, stderr: string): MediaError | null {
  // ffmpeg names the device in the line that says it failed: `default: Input/output error`.
  const failed =
    /cannot open audio device|Unknown PCM|No such process|Connection refused|Input\/output error/i;
  if (!failed.test(stderr) || !stderr.includes(mic.device)) return null;
  return new MediaError(
    'FW_MIC_MISSING',
    `the microphone ${describeMic(mic)} could not be opened: ${NO_MIC_HINT}\n${stderr}`,
  );
}
