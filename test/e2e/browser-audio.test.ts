/// <reference lib="dom" />
// Sound in the browser app, in real Chromium with its fake devices (the fake microphone beeps: ~60 ms at full
// scale about every 0.5 s). Every figure checked here is measured by the page from the samples its
// AudioWorklet actually played, and from the pictures it actually painted.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import {
  audioStats,
  type RemoteAudioStats,
  refuseCamera,
  remoteAudio,
  streamNamed,
} from '../helpers/audio-page.js';
import { launchChromium } from '../helpers/browser.js';
import { ensureBuilt, killStarted, poll, run, type Served, serve } from '../helpers/cli.js';
import { expectLiveTile, startCamera } from '../helpers/room-page.js';
import { tracksOf } from '../helpers/tracks.js';

/** Lets pages start sound without a click (the autoplay test launches its own browser without it). */
const AUTOPLAY = '--autoplay-policy=no-user-gesture-required';

let server: Served;
let dir = '';
let browser: Browser;
const pageErrors: string[] = [];

async function openRoom(b: Browser, room: string, name: string, query = ''): Promise<Page> {
  const context = await b.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  page.on('pageerror', (err) => pageErrors.push(`${name}: ${err.message}`));
  await page.goto(`http://127.0.0.1:${server.httpPort}/r/${room}?name=${name}${query}`);
  await page.waitForFunction(() => 'framewire' in window);
  return page;
}

/** Waits until `page` plays the sound of the stream whose name starts with `prefix`, loud enough to be the beep. */
async function expectHeard(
  page: Page,
  prefix: string,
  withinMs: number,
): Promise<{ name: string; audio: RemoteAudioStats }> {
  return poll(
    async () => {
      const name = await streamNamed(page, prefix);
      const audio = name ? await remoteAudio(page, name) : null;
      // The beep is full scale; echo cancellation, noise suppression and gain control may shape it, not hide it.
      return name && audio && audio.framesDecoded > 25 && audio.playedPeakMax > 0.1 && audio.audibleMs > 50
        ? { name, audio }
        : undefined;
    },
    withinMs,
    `${prefix}'s sound played on the page`,
  );
}

/** Samples the page's figures for `name` once a second for `seconds` (each figure covers the last second). */
async function sampleSeconds(page: Page, name: string, seconds: number): Promise<RemoteAudioStats[]> {
  const out: RemoteAudioStats[] = [];
  for (let i = 0; i < seconds; i++) {
    await new Promise((r) => setTimeout(r, 1000));
    const a = await remoteAudio(page, name);
    if (a) out.push(a);
  }
  return out;
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? Number.NaN;
}

before(async () => {
  ensureBuilt(['dist/cli/main.js', 'dist/web/index.html']);
  server = await serve();
  dir = mkdtempSync(join(tmpdir(), 'fw-browser-audio-'));
  browser = await launchChromium({ args: [AUTOPLAY] });
});

after(async () => {
  await browser?.close();
  await killStarted();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('sound in the browser app (Chromium, fake microphone)', { timeout: 240_000 }, () => {
  it('two pages in one room hear each other, with a small jitter buffer and pictures in step with the sound', async (t) => {
    const room = 'talk';
    // 320x240, the app's smallest size: this test is about sound and lip sync, and two pages encoding and
    // decoding 640x480 in software saturate this 2-core machine (since 2026-12-03, with Chromium 156 here,
    // the pages' stalls then cost 6-11 % of the audio frames to the relay's age bound and push the A/V |p95|
    // past 120 ms, on the code of the last green run too).
    const ada = await openRoom(browser, room, 'ada');
    await ada.selectOption('#resolution', '320x240');
    await startCamera(ada);
    const bob = await openRoom(browser, room, 'bob');
    await bob.selectOption('#resolution', '320x240');
    await startCamera(bob);

    const adaPub = (await audioStats(ada)).publisher;
    assert.equal(adaPub?.audio?.codec, 'opus', 'the page publishes Opus beside its video');
    assert.equal(adaPub?.audio?.capture, 'processor', 'Chromium captures through MediaStreamTrackProcessor');
    t.diagnostic(`opus options taken: ${JSON.stringify(adaPub?.audio?.opus)}`);

    const onBob = await expectHeard(bob, 'ada', 10_000);
    const onAda = await expectHeard(ada, 'bob', 10_000);
    await expectLiveTile(bob, onBob.name, 5000);
    await expectLiveTile(ada, onAda.name, 5000);
    assert.equal((await audioStats(bob)).audio.state, 'running');

    // Let the buffer settle (the first arrivals after joining are the noisiest), then measure on both pages.
    await new Promise((r) => setTimeout(r, 4000));
    const [bobHears, adaHears] = await Promise.all([
      sampleSeconds(bob, onBob.name, 5),
      sampleSeconds(ada, onAda.name, 5),
    ]);
    for (const [who, samples] of [
      ['bob hearing ada', bobHears],
      ['ada hearing bob', adaHears],
    ] as const) {
      const depth = median(samples.map((s) => s.depthMeanMs));
      const target = median(samples.map((s) => s.targetMs));
      const jitterTarget = median(samples.map((s) => s.jitterTargetMs));
      const offsets = samples.filter((s) => s.avOffsetSamples > 0);
      const offsetP50 = median(offsets.map((s) => s.avOffsetP50Ms ?? Number.NaN));
      const offsetP95 = median(offsets.map((s) => s.avOffsetAbsP95Ms ?? Number.NaN));
      const last = samples.at(-1) as RemoteAudioStats;
      t.diagnostic(
        `${who}: jitter buffer depth ${depth.toFixed(1)} ms (target ${target.toFixed(1)} ms, of which jitter ${jitterTarget.toFixed(1)} ms; jitter ${last.jitterMs} ms), ` +
          `A/V offset p50 ${offsetP50.toFixed(1)} ms, |p95| ${offsetP95.toFixed(1)} ms, playout delay ${last.playoutDelayMs} ms, ` +
          `video delay p95 ${last.videoDelayP95Ms} ms, peak ${last.playedPeakMax}, rms(last s) ${last.playedRms}, ` +
          `underruns ${last.underruns}, skips ${last.skips}, decoded ${last.framesDecoded}, lost ${last.framesLost}, ` +
          `output lead ${(await audioStats(who === 'bob hearing ada' ? bob : ada)).audio.outputLeadMs} ms`,
      );
      // Each second, the page played sound, measured from the samples it output (the beep is every 0.5 s).
      assert.ok(
        samples.filter((s) => s.playedPeak > 0.1 && s.playedRms > 0.005).length >= samples.length - 1,
        `${who}: audible every second: ${samples.map((s) => `${s.playedPeak}/${s.playedRms}`).join(' ')}`,
      );
      // The target (20 ms + 1.5 × the jitter measured, at least 30 ms) is printed above, not asserted: on a
      // loaded machine the pages' own scheduling delays are jitter too, and how far the target has shrunk
      // back at a given moment depends on the machine, not on the code. What must hold is that the buffer
      // follows its target.
      assert.ok(
        depth <= target + 40,
        `${who}: jitter-buffer depth ${depth} ms stays near its target ${target} ms`,
      );
      assert.ok(
        offsets.length >= samples.length - 1,
        `${who}: pictures were painted against the audio clock`,
      );
      assert.ok(Math.abs(offsetP50) <= 40, `${who}: A/V offset p50 ${offsetP50} ms within ±40 ms`);
      // Each picture's own offset also carries the timer's lateness and, on a loaded machine, the page's
      // scheduling delays (measured |p95| 13–19 ms with a load average of 4, 90 ms at 19; on 2026-12-03, 8–10
      // ms run alone and 70–117 ms inside the full e2e run, whose page jitter was 189–240 ms): a loose bound
      // that still fails when the sync is broken (before the decoder's timestamps were matched by order,
      // 600 ms). The p50 above is the tight check.
      assert.ok(offsetP95 <= 200, `${who}: A/V offset |p95| ${offsetP95} ms within 200 ms`);
      // On loopback nothing is lost unless the relay sheds a backlog (its age bound), which a saturated
      // machine can cause: a few per cent at most.
      assert.ok(
        last.framesLost <= last.framesDecoded * 0.05,
        `${who}: ${last.framesLost} of ${last.framesDecoded} audio frames lost`,
      );
    }

    // The mute button stops the microphone's frames; the other page's level of it falls to nothing.
    await ada.click('#mute-mic');
    assert.equal(await ada.getAttribute('#mute-mic', 'aria-pressed'), 'true');
    const sentAtMute = (await audioStats(ada)).publisher?.audio?.framesSent ?? 0;
    await new Promise((r) => setTimeout(r, 1000));
    const sentAfter = (await audioStats(ada)).publisher?.audio?.framesSent ?? 0;
    assert.ok(sentAfter - sentAtMute <= 2, `muted: ${sentAfter - sentAtMute} frames sent in 1 s`);
    await ada.click('#mute-mic');
    await poll(
      async () => ((await audioStats(ada)).publisher?.audio?.framesSent ?? 0) > sentAfter + 10,
      3000,
      'frames again after unmuting',
    );

    // The speaker button turns one tile's sound off for this page only.
    await bob.click(`[data-stream-name="${onBob.name}"] .tile-speaker`);
    assert.equal((await remoteAudio(bob, onBob.name))?.speakerOn, false);
    assert.equal(
      await bob
        .locator(`[data-stream-name="${onBob.name}"]`)
        .evaluate((e) => e.classList.contains('enlarged')),
      false,
      'the speaker button does not enlarge the tile',
    );

    await ada.context().close();
    await bob.context().close();
  });

  it('a page whose camera is refused but whose microphone is allowed publishes sound only, heard by the other', async () => {
    const room = 'voice';
    const carol = await openRoom(browser, room, 'carol');
    await refuseCamera(carol);
    await carol.reload();
    await carol.waitForFunction(() => 'framewire' in window);
    await carol.click('#start-camera');
    await poll(
      async () => ((await audioStats(carol)).publisher?.audio?.framesSent ?? 0) > 0,
      10_000,
      'carol sending sound',
    );
    const pub = (await audioStats(carol)).publisher;
    assert.equal(pub?.codec, null, 'no video track');
    assert.match((await carol.textContent('.message')) ?? '', /sending sound only/);
    const dave = await openRoom(browser, room, 'dave', '&watch');
    const { name } = await expectHeard(dave, 'carol', 10_000);
    const tile = dave.locator(`[data-stream-name="${name}"]`);
    assert.equal(await tile.getAttribute('data-audio-only'), '', 'the tile says sound only');
    assert.equal((await audioStats(dave)).streams[name]?.codec, null);
    await carol.context().close();
    await dave.context().close();
  });

  it('the AudioWorklet capture (browsers without MediaStreamTrackProcessor) is heard too', async () => {
    const room = 'worklet';
    const erin = await openRoom(browser, room, 'erin', '&audio-capture=worklet');
    await startCamera(erin);
    assert.equal((await audioStats(erin)).publisher?.audio?.capture, 'worklet');
    const wall = await openRoom(browser, room, 'wall', '&watch');
    await expectHeard(wall, 'erin', 10_000);
    await erin.context().close();
    await wall.context().close();
  });

  it('a page the browser may not start sound on says "click to hear", and a click starts it', async () => {
    // A browser with desktop Chrome's autoplay policy: sound needs a user gesture on the page. (Headless
    // Chromium lets a page start sound by itself unless told otherwise, so the policy is said explicitly.)
    const strict = await launchChromium({ args: ['--autoplay-policy=document-user-activation-required'] });
    try {
      const room = 'autoplay';
      const frank = await openRoom(browser, room, 'frank');
      await startCamera(frank);
      // Opened without openRoom, and left alone until the click: Playwright's evaluate and selector waits run
      // as user gestures (measured: navigator.userActivation.hasBeenActive turns true), which would let the
      // page start sound by itself. The page says it is blocked in its console, which is read passively.
      const wall = await (await strict.newContext()).newPage();
      wall.on('pageerror', (err) => pageErrors.push(`wall: ${err.message}`));
      const blocked = wall.waitForEvent('console', {
        predicate: (m) => m.text().includes('sound is off until a click'),
        timeout: 15_000,
      });
      await wall.goto(`http://127.0.0.1:${server.httpPort}/r/${room}?watch`);
      await blocked;
      assert.equal(await wall.isVisible('#click-to-hear'), true, 'the page says "click to hear"');
      const name = await poll(() => streamNamed(wall, 'frank'), 5000, "frank's tile");
      const before = await remoteAudio(wall, name);
      assert.equal((await audioStats(wall)).audio.state, 'blocked');
      assert.equal(before?.audibleMs ?? 0, 0, 'nothing played before the click');
      await wall.click('#click-to-hear');
      await expectHeard(wall, 'frank', 10_000);
      assert.equal((await audioStats(wall)).audio.state, 'running');
      assert.equal(await wall.isVisible('#click-to-hear'), false);
      await frank.context().close();
      await wall.context().close();
    } finally {
      await strict.close();
    }
  });

  it('a page hears streams pushed over HTTP ingest with AAC (MPEG-TS) and with Opus (WebM)', async () => {
    const room = 'pushed';
    const wall = await openRoom(browser, room, 'wall', '&watch');
    const tone = "aevalsrc='0.5*sin(2*PI*1000*t)':s=48000:c=stereo";
    const picture = 'testsrc2=size=320x240:rate=30';
    const pushes = [
      [
        '-c:v',
        'libx264',
        '-preset',
        'ultrafast',
        '-tune',
        'zerolatency',
        '-g',
        '30',
        '-c:a',
        'aac',
        '-f',
        'mpegts',
      ],
      ['-c:v', 'libvpx', '-deadline', 'realtime', '-cpu-used', '8', '-g', '30', '-c:a', 'libopus'],
    ].map((encode, i) => {
      const name = i === 0 ? 'aac' : 'opus';
      const container = i === 0 ? [] : ['-f', 'webm', '-cluster_time_limit', '0'];
      const child = spawn(
        'ffmpeg',
        [
          ...['-hide_banner', '-loglevel', 'error', '-re', '-f', 'lavfi', '-i', picture],
          ...[
            '-re',
            '-f',
            'lavfi',
            '-i',
            tone,
            '-t',
            '15',
            '-map',
            '0:v',
            '-map',
            '1:a',
            ...encode,
            ...container,
          ],
          ...['-method', 'PUT', `http://127.0.0.1:${server.httpPort}/ingest/${room}/${name}`],
        ],
        { stdio: 'ignore' },
      );
      return child;
    });
    try {
      for (const name of ['aac', 'opus']) {
        const heard = await expectHeard(wall, name, 15_000);
        assert.equal(heard.audio.problem, null, `${name}: the page decodes it`);
        assert.equal(heard.audio.codec, name === 'aac' ? 'mp4a.40.2' : 'opus');
      }
    } finally {
      for (const child of pushes) child.kill('SIGKILL');
      await wall.context().close();
    }
  });

  it("the CLI records a page's stream with an Opus track as long as the video (within 100 ms)", async (t) => {
    const room = 'taped';
    const page = await openRoom(browser, room, 'cam');
    await startCamera(page);
    const codec = (await audioStats(page)).publisher?.codec ?? '';
    const out = join(dir, codec.startsWith('avc1') ? 'browser.mp4' : 'browser.webm');
    const watch = await run(
      ['watch', '--server', `127.0.0.1:${server.port}`, '--room', room, '--out', out, '--duration', '5'],
      30_000,
    );
    assert.equal(watch.code, 0, watch.stderr);
    const { video, audio } = await tracksOf(out);
    t.diagnostic(`${out}: video ${JSON.stringify(video)}, audio ${JSON.stringify(audio)}`);
    assert.equal(audio?.codec, 'opus');
    assert.ok(video && video.seconds > 3, `video spans ${video?.seconds} s`);
    // The page leaves silences between the fake microphone's beeps unsent (its DTX): the file must not.
    assert.ok(
      Math.abs((audio?.seconds ?? 0) - video.seconds) <= 0.1,
      `audio spans ${audio?.seconds} s, video ${video.seconds} s`,
    );
    await page.context().close();
  });

  it('no page threw an uncaught error', () => {
    assert.deepEqual(pageErrors, []);
  });
});
