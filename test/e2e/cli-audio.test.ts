// The CLI's test pattern through a real server: its beeps and flashes are found in what a viewer receives,
// and must line up within 40 ms; a viewer that joins late hears sound with its first picture.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import {
  BufferTarget,
  EncodedAudioPacketSource,
  EncodedPacket,
  EncodedVideoPacketSource,
  Output,
  WebMOutputFormat,
} from 'mediabunny';
import { connect, type FramewireClient } from '../../src/client/index.js';
import type {
  AudioConfig,
  DecoderConfig,
  FrameMessage,
  StreamAddedMessage,
} from '../../src/protocol/messages.js';
import { publishTestPattern, type Served, serve, startCli, tempDirForFile } from '../helpers/cli.js';

/** A frame as a test viewer keeps it (the payload copied out of the received chunk). */
type KeptFrame = Pick<FrameMessage, 'key' | 'track' | 'timestamp' | 'captureTime' | 'audioLevel' | 'seq'> & {
  payload: Uint8Array;
};

/**
 * Writes received VP8 and Opus frames into a WebM file placed by their capture times (the wall clock both
 * tracks are stamped with), so that ffmpeg can decode both and measure where sound and picture fall.
 */
async function writeWebm(
  path: string,
  video: DecoderConfig,
  audio: AudioConfig,
  frames: readonly KeptFrame[],
): Promise<void> {
  const output = new Output({ format: new WebMOutputFormat(), target: new BufferTarget() });
  const videoSource = new EncodedVideoPacketSource('vp8');
  const audioSource = new EncodedAudioPacketSource('opus');
  output.addVideoTrack(videoSource);
  output.addAudioTrack(audioSource);
  await output.start();
  const base = Math.min(...frames.map((f) => f.captureTime));
  let firstVideo = true;
  let firstAudio = true;
  const audioDecoderConfig: AudioDecoderConfig = {
    codec: audio.codec,
    sampleRate: audio.sampleRate,
    numberOfChannels: audio.numberOfChannels,
  };
  if (audio.description) audioDecoderConfig.description = audio.description;
  for (const f of frames) {
    const seconds = (f.captureTime - base) / 1e6;
    if (f.track === 'audio') {
      const packet = new EncodedPacket(f.payload, 'key', seconds, 0.02);
      await audioSource.add(packet, firstAudio ? { decoderConfig: audioDecoderConfig } : undefined);
      firstAudio = false;
    } else {
      const packet = new EncodedPacket(f.payload, f.key ? 'key' : 'delta', seconds, 1 / 15);
      await videoSource.add(
        packet,
        firstVideo
          ? {
              decoderConfig: {
                codec: video.codec,
                codedWidth: video.codedWidth,
                codedHeight: video.codedHeight,
              },
            }
          : undefined,
      );
      firstVideo = false;
    }
  }
  await output.finalize();
  writeFileSync(path, new Uint8Array((output.target as BufferTarget).buffer as ArrayBuffer));
}

function ffmpeg(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      'ffmpeg',
      ['-hide_banner', '-nostdin', ...args],
      { maxBuffer: 64 * 1024 * 1024 },
      (err, _out, stderr) =>
        err ? reject(new Error(`ffmpeg ${args.join(' ')}: ${stderr}`)) : resolve(stderr),
    );
  });
}

/**
 * Times (s) at which the picture turns white: frames whose mean luma (signalstats YAVG) is above 150 after
 * one that is not. 150 is halfway between the test picture (~72-126) and white (235).
 */
async function flashOnsets(path: string): Promise<number[]> {
  const stderr = await ffmpeg([
    ...['-i', path, '-map', '0:v:0', '-vf', 'signalstats,metadata=mode=print:key=lavfi.signalstats.YAVG'],
    ...['-f', 'null', '-'],
  ]);
  const onsets: number[] = [];
  let time = 0;
  let wasWhite = false;
  for (const line of stderr.split('\n')) {
    const pts = /pts_time:(-?[\d.]+)/.exec(line);
    if (pts) time = Number(pts[1]);
    const yavg = /lavfi\.signalstats\.YAVG=([\d.]+)/.exec(line);
    if (yavg) {
      const white = Number(yavg[1]) > 150;
      if (white && !wasWhite) onsets.push(time);
      wasWhite = white;
    }
  }
  return onsets;
}

/** Times (s) at which sound starts after at least 50 ms of silence (below -30 dBFS): ffmpeg silencedetect. */
async function beepOnsets(path: string): Promise<number[]> {
  const stderr = await ffmpeg([
    ...['-i', path, '-map', '0:a:0', '-af', 'silencedetect=n=-30dB:d=0.05', '-f', 'null', '-'],
  ]);
  return [...stderr.matchAll(/silence_end: (-?[\d.]+)/g)].map((m) => Number(m[1]));
}

/** Each beep's offset (s, positive = sound after picture) from the nearest flash. */
function syncOffsets(beeps: readonly number[], flashes: readonly number[]): number[] {
  return beeps.map((b) => {
    let best = Number.POSITIVE_INFINITY;
    for (const f of flashes) if (Math.abs(b - f) < Math.abs(best)) best = b - f;
    return best;
  });
}

/** A Node viewer of one room that keeps every stream-added and every frame (payloads copied). */
async function viewRoom(
  port: number,
  room: string,
): Promise<{
  client: FramewireClient;
  added: StreamAddedMessage[];
  frames: (KeptFrame & { at: number })[];
  removed: Promise<void>;
}> {
  const client = await connect({ host: '127.0.0.1', port, role: 'viewer', agent: 'cli-audio-test' });
  const added: StreamAddedMessage[] = [];
  const frames: (KeptFrame & { at: number })[] = [];
  client.on('stream-added', (m) => added.push(m));
  const removed = new Promise<void>((resolve) => client.once('stream-removed', () => resolve()));
  client.on('frame', (m: FrameMessage) =>
    frames.push({ ...m, payload: Uint8Array.from(m.payload), at: Date.now() }),
  );
  await client.subscribe(room);
  return { client, added, frames, removed };
}

const tmpDir = tempDirForFile('framewire-cli-audio-', { build: true });
let server: Served;

describe('framewire publish --test-pattern with sound', { timeout: 90_000 }, () => {
  before(async () => {
    server = await serve();
  });

  it('sends Opus whose beeps fall within 40 ms of the flashes', async (t) => {
    const room = 'sync';
    const viewer = await viewRoom(server.port, room);
    const pub = await publishTestPattern(server.port, room, 'pattern', { durationSec: 6 });
    // The stream's end comes after its last frame: only then has everything arrived.
    await viewer.removed;
    await viewer.client.close();
    assert.equal(pub.code, 0, `publish failed:\n${pub.stderr}`);
    assert.match(pub.stderr, /publishing vp8 320x240 \+ opus 48 kHz mono/);
    assert.match(pub.stderr, /audio \d+ kbit\/s/, 'the status line shows the audio bitrate');
    const sent = /and (\d+) audio frames \(0 dropped\)/.exec(pub.stderr);
    assert.ok(sent, `publish reports its audio frames:\n${pub.stderr}`);

    const stream = viewer.added[0];
    assert.ok(stream?.video && stream.audio, 'stream-added carries both tracks');
    assert.equal(stream.audio.codec, 'opus');
    assert.equal(stream.audio.sampleRate, 48000);
    assert.equal(stream.audio.numberOfChannels, 1);
    const audio = viewer.frames.filter((f) => f.track === 'audio');
    const video = viewer.frames.filter((f) => f.track !== 'audio');
    // 20 ms frames for 6 s: 300, every one of them relayed.
    const gaps = audio.flatMap((f, i) =>
      i > 0 && f.seq !== (audio[i - 1] as KeptFrame).seq + 1 ? [f.seq] : [],
    );
    // The publisher sent every frame (0 dropped above); the server may still cut audio that waited past its
    // age bound for a viewer (a busy machine), which shows as seq gaps. Nearly all must arrive.
    t.diagnostic(
      `${audio.length} of ${sent[1]} audio frames arrived; gaps before seq ${gaps.join(' ') || 'none'}`,
    );
    assert.ok(audio.length >= 0.98 * Number(sent[1]), `${audio.length} of ${sent[1]} audio frames arrived`);
    assert.ok(audio.length >= 290 && audio.length <= 310, `${audio.length} audio frames in 6 s`);
    assert.equal(audio[0]?.seq, 0, 'the first audio frame arrives');
    for (let i = 1; i < audio.length; i++) {
      const [a, b] = [audio[i - 1] as KeptFrame, audio[i] as KeptFrame];
      const frames = b.seq - a.seq;
      assert.ok(frames >= 1, 'audio seq counts up');
      const step = b.captureTime - a.captureTime;
      assert.ok(Math.abs(step - 20_000 * frames) <= 100, `audio capture times 20 ms apart, got ${step} µs`);
      // Media time and capture time move together on both tracks.
      assert.equal(b.timestamp - a.timestamp, step);
    }
    // The level byte follows the beep: loud (about -9 dBov, voice bit set) for 0.1 s of each
    // second, silent (127) otherwise.
    const loud = audio.filter((f) => f.audioLevel !== undefined && (f.audioLevel & 0x7f) < 20);
    const silent = audio.filter((f) => f.audioLevel === 127);
    assert.ok(loud.length >= 25 && loud.length <= 36, `${loud.length} loud frames (5 per beep, 6 beeps)`);
    assert.ok(silent.length >= 240, `${silent.length} silent frames`);
    for (const f of loud) assert.ok((f.audioLevel as number) & 0x80, 'a beep frame has the voice bit');
    // Both tracks count media time from one origin: their capture-time gap equals their timestamp gap.
    const v0 = video[0] as KeptFrame;
    const a0 = audio[0] as KeptFrame;
    assert.equal(v0.timestamp - a0.timestamp, v0.captureTime - a0.captureTime);

    const file = join(tmpDir(), 'sync.webm');
    await writeWebm(file, stream.video, stream.audio, viewer.frames);
    const flashes = await flashOnsets(file);
    const beeps = await beepOnsets(file);
    // A beep after the last picture (the sound runs a frame or two longer) has no flash to compare with.
    const lastPicture =
      (Math.max(...video.map((f) => f.captureTime)) - Math.min(...viewer.frames.map((f) => f.captureTime))) /
      1e6;
    const offsets = syncOffsets(
      beeps.filter((b) => b <= lastPicture),
      flashes,
    );
    const ms = offsets.map((o) => Math.round(o * 1000));
    t.diagnostic(
      `flashes at ${flashes.join(', ')} s; beeps at ${beeps.join(', ')} s; beep − flash: ${ms.join(', ')} ms`,
    );
    assert.ok(flashes.length >= 5, `${flashes.length} flashes found`);
    assert.ok(beeps.length >= 4, `${beeps.length} beeps found after silence`);
    for (const o of ms)
      assert.ok(Math.abs(o) <= 40, `a beep ${o} ms from its flash (limit 40 ms): ${ms.join(', ')}`);
  });

  it('a late joiner gets sound with its first picture (the GOP cache keeps the audio)', async () => {
    const room = 'late';
    const srv = `127.0.0.1:${server.port}`;
    // A 2 s keyframe interval: joining 3.3 s in lands mid-GOP, 1.3 s after the cached keyframe.
    const pub = startCli([
      ...['publish', '--server', srv, '--room', room, '--name', 'pattern', '--test-pattern'],
      ...['--size', '320x240', '--fps', '15', '--duration', '8'],
    ]);
    const early = await viewRoom(server.port, room);
    const deadline = Date.now() + 15_000;
    while (
      !early.frames.some(
        (f) => f.track !== 'audio' && f.captureTime - (early.frames[0]?.captureTime ?? 0) > 3_300_000,
      )
    ) {
      assert.ok(Date.now() < deadline, `the stream did not run 3.3 s:\n${pub.stderr()}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    const joinedAt = Date.now();
    const late = await viewRoom(server.port, room);
    while (late.frames.filter((f) => f.at - joinedAt > 500).length === 0) {
      assert.ok(Date.now() < deadline, 'the late joiner got frames');
      await new Promise((r) => setTimeout(r, 50));
    }
    await late.client.close();
    await early.client.close();
    pub.child.kill('SIGTERM');

    assert.ok(late.added[0]?.audio, 'the late joiner is told about the audio track');
    const first = late.frames[0] as KeptFrame & { at: number };
    assert.equal(first.track, undefined, 'the first frame is video');
    assert.equal(first.key, true, 'the first frame is the cached keyframe');
    // The burst the late joiner got at once: the cached GOP (captured before it joined), audio included.
    const burst = late.frames.filter((f) => f.captureTime < joinedAt * 1000);
    const burstAudio = burst.filter((f) => f.track === 'audio');
    assert.ok(
      burstAudio.length >= 40,
      `${burstAudio.length} audio frames in the join burst (~1.3 s of sound)`,
    );
    const firstAudio = burstAudio[0] as KeptFrame;
    // The sound starts with the keyframe's picture. Not exactly: the cache keeps the audio that arrived
    // after the keyframe, and ffmpeg hands out audio in bursts of up to ~80 ms, so some of it was
    // captured a little before the picture.
    assert.ok(
      Math.abs(firstAudio.captureTime - first.captureTime) <= 100_000,
      `first audio ${((firstAudio.captureTime - first.captureTime) / 1000).toFixed(1)} ms from the keyframe`,
    );
    // And what was cached is what the early viewer got: the same audio frames, byte for byte.
    const same = early.frames.find((f) => f.track === 'audio' && f.seq === firstAudio.seq);
    assert.ok(same, `the early viewer got audio frame ${firstAudio.seq} too`);
    assert.ok(
      Buffer.from(same.payload).equals(Buffer.from(firstAudio.payload)),
      'the cached frame is the one relayed',
    );
  });
});
