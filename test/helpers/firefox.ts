import { rmSync } from 'node:fs';
import puppeteer, { type Browser } from 'puppeteer-core';
import { startNullSound } from './null-sound.js';

/** Debian's Firefox ESR (scripts/install-system-deps.sh installs it); never a downloaded browser. */
export const FIREFOX = '/usr/bin/firefox-esr';

/**
 * Launches headless Firefox ESR over WebDriver BiDi with a fake camera and microphone, granted without a
 * prompt (GUIDE §5). Pages must be on http://127.0.0.1: about:blank has no mediaDevices. With `sound`, the
 * browser gets a private null-sink PulseAudio (null-sound.ts), stopped when the browser closes, and may start
 * sound without a click: only then does its Web Audio run here. Its fake microphone is a steady 1 kHz tone
 * at −20 dBFS (peak 0.1), whatever processing the page asks for.
 */
export async function launchFirefox(
  options: { sound?: boolean; prefs?: Record<string, unknown> } = {},
): Promise<Browser> {
  const sound = options.sound ? await startNullSound() : null;
  try {
    const browser = await puppeteer.launch({
      browser: 'firefox',
      executablePath: FIREFOX,
      headless: true,
      // No single call into a page should take long; the default (180 s) outlasts a whole test file.
      protocolTimeout: 30_000,
      ...(sound ? { env: { ...process.env, PULSE_SERVER: sound.server } } : {}),
      extraPrefsFirefox: {
        'media.navigator.streams.fake': true,
        'media.navigator.permission.disabled': true,
        // Autoplay allowed, as headless Chromium's tests do with --autoplay-policy=no-user-gesture-required.
        ...(sound ? { 'media.autoplay.default': 0 } : {}),
        // A test's own, e.g. WebRTC's ICE over loopback.
        ...options.prefs,
      },
    });
    if (sound) browser.once('disconnected', () => void sound.stop());
    return browser;
  } catch (err) {
    await sound?.stop();
    throw err;
  }
}

/** How long a Firefox may take to close before it is killed. */
const CLOSE_TIMEOUT_MS = 10_000;

/**
 * Closes `browser`, or kills it by its PID if it has not closed in 10 s. With sound, Firefox here can
 * deadlock in its audio server (its PulseAudio thread and its audio IPC thread waiting on each other, seen
 * in gdb), above all when a page reads its AudioContext's output latency often; such a browser never
 * answers again, so each test that needs sound should use its own browser and end it with this.
 */
export async function closeFirefox(browser: Browser): Promise<void> {
  const closed = browser.close().then(
    () => true,
    () => false,
  );
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<false>((r) => {
    timer = setTimeout(() => r(false), CLOSE_TIMEOUT_MS);
  });
  const ok = await Promise.race([closed, late]);
  clearTimeout(timer);
  if (ok) return;
  const child = browser.process();
  if (child && child.exitCode === null && child.signalCode === null) {
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await exited;
  }
  // puppeteer removes its temporary profile only when the browser closes through it.
  const args = child?.spawnargs ?? [];
  const profile = args[args.indexOf('--profile') + 1];
  if (args.includes('--profile') && profile?.includes('puppeteer_dev_firefox_profile'))
    rmSync(profile, { recursive: true, force: true });
}
