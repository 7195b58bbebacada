/// <reference lib="dom" />
// Functions passed to page.evaluate run in the page, so this file needs the DOM types.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { type RelayServer, startServer } from '../../src/server/index.js';
import { launchChromium } from '../helpers/browser.js';
import { poll } from '../helpers/cli.js';
import { type LivePublisher, startLivePublisher } from '../helpers/live-publisher.js';

/** What the page saw of the WHEP stream. */
interface Played {
  framesDecoded: number;
  width: number;
  /** Distinct picture fingerprints over the callbacks sampled: more than one means the picture moves. */
  distinctPictures: number;
  location: string;
  /** Opus packets received and the energy of the sound played (0 for silence or no audio). */
  audioPackets: number;
  audioEnergy: number;
  /** Audio samples decoded from packets (received minus concealed). */
  audioDecoded: number;
}

/**
 * A WHEP player written from the draft in the page, with no Framewire code: a recvonly RTCPeerConnection,
 * its offer POSTed as application/sdp, the answer set; then frames counted by requestVideoFrameCallback and
 * the picture sampled through a canvas.
 */
async function playWhep(page: Page, url: string, token: string | null): Promise<Played> {
  // tsx names the page function's inner functions with a `__name` helper the page lacks.
  await page.evaluate('globalThis.__name = (f) => f');
  return page.evaluate(
    async ({ url, token }) => {
      const pc = new RTCPeerConnection();
      pc.addTransceiver('video', { direction: 'recvonly' });
      pc.addTransceiver('audio', { direction: 'recvonly' });
      const video = document.createElement('video');
      // Unmuted (the browser runs with no autoplay gesture needed): sound is played, so its energy is measured.
      video.muted = false;
      video.autoplay = true;
      video.playsInline = true;
      document.body.append(video);
      const received = new MediaStream();
      pc.ontrack = (e) => {
        received.addTrack(e.track);
        video.srcObject = received;
      };
      await pc.setLocalDescription(await pc.createOffer());
      // All candidates in the offer (no trickle): wait for gathering to finish.
      await new Promise<void>((resolve) => {
        if (pc.iceGatheringState === 'complete') resolve();
        pc.onicegatheringstatechange = () => pc.iceGatheringState === 'complete' && resolve();
        setTimeout(resolve, 2000);
      });
      const headers: Record<string, string> = { 'content-type': 'application/sdp' };
      if (token) headers.authorization = `Bearer ${token}`;
      const res = await fetch(url, { method: 'POST', headers, body: pc.localDescription?.sdp });
      if (res.status !== 201) throw new Error(`WHEP POST: ${res.status} ${await res.text()}`);
      const location = res.headers.get('location') ?? '';
      await pc.setRemoteDescription({ type: 'answer', sdp: await res.text() });
      const canvas = document.createElement('canvas');
      canvas.width = 32;
      canvas.height = 24;
      const ctx = canvas.getContext('2d', { willReadFrequently: true }) as CanvasRenderingContext2D;
      const pictures = new Set<string>();
      let frames = 0;
      await new Promise<void>((resolve, reject) => {
        const deadline = setTimeout(() => reject(new Error(`only ${frames} frames in 20 s`)), 20_000);
        const onFrame = () => {
          frames++;
          if (frames % 5 === 0) {
            ctx.drawImage(video, 0, 0, 32, 24);
            const data = ctx.getImageData(0, 0, 32, 24).data;
            let sum = 0;
            for (let i = 0; i < data.length; i += 7) sum = (sum * 31 + (data[i] ?? 0)) >>> 0;
            pictures.add(String(sum));
          }
          if (frames >= 60) {
            clearTimeout(deadline);
            resolve();
          } else {
            video.requestVideoFrameCallback(onFrame);
          }
        };
        video.requestVideoFrameCallback(onFrame);
      });
      let framesDecoded = 0;
      let audioPackets = 0;
      let audioEnergy = 0;
      let audioDecoded = 0;
      let hasAudio = false;
      // Sound, when the stream has it, is read once a second or more of it has played (bounded wait).
      for (let i = 0; i < 50; i++) {
        const stats = await pc.getStats();
        stats.forEach((s) => {
          if (s.type === 'inbound-rtp' && s.kind === 'video') framesDecoded = s.framesDecoded as number;
          if (s.type === 'inbound-rtp' && s.kind === 'audio') {
            hasAudio = true;
            audioPackets = s.packetsReceived as number;
            audioEnergy = (s.totalAudioEnergy as number | undefined) ?? 0;
            audioDecoded = ((s.totalSamplesReceived as number) ?? 0) - ((s.concealedSamples as number) ?? 0);
          }
        });
        if (!hasAudio || (audioDecoded > 48_000 && audioEnergy > 0)) break;
        await new Promise((r) => setTimeout(r, 200));
      }
      (window as unknown as { whepPc: RTCPeerConnection }).whepPc = pc;
      return {
        framesDecoded,
        width: video.videoWidth,
        distinctPictures: pictures.size,
        location,
        audioPackets,
        audioEnergy,
        audioDecoded,
      };
    },
    { url, token },
  );
}

describe('WHEP: a browser plays a stream over WebRTC', () => {
  let server: RelayServer;
  let browser: Browser;
  let publisher: LivePublisher;
  const logs: string[] = [];

  before(async () => {
    server = await startServer({ tcpPort: 0, httpPort: 0, webrtcPort: 0, log: (l) => logs.push(l) });
    publisher = await startLivePublisher(server.tcpPort, 'lab', 'cam', { codec: 'h264', fps: 30 });
    browser = await launchChromium({ args: ['--autoplay-policy=no-user-gesture-required'] });
  });

  after(async () => {
    await browser?.close();
    await publisher?.stop();
    await server?.close();
  });

  it('decodes moving H.264 frames, counts the player, and DELETE ends it', async () => {
    const page = await browser.newPage();
    // Any page of the server: the WHEP POST is then same-origin.
    await page.goto(server.httpUrl);
    const played = await playWhep(page, `${server.httpUrl}/whep/lab/cam`, null);
    assert.ok(played.framesDecoded >= 60, `decoded ${played.framesDecoded}`);
    assert.equal(played.width, 320);
    assert.ok(played.distinctPictures > 1, 'the picture moves');
    assert.match(played.location, /^\/whep\/lab\/cam\/[0-9a-f]{32}$/);
    // The player is a viewer like any other: counted among the stream's players, its latency readable.
    const stream = server.stats().streams.find((s) => s.name === 'cam');
    assert.equal(stream?.players, 1);
    const session = (await (await fetch(`${server.httpUrl}${played.location}`)).json()) as {
      framesSent: number;
      latencyMs: number | null;
      state: string;
    };
    assert.equal(session.state, 'playing');
    assert.ok(session.framesSent >= 60);
    assert.equal(typeof session.latencyMs, 'number');
    console.log(
      `whep: decoded ${played.framesDecoded}, sent ${session.framesSent}, latency ${session.latencyMs} ms`,
    );
    const deleted = await fetch(`${server.httpUrl}${played.location}`, { method: 'DELETE' });
    assert.equal(deleted.status, 200);
    await poll(
      () => server.stats().streams.find((s) => s.name === 'cam')?.players === 0,
      5000,
      'player gone',
    );
    assert.equal((await fetch(`${server.httpUrl}${played.location}`)).status, 404);
    await page.close();
  });

  it('plays VP8 (our packetizer) from a VP8 publisher', async () => {
    const vp8 = await startLivePublisher(server.tcpPort, 'lab', 'vp8cam', { codec: 'vp8', fps: 30 });
    try {
      const page = await browser.newPage();
      await page.goto(server.httpUrl);
      const played = await playWhep(page, `${server.httpUrl}/whep/lab/vp8cam`, null);
      assert.ok(played.framesDecoded >= 60, `decoded ${played.framesDecoded}`);
      assert.equal(played.width, 320);
      assert.ok(played.distinctPictures > 1, 'the picture moves');
      console.log(`whep vp8: decoded ${played.framesDecoded}`);
      await page.close();
    } finally {
      await vp8.stop();
    }
  });

  it('plays a WHIP publisher (browser camera and microphone) to a WHEP player, sound included', async () => {
    const sender = await browser.newPage();
    await sender.goto(server.httpUrl);
    await sender.evaluate(async (url) => {
      const media = await navigator.mediaDevices.getUserMedia({
        video: { width: 640, height: 480 },
        audio: true,
      });
      const pc = new RTCPeerConnection();
      for (const track of media.getTracks()) pc.addTransceiver(track, { direction: 'sendonly' });
      await pc.setLocalDescription(await pc.createOffer());
      await new Promise((r) => setTimeout(r, 500));
      const res = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/sdp' },
        body: pc.localDescription?.sdp,
      });
      if (res.status !== 201) throw new Error(`WHIP POST: ${res.status} ${await res.text()}`);
      await pc.setRemoteDescription({ type: 'answer', sdp: await res.text() });
      (window as unknown as { whipPc: RTCPeerConnection }).whipPc = pc;
    }, `${server.httpUrl}/whip/lab/phone`);
    await poll(() => server.relay.findStream('lab', 'phone'), 15_000, 'the WHIP stream');
    const player = await browser.newPage();
    await player.goto(server.httpUrl);
    const played = await playWhep(player, `${server.httpUrl}/whep/lab/phone`, null);
    assert.ok(played.framesDecoded >= 60, `decoded ${played.framesDecoded}`);
    assert.equal(played.width, 640);
    assert.ok(played.audioPackets > 50, `audio packets ${played.audioPackets}`);
    // The fake microphone beeps twice a second: the sound played is not silence.
    assert.ok(played.audioDecoded > 48_000, `audio samples decoded ${played.audioDecoded}`);
    assert.ok(played.audioEnergy > 0, 'sound is heard');
    const session = (await (await fetch(`${server.httpUrl}${played.location}`)).json()) as {
      latencyMs: number;
    };
    console.log(
      `whip->whep: decoded ${played.framesDecoded}, audio packets ${played.audioPackets}, decoded samples ${played.audioDecoded}, energy ${played.audioEnergy.toFixed(3)}, server latency ${session.latencyMs} ms`,
    );
    await player.close();
    await sender.close();
  });
});
