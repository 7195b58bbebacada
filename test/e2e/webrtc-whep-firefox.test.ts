/// <reference lib="dom" />
// Functions passed to page.evaluate run in the page, so this file needs the DOM types.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Browser } from 'puppeteer-core';
import { type RelayServer, startServer } from '../../src/server/index.js';
import { closeFirefox, launchFirefox } from '../helpers/firefox.js';
import { type LivePublisher, startLivePublisher } from '../helpers/live-publisher.js';

describe('WHEP: Firefox plays a stream over WebRTC', () => {
  let server: RelayServer;
  let browser: Browser;
  let publisher: LivePublisher;
  const logs: string[] = [];

  before(async () => {
    server = await startServer({ tcpPort: 0, httpPort: 0, webrtcPort: 0, log: (l) => logs.push(l) });
    // VP8: Firefox's WebRTC H.264 needs the OpenH264 plugin, which it downloads (no network here).
    publisher = await startLivePublisher(server.tcpPort, 'lab', 'cam', { codec: 'vp8', fps: 30 });
    // ICE over loopback: by default Firefox leaves 127.0.0.1 out of its candidates and hides the others
    // behind mDNS names, and this server listens on 127.0.0.1 only.
    browser = await launchFirefox({
      prefs: {
        'media.peerconnection.ice.loopback': true,
        'media.peerconnection.ice.obfuscate_host_addresses': false,
      },
    });
  });

  after(async () => {
    if (process.env.FW_TEST_LOGS) console.log(logs.filter((l) => /whep|webrtc/.test(l)).join('\n'));
    if (browser) await closeFirefox(browser);
    await publisher?.stop();
    await server?.close();
  });

  it('decodes VP8 frames from a recvonly RTCPeerConnection', async () => {
    const page = await browser.newPage();
    await page.goto(server.httpUrl);
    await page.evaluate('globalThis.__name = (f) => f');
    const played = await page.evaluate(async (url: string) => {
      const pc = new RTCPeerConnection();
      pc.addTransceiver('video', { direction: 'recvonly' });
      const video = document.createElement('video');
      video.muted = true;
      video.autoplay = true;
      document.body.append(video);
      pc.ontrack = (e) => {
        video.srcObject = new MediaStream([e.track]);
      };
      await pc.setLocalDescription(await pc.createOffer());
      await new Promise((r) => setTimeout(r, 1000));
      const res = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/sdp' },
        body: pc.localDescription?.sdp,
      });
      if (res.status !== 201) throw new Error(`WHEP POST: ${res.status} ${await res.text()}`);
      await pc.setRemoteDescription({ type: 'answer', sdp: await res.text() });
      let frames = 0;
      await new Promise<void>((resolve, reject) => {
        const deadline = setTimeout(async () => {
          const inbound: unknown[] = [];
          (await pc.getStats()).forEach((s) => {
            if (s.type === 'inbound-rtp') inbound.push(s);
          });
          const why = `ICE ${pc.iceConnectionState}, ${JSON.stringify(inbound)}`;
          reject(new Error(`only ${frames} frames in 20 s (${why})`));
        }, 20_000);
        const onFrame = () => {
          if (++frames >= 60) {
            clearTimeout(deadline);
            resolve();
          } else video.requestVideoFrameCallback(onFrame);
        };
        video.requestVideoFrameCallback(onFrame);
      });
      let framesDecoded = 0;
      (await pc.getStats()).forEach((s) => {
        if (s.type === 'inbound-rtp' && s.kind === 'video') framesDecoded = s.framesDecoded as number;
      });
      pc.close();
      return { framesDecoded, width: video.videoWidth };
    }, `${server.httpUrl}/whep/lab/cam`);
    assert.ok(played.framesDecoded >= 60, `decoded ${played.framesDecoded}`);
    assert.equal(played.width, 320);
    console.log(`firefox whep vp8: decoded ${played.framesDecoded}`);
  });
});
