/// <reference lib="dom" />
// Functions passed to page.evaluate run in the page, so this file needs the DOM types.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import type { Message } from '../../src/protocol/index.js';
import { type RelayServer, startServer } from '../../src/server/index.js';
import { launchChromium } from '../helpers/browser.js';
import { poll } from '../helpers/cli.js';
import { WireClient } from '../helpers/wire-client.js';

type FrameMsg = Extract<Message, { type: 'frame' }>;

/**
 * A WHIP client written from RFC 9725 in the page, with no Framewire code: the fake camera and microphone
 * on a sendonly RTCPeerConnection (video limited to `codec` when given), its offer POSTed as
 * application/sdp, the answer set. Resolves with the session URL once ICE connects.
 */
async function publishWhip(page: Page, url: string, codec: 'H264' | 'VP8' | null): Promise<string> {
  await page.evaluate('globalThis.__name = (f) => f');
  return page.evaluate(
    async ({ url, codec }) => {
      const media = await navigator.mediaDevices.getUserMedia({
        video: { width: 640, height: 480 },
        audio: true,
      });
      const pc = new RTCPeerConnection();
      for (const track of media.getTracks()) {
        const t = pc.addTransceiver(track, { direction: 'sendonly' });
        if (track.kind === 'video' && codec) {
          const codecs = RTCRtpSender.getCapabilities('video')?.codecs ?? [];
          t.setCodecPreferences(codecs.filter((c) => c.mimeType === `video/${codec}`));
        }
      }
      await pc.setLocalDescription(await pc.createOffer());
      await new Promise<void>((resolve) => {
        if (pc.iceGatheringState === 'complete') resolve();
        pc.onicegatheringstatechange = () => pc.iceGatheringState === 'complete' && resolve();
        setTimeout(resolve, 2000);
      });
      const res = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/sdp' },
        body: pc.localDescription?.sdp,
      });
      if (res.status !== 201) throw new Error(`WHIP POST: ${res.status} ${await res.text()}`);
      const location = res.headers.get('location') ?? '';
      await pc.setRemoteDescription({ type: 'answer', sdp: await res.text() });
      await new Promise<void>((resolve, reject) => {
        const deadline = setTimeout(() => reject(new Error(`ICE ${pc.iceConnectionState}`)), 15_000);
        const check = () => {
          if (pc.connectionState === 'connected') {
            clearTimeout(deadline);
            resolve();
          }
        };
        pc.onconnectionstatechange = check;
        check();
      });
      (window as unknown as { whipPc: RTCPeerConnection }).whipPc = pc;
      return location;
    },
    { url, codec },
  );
}

describe('WHIP: a browser publishes over WebRTC', () => {
  let server: RelayServer;
  let browser: Browser;
  const clients: WireClient[] = [];
  const logs: string[] = [];

  before(async () => {
    server = await startServer({ tcpPort: 0, httpPort: 0, webrtcPort: 0, log: (l) => logs.push(l) });
    browser = await launchChromium();
  });

  after(async () => {
    if (process.env.FW_TEST_LOGS) console.log(logs.filter((l) => /whip|webrtc|error/.test(l)).join('\n'));
    for (const c of clients) c.close();
    await browser?.close();
    await server?.close();
  });

  for (const codec of ['H264', 'VP8'] as const) {
    it(`relays the camera (${codec}) and microphone (Opus) to a protocol viewer, with keyframes`, async () => {
      const name = `chrome-${codec.toLowerCase()}`;
      const page = await browser.newPage();
      await page.goto(server.httpUrl);
      const location = await publishWhip(page, `${server.httpUrl}/whip/lab/${name}`, codec);
      assert.match(location, new RegExp(`^/whip/lab/${name}/[0-9a-f]{32}$`));
      // The stream opens at the first keyframe, a moment after ICE connects.
      await poll(() => server.relay.findStream('lab', name), 10_000, 'the WHIP stream');
      const viewer = await WireClient.hello(server.tcpPort, 'viewer');
      clients.push(viewer);
      viewer.send({ type: 'subscribe', requestId: 1, room: 'lab', name });
      const added = await viewer.next((m) => m.type === 'stream-added', 15_000);
      assert.ok(added.type === 'stream-added');
      const tracks = added;
      assert.match(tracks.video?.codec ?? '', codec === 'H264' ? /^avc1\./ : /^vp8$/);
      assert.equal(tracks.video?.codedWidth, 640);
      assert.equal(tracks.video?.codedHeight, 480);
      assert.equal(tracks.audio?.codec, 'opus');
      const frames = await viewer.until(() => {
        const all = viewer.frames() as FrameMsg[];
        const video = all.filter((f) => f.track !== 'audio');
        const audio = all.filter((f) => f.track === 'audio');
        return video.length >= 60 && audio.length >= 50 && { video, audio };
      }, 20_000);
      assert.ok(frames.video[0]?.key, 'the first video frame is a keyframe');
      // Media time runs forward at about real time: 60 frames of a 30 fps camera span over a second.
      const span = (frames.video.at(-1)?.timestamp ?? 0) - (frames.video[0]?.timestamp ?? 0);
      assert.ok(span > 500_000, `video spans ${span} µs`);
      // A keyframe request from the relay reaches the browser as a PLI: another keyframe follows.
      const keysBefore = frames.video.filter((f) => f.key).length;
      const stream = server.relay.findStream('lab', name);
      assert.ok(stream);
      stream.requestKeyframe(0);
      await viewer.until(
        () => (viewer.frames() as FrameMsg[]).filter((f) => f.track !== 'audio' && f.key).length > keysBefore,
        10_000,
      );
      const stats = (await (await fetch(`${server.httpUrl}${location}`)).json()) as {
        frames: number;
        keyframes: number;
      };
      console.log(
        `whip ${codec}: ${stats.frames} video frames, ${stats.keyframes} keyframes, ${frames.audio.length}+ audio frames`,
      );
      const deleted = await fetch(`${server.httpUrl}${location}`, { method: 'DELETE' });
      assert.equal(deleted.status, 200);
      await poll(() => server.relay.findStream('lab', name) === undefined, 5000, 'stream ended');
      await page.close();
    });
  }
});
