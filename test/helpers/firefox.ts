import puppeteer, { type Browser } from 'puppeteer-core';

/** Debian's Firefox ESR (scripts/install-system-deps.sh installs it); never a downloaded browser. */
export const FIREFOX = '/usr/bin/firefox-esr';

/**
 * Launches headless Firefox ESR over WebDriver BiDi with a fake camera and microphone, granted without a
 * prompt (GUIDE §5). Pages must be on http://127.0.0.1: about:blank has no mediaDevices.
 */
export function launchFirefox(): Promise<Browser> {
  return puppeteer.launch({
    browser: 'firefox',
    executablePath: FIREFOX,
    headless: true,
    extraPrefsFirefox: {
      'media.navigator.streams.fake': true,
      'media.navigator.permission.disabled': true,
    },
  });
}
