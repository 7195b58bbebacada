// A sound card for browsers on a machine that has none: a private PulseAudio daemon whose only sink is a null
// sink (it plays into nothing, in real time). Firefox needs it: with no audio output its AudioContext never
// leaves `suspended` (measured: ALSA's null device and Firefox's cubeb prefs did not help), so a page can
// neither play sound nor capture the microphone through an AudioWorklet. Chromium does not need it.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startDaemon } from './daemon.js';

/** A running null-sink PulseAudio; `server` goes in a client's PULSE_SERVER. */
export interface NullSound {
  readonly server: string;
  /** Ends the daemon (by its PID) and removes its directory; safe to call twice. */
  stop(): Promise<void>;
}

/** How long the daemon may take to open its socket. */
const START_TIMEOUT_MS = 10_000;

/**
 * Starts PulseAudio with a 48 kHz null sink, listening on a socket in a new temporary directory (no
 * autospawn, no D-Bus, no cookie: anonymous access to that socket only). Throws, saying what to install,
 * when `pulseaudio` is missing: a test that needs sound must fail, not skip.
 */
export async function startNullSound(): Promise<NullSound> {
  if (spawnSync('pulseaudio', ['--version']).error) {
    throw new Error(
      'pulseaudio not found: install it with `apt-get install pulseaudio` (or scripts/install-system-deps.sh); ' +
        "Firefox's Web Audio needs an audio output to run",
    );
  }
  const dir = mkdtempSync(join(tmpdir(), 'fw-pulse-'));
  const socket = join(dir, 'native');
  const daemon = startDaemon(
    'pulseaudio',
    [
      '-n', // no default.pa: only the modules below
      '--daemonize=no',
      '--exit-idle-time=-1',
      '--use-pid-file=no',
      '--disable-shm=yes',
      '-L',
      'module-null-sink sink_name=framewire rate=48000',
      '-L',
      `module-native-protocol-unix auth-anonymous=1 socket=${socket}`,
    ],
    { env: { ...process.env, HOME: dir, XDG_RUNTIME_DIR: dir } },
  );
  const { child, stderr } = daemon;
  const stop = async () => {
    await daemon.stop();
    rmSync(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (!existsSync(socket)) {
    if (child.exitCode !== null || Date.now() > deadline) {
      await stop();
      throw new Error(`pulseaudio did not start its null sink:\n${stderr()}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return { server: `unix:${socket}`, stop };
}
