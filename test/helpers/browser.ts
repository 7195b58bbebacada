import { type Browser, chromium } from 'playwright-core';

/** Debian's Chromium, installed by scripts/install-system-deps.sh (never a test tool's own download). */
export const CHROMIUM = '/usr/bin/chromium';

/**
 * Launches headless Chromium with a fake camera, allowed unless `grantCamera` is false, and any `args` of the
 * test's own. The background-networking flags keep it from calling out, which this machine's closed network
 * refuses (GUIDE, section 5).
 */
export async function launchChromium(
  options: { grantCamera?: boolean; args?: string[] } = {},
): Promise<Browser> {
  const { grantCamera = true, args = [] } = options;
  // playwright gives each launch a fresh, empty profile of its own.
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless=new',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--use-fake-device-for-media-stream=fps=30',
      // Without the fake UI the permission prompt cannot be answered, so the camera is refused.
      ...(grantCamera ? ['--use-fake-ui-for-media-stream'] : []),
      // Background tabs must keep decoding in tests that open several pages.
      '--disable-background-timer-throttling',
      '--disable-renderer-backgrounding',
      ...args,
    ],
  });
}
