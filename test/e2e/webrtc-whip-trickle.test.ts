/// <reference lib="dom" />
// Functions passed to page.evaluate run in the page, so this file needs the DOM types.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Browser } from 'playwright-core';
import { type RelayServer, startServer } from '../../src/server/index.js';
import { launchChromium } from '../helpers/browser.js';
import { poll } from '../helpers/cli.js';

/** What the page reports about its trickle publish. */
interface TrickleRun {
  location: string;
  /** Gathering state and candidates seen when the offer was POSTed. */
  gatheringAtPost: string;
  candidatesAtPost: number;
  offerHadCandidates: boolean;
  /** Status of every PATCH, in order (the last one is the end-of-candidates marker). */
  patches: number[];
  /** Types of the selected pair's candidates: the browser's own and the server's as the browser knows it. */
  localType: string;
  remoteType: string;
}

/**
 * What this proves: Chromium POSTs its offer at once, before gathering (the offer from createOffer holds
 * no candidate), and PATCHes each candidate as onicecandidate gives it. The page strips the server's
 * candidates from the answer, so the browser knows no address of the server and cannot start a check:
 * only the server can, to the candidates it was trickled, and the browser then learns the server as a
 * peer-reflexive candidate (the selected pair's remote type says so). Without the trickled candidates
 * neither side has an address to try (checked by hand: that run never connects). It does not prove the
 * server would pick a trickled candidate over a peer-reflexive one when both exist.
 */
describe('WHIP with trickle ICE: a browser PATCHes its candidates', () => {
  let server: RelayServer;
  let browser: Browser;
  const logs: string[] = [];

  before(async () => {
    server = await startServer({ tcpPort: 0, httpPort: 0, webrtcPort: 0, log: (l) => logs.push(l) });
    browser = await launchChromium();
  });

  after(async () => {
    if (process.env.FW_TEST_LOGS) console.log(logs.filter((l) => /whip|webrtc|error/.test(l)).join('\n'));
    await browser?.close();
    await server?.close();
  });

  it('publishes the camera with an offer sent before gathering and candidates sent by PATCH', async () => {
    const page = await browser.newPage();
    await page.goto(server.httpUrl);
    await page.evaluate('globalThis.__name = (f) => f');
    const run: TrickleRun = await page.evaluate(async (url) => {
      const media = await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 480 } });
      const pc = new RTCPeerConnection();
      const track = media.getVideoTracks()[0] as MediaStreamTrack;
      pc.addTransceiver(track, { direction: 'sendonly' }).setCodecPreferences(
        (RTCRtpSender.getCapabilities('video')?.codecs ?? []).filter((c) => c.mimeType === 'video/H264'),
      );
      const offer = await pc.createOffer();
      const sdp = offer.sdp ?? '';
      const ufrag = /a=ice-ufrag:(\S+)/.exec(sdp)?.[1] ?? '';
      const pwd = /a=ice-pwd:(\S+)/.exec(sdp)?.[1] ?? '';
      // RFC 8840 fragment: the offer's credentials, then the candidate's section (its m= line and mid).
      const fragment = (lines: string[], mid: string) =>
        [
          `a=ice-ufrag:${ufrag}`,
          `a=ice-pwd:${pwd}`,
          'm=video 9 UDP/TLS/RTP/SAVPF 0',
          `a=mid:${mid}`,
          ...lines,
        ]
          .join('\r\n')
          .concat('\r\n');
      let location = '';
      const waiting: string[] = [];
      const patches: Promise<number>[] = [];
      const patch = (body: string) => {
        patches.push(
          fetch(location, {
            method: 'PATCH',
            headers: { 'content-type': 'application/trickle-ice-sdpfrag' },
            body,
          }).then((r) => r.status),
        );
      };
      // Candidates that come before the session URL wait for it; later ones go at once.
      let ended: () => void = () => {};
      const gathered = new Promise<void>((resolve) => {
        ended = resolve;
      });
      pc.onicecandidate = (e) => {
        const body = e.candidate?.candidate
          ? fragment([`a=${e.candidate.candidate}`], e.candidate.sdpMid ?? '0')
          : 'a=end-of-candidates\r\n';
        if (location) patch(body);
        else waiting.push(body);
        if (!e.candidate) ended();
      };
      await pc.setLocalDescription(offer);
      const gatheringAtPost = pc.iceGatheringState;
      const candidatesAtPost = waiting.length;
      const res = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/sdp' },
        body: sdp,
      });
      if (res.status !== 201) throw new Error(`WHIP POST: ${res.status} ${await res.text()}`);
      location = res.headers.get('location') ?? '';
      // No server candidate for the browser: it reaches the server only by answering the server's checks.
      const answer = (await res.text()).replace(/^a=candidate:.*\r?\n/gm, '');
      await pc.setRemoteDescription({ type: 'answer', sdp: answer });
      for (const body of waiting.splice(0)) patch(body);
      await new Promise<void>((resolve, reject) => {
        const deadline = setTimeout(() => reject(new Error(`ICE ${pc.iceConnectionState}`)), 15_000);
        const check = () => {
          if (pc.connectionState !== 'connected') return;
          clearTimeout(deadline);
          resolve();
        };
        pc.onconnectionstatechange = check;
        check();
      });
      await gathered;
      const stats: Record<string, unknown>[] = [];
      (await pc.getStats()).forEach((s) => {
        stats.push(s);
      });
      const transport = stats.find((s) => s.type === 'transport');
      const pair = stats.find((s) => s.id === transport?.selectedCandidatePairId);
      const typeOf = (id: unknown) => String(stats.find((s) => s.id === id)?.candidateType);
      (window as unknown as { whipPc: RTCPeerConnection }).whipPc = pc;
      return {
        location,
        gatheringAtPost,
        candidatesAtPost,
        offerHadCandidates: /a=candidate:/.test(sdp),
        patches: await Promise.all(patches),
        localType: typeOf(pair?.localCandidateId),
        remoteType: typeOf(pair?.remoteCandidateId),
      };
    }, `${server.httpUrl}/whip/lab/trickled`);
    console.log(`whip trickle: ${JSON.stringify(run)}`);
    assert.equal(run.offerHadCandidates, false);
    assert.notEqual(run.gatheringAtPost, 'complete', 'the offer went out before gathering completed');
    assert.ok(run.patches.length >= 2, 'at least one candidate and the end marker were PATCHed');
    assert.deepEqual(new Set(run.patches), new Set([204]));
    assert.equal(run.remoteType, 'prflx', 'the browser learned the server only from its checks');
    // The stream opens at the first keyframe; then frames keep arriving on the server.
    await poll(() => server.relay.findStream('lab', 'trickled'), 10_000, 'the WHIP stream');
    const frames = async () =>
      ((await (await fetch(`${server.httpUrl}${run.location}`)).json()) as { frames: number }).frames;
    await poll(async () => (await frames()) >= 30, 10_000, '30 frames on the server');
    assert.equal((await fetch(`${server.httpUrl}${run.location}`, { method: 'DELETE' })).status, 200);
    await page.close();
  });
});
