import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { type RelayServer, startServer } from '../../src/server/index.js';
import { type AudioPublisher, startAudioPublisher } from '../helpers/audio-publisher.js';
import { ensureBuilt, killStarted, poll, run } from '../helpers/cli.js';
import { type TrackSpan, tracksOf } from '../helpers/tracks.js';

const exec = promisify(execFile);

/** The audio's mean and peak volume in dBFS (ffmpeg's volumedetect: it decodes the whole track). */
async function volumeOf(path: string): Promise<{ mean: number; max: number }> {
  const { stderr } = await exec(
    'ffmpeg',
    ['-hide_banner', '-nostats', '-i', path, '-map', '0:a:0', '-af', 'volumedetect', '-f', 'null', '-'],
    { maxBuffer: 16 * 1024 * 1024, timeout: 30_000 },
  );
  const mean = /mean_volume: (-?[\d.]+) dB/.exec(stderr);
  const max = /max_volume: (-?[\d.]+) dB/.exec(stderr);
  assert.ok(mean && max, `volumedetect said: ${stderr.slice(-500)}`);
  return { mean: Number(mean[1]), max: Number(max[1]) };
}

/** Checks a file holds VP8 and Opus tracks of the same length (within 100 ms) and audible sound. */
async function assertBothTracks(path: string, what: string): Promise<string> {
  const t = await tracksOf(path);
  assert.equal(t.video?.codec, 'vp8', `${what}: a VP8 track: ${JSON.stringify(t)}`);
  assert.equal(t.audio?.codec, 'opus', `${what}: an Opus track: ${JSON.stringify(t)}`);
  const video = t.video as TrackSpan;
  const audio = t.audio as TrackSpan;
  assert.ok(video.seconds >= 1, `${what}: over a second of video: ${video.seconds}`);
  const diff = audio.seconds - video.seconds;
  assert.ok(
    Math.abs(diff) <= 0.1,
    `${what}: audio ${audio.seconds.toFixed(3)} s vs video ${video.seconds.toFixed(3)} s`,
  );
  const volume = await volumeOf(path);
  // The clip's tone peaks at -18 dBFS (about -21 dB mean) from end to end; silence reads -91 dB, and
  // stretches of silence (a track filled in, or started late) pull the mean down.
  assert.ok(volume.max > -20 && volume.mean > -24, `${what}: the sound is heard: ${JSON.stringify(volume)}`);
  const line = `${what}: video ${video.packets} frames / ${video.seconds.toFixed(3)} s, opus ${audio.packets} packets / ${audio.seconds.toFixed(3)} s (diff ${(diff * 1000).toFixed(1)} ms), mean ${volume.mean} dB, max ${volume.max} dB`;
  console.log(line);
  return line;
}

/** Reads `seconds` of a live URL into a file (the response is endless: it is aborted then). */
async function fetchLive(url: string, seconds: number, path: string): Promise<void> {
  const controller = new AbortController();
  const res = await fetch(url, { signal: controller.signal });
  assert.equal(res.status, 200, `${url}: ${res.status}`);
  const chunks: Uint8Array[] = [];
  const timer = setTimeout(() => controller.abort(), seconds * 1000);
  try {
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) chunks.push(chunk);
  } catch (err) {
    if ((err as Error).name !== 'AbortError') throw err;
  } finally {
    clearTimeout(timer);
  }
  writeFileSync(path, Buffer.concat(chunks));
}

describe('audio out of the relay: watch --out, /live, recordings', { timeout: 120_000 }, () => {
  let server: RelayServer;
  let pub: AudioPublisher;
  const dir = mkdtempSync(join(tmpdir(), 'fw-audio-out-'));

  before(async () => {
    ensureBuilt();
    server = await startServer({ tcpPort: 0, httpPort: 0, recordDir: join(dir, 'rec'), log: () => {} });
    pub = await startAudioPublisher(server.tcpPort, 'lab', 'talk');
  });
  after(async () => {
    await pub?.stop();
    await killStarted();
    await server?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  for (const ext of ['webm', 'mp4'] as const) {
    it(`watch --out .${ext} holds the picture and the sound, of the same length`, async () => {
      const out = join(dir, `watch.${ext}`);
      const args = ['watch', '--server', `127.0.0.1:${server.tcpPort}`, '--room', 'lab', '--name', 'talk'];
      const watched = await run([...args, '--out', out, '--duration', '4'], 30_000);
      assert.equal(watched.code, 0, watched.stderr);
      assert.match(watched.stderr, /recorded \d+ frames and \d+ audio frames of lab\/talk/);
      await assertBothTracks(out, `watch --out .${ext}`);
    });
  }

  for (const ext of ['webm', 'mp4'] as const) {
    it(`/live/lab/talk.${ext} carries both tracks`, async () => {
      const file = join(dir, `live.${ext}`);
      // .mp4 writes a fragment only when the next keyframe begins (1 s here): read a little longer.
      await fetchLive(`http://127.0.0.1:${server.httpPort}/live/lab/talk.${ext}`, 4, file);
      await assertBothTracks(file, `/live .${ext}`);
    });
  }

  it('watch --stats prints the audio line with the A/V offset', async () => {
    const args = ['watch', '--server', `127.0.0.1:${server.tcpPort}`, '--room', 'lab', '--name', 'talk'];
    const watched = await run([...args, '--stats', '--duration', '3'], 30_000);
    assert.equal(watched.code, 0, watched.stderr);
    const audio = watched.stdout
      .split('\n')
      .map((l) =>
        /^lab\/talk audio: (\d+) kbit\/s, ([\d.]+) frames\/s, latency (\d+|-) ms, gaps (\d+) \((\d+) frames\), A\/V offset ([+-]?\d+|-) ms/.exec(
          l,
        ),
      )
      .filter((m) => m !== null);
    assert.ok(audio.length >= 2, `audio lines: ${watched.stdout}`);
    const last = audio.at(-1) as RegExpExecArray;
    // 20 ms Opus frames: 50 a second; the clip's 48 kbit/s.
    assert.ok(Math.abs(Number(last[2]) - 50) <= 5, `audio frames/s: ${last[0]}`);
    assert.ok(Number(last[1]) > 20, `audio kbit/s: ${last[0]}`);
    assert.equal(last[4], '0', `no audio gaps: ${last[0]}`);
    // Both tracks are sent the moment their time comes, on one connection: the offset is small.
    assert.ok(Math.abs(Number(last[6])) <= 50, `A/V offset: ${last[0]}`);
    console.log(`watch --stats: ${last[0]}`);
  });

  it('an audio-only stream plays over /live as .webm and .mp4, and has no snapshot', async () => {
    const radio = await startAudioPublisher(server.tcpPort, 'lab', 'radio', { audioOnly: true });
    try {
      for (const ext of ['webm', 'mp4'] as const) {
        const file = join(dir, `radio.${ext}`);
        await fetchLive(`http://127.0.0.1:${server.httpPort}/live/lab/radio.${ext}`, 3, file);
        const t = await tracksOf(file);
        assert.equal(t.video, undefined, `${ext}: no video track`);
        assert.equal(t.audio?.codec, 'opus', `${ext}: ${JSON.stringify(t)}`);
        assert.ok((t.audio?.seconds ?? 0) >= 2, `${ext}: seconds of sound: ${JSON.stringify(t)}`);
        const volume = await volumeOf(file);
        assert.ok(volume.max > -20 && volume.mean > -24, `${ext}: heard: ${JSON.stringify(volume)}`);
        console.log(
          `audio-only /live .${ext}: opus ${t.audio?.packets} packets / ${t.audio?.seconds.toFixed(3)} s, mean ${volume.mean} dB`,
        );
      }
      const snap = await fetch(
        `http://127.0.0.1:${server.httpPort}/api/rooms/lab/streams/radio/snapshot.jpg`,
      );
      assert.equal(snap.status, 415);
    } finally {
      await radio.stop();
    }
  });

  it("the server's recording holds both tracks", async () => {
    await poll(() => (server.relay.findStream('lab', 'talk')?.framesIn ?? 0) > 0, 5000, 'the stream');
    const res = await fetch(`http://127.0.0.1:${server.httpPort}/api/rooms/lab/streams/talk/recording`, {
      method: 'DELETE',
    });
    assert.equal(res.status, 200);
    const body = (await res.json()) as { file: string; frames: number };
    assert.ok(body.file.endsWith('.webm'), `VP8 + Opus is recorded to WebM: ${body.file}`);
    await assertBothTracks(body.file, 'recording');
  });
});
