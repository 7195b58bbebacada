// HTTP ingest keeps the sound: ffmpeg pushes MPEG-TS with AAC and Matroska with Opus, a viewer gets the
// audio track's config and frames that decode (muxed back into a file and decoded by ffmpeg).
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  type AudioCodec,
  BufferTarget,
  EncodedAudioPacketSource,
  EncodedPacket,
  MkvOutputFormat,
  Output,
} from 'mediabunny';
import { connect } from '../../src/client/index.js';
import type { AudioConfig, FrameMessage, StreamAddedMessage } from '../../src/protocol/messages.js';
import { ensureBuilt, exited, killStarted, type Served, serve } from '../helpers/cli.js';

const SECONDS = 4;
/** A 440 Hz tone (mono), -27.1 dBFS RMS: easy to tell from silence and from noise. */
const TONE = 'sine=frequency=440:sample_rate=48000,volume=0.5';

let server: Served;
let tmp = '';

/** ffmpeg pushing SECONDS of picture and tone, encoded with `encode`, to `url` (in real time, as a live encoder). */
async function push(url: string, encode: string[]): Promise<void> {
  const child = spawn(
    'ffmpeg',
    [
      ...['-hide_banner', '-loglevel', 'error', '-re', '-f', 'lavfi', '-i', 'testsrc2=size=320x240:rate=30'],
      ...['-re', '-f', 'lavfi', '-i', TONE, '-t', String(SECONDS), '-map', '0:v', '-map', '1:a'],
      ...encode,
      ...['-method', 'PUT', url],
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (s: string) => {
    stderr += s;
  });
  const code = await exited(child);
  assert.equal(code, 0, `ffmpeg push failed:\n${stderr}`);
}

/** A viewer of `room` keeping its stream-added and frames (payloads copied), until the stream ends. */
async function watch(room: string): Promise<{
  added: StreamAddedMessage[];
  frames: FrameMessage[];
  ended: Promise<void>;
  close: () => Promise<void>;
}> {
  const client = await connect({
    host: '127.0.0.1',
    port: server.port,
    role: 'viewer',
    agent: 'ingest-audio',
  });
  const added: StreamAddedMessage[] = [];
  const frames: FrameMessage[] = [];
  client.on('stream-added', (m) => added.push(m));
  client.on('frame', (m) => frames.push({ ...m, payload: Uint8Array.from(m.payload) }));
  const ended = new Promise<void>((resolve) => client.once('stream-removed', () => resolve()));
  await client.subscribe(room);
  return { added, frames, ended, close: () => client.close() };
}

/** Writes audio frames into a Matroska file as they came over the wire, for ffmpeg to decode. */
async function writeMka(
  path: string,
  codec: AudioCodec,
  config: AudioConfig,
  frames: FrameMessage[],
): Promise<void> {
  const output = new Output({ format: new MkvOutputFormat(), target: new BufferTarget() });
  const source = new EncodedAudioPacketSource(codec);
  output.addAudioTrack(source);
  await output.start();
  const decoderConfig: AudioDecoderConfig = {
    codec: config.codec,
    sampleRate: config.sampleRate,
    numberOfChannels: config.numberOfChannels,
  };
  if (config.description) decoderConfig.description = config.description;
  const base = frames[0]?.timestamp ?? 0;
  for (const [i, f] of frames.entries()) {
    const packet = new EncodedPacket(f.payload, 'key', (f.timestamp - base) / 1e6, 0);
    await source.add(packet, i === 0 ? { decoderConfig } : undefined);
  }
  await output.finalize();
  writeFileSync(path, new Uint8Array((output.target as BufferTarget).buffer as ArrayBuffer));
}

/** ffmpeg's decode of a file's audio: seconds decoded and the overall RMS level (dBFS), from astats. */
function decodeAudio(path: string): Promise<{ seconds: number; rmsDb: number; errors: string }> {
  return new Promise((resolve, reject) => {
    execFile(
      'ffmpeg',
      ['-hide_banner', '-nostdin', '-i', path, '-map', '0:a:0', '-af', 'astats', '-f', 'null', '-'],
      (err, _out, stderr) => {
        if (err) return reject(new Error(`ffmpeg could not decode ${path}: ${stderr}`));
        const time = [...stderr.matchAll(/time=(\d+):(\d+):([\d.]+)/g)].at(-1);
        const seconds = time ? Number(time[1]) * 3600 + Number(time[2]) * 60 + Number(time[3]) : 0;
        // astats prints the overall section last: its RMS level is the last one.
        const rms = [...stderr.matchAll(/RMS level dB: (-?[\d.]+|-inf)/g)].at(-1)?.[1] ?? '-inf';
        const errors = stderr
          .split('\n')
          .filter((l) => /error|invalid/i.test(l))
          .join('\n');
        resolve({ seconds, rmsDb: rms === '-inf' ? Number.NEGATIVE_INFINITY : Number(rms), errors });
      },
    );
  });
}

describe('HTTP ingest with sound', { timeout: 90_000 }, () => {
  before(async () => {
    ensureBuilt();
    tmp = mkdtempSync(join(tmpdir(), 'framewire-ingest-audio-'));
    server = await serve();
  });
  after(async () => {
    await killStarted();
    rmSync(tmp, { recursive: true, force: true });
  });

  const cases = [
    {
      what: 'MPEG-TS with H.264 and AAC',
      room: 'ts-aac',
      encode: [
        ...['-c:v', 'libx264', '-preset', 'ultrafast', '-tune', 'zerolatency', '-g', '30'],
        ...['-c:a', 'aac', '-b:a', '96k', '-ac', '2', '-f', 'mpegts'],
      ],
      codec: 'mp4a.40.2',
      mux: 'aac' as const,
      channels: 2,
      // AAC-LC (object type 2), 48 kHz (index 3), 2 channels: 00010 0011 0010 000.
      description: [0x11, 0x90],
      framesPerSecond: 48000 / 1024,
      // ffmpeg's -ac 2 spreads the mono tone over two channels at -3 dB each.
      rmsDb: -30.1,
    },
    {
      what: 'Matroska with VP8 and Opus',
      room: 'mkv-opus',
      encode: [
        ...['-c:v', 'libvpx', '-deadline', 'realtime', '-cpu-used', '8', '-g', '30'],
        // Small clusters, as the README's push command asks: a whole cluster is read at once, so the
        // default 1 s ones would reach viewers in bursts of a second.
        ...['-c:a', 'libopus', '-b:a', '64k', '-f', 'matroska', '-cluster_time_limit', '0'],
      ],
      codec: 'opus',
      mux: 'opus' as const,
      channels: 1,
      description: null,
      framesPerSecond: 50,
      rmsDb: -27.1,
    },
  ];

  for (const c of cases) {
    it(`${c.what}: the viewer gets the audio config and frames that decode to the tone`, async (t) => {
      const viewer = await watch(c.room);
      await push(`http://127.0.0.1:${server.httpPort}/ingest/${c.room}/cam`, c.encode);
      await viewer.ended;
      await viewer.close();

      const added = viewer.added[0];
      assert.ok(added?.video, 'the stream has its video');
      const audio = added.audio;
      assert.ok(audio, 'stream-added carries an audio track');
      assert.equal(audio.codec, c.codec);
      assert.equal(audio.sampleRate, 48000);
      assert.equal(audio.numberOfChannels, c.channels);
      if (c.description) {
        assert.deepEqual([...(audio.description ?? [])], c.description, 'the AudioSpecificConfig');
      } else {
        // Opus from Matroska: the OpusHead (CodecPrivate), as WebCodecs takes it.
        assert.equal(
          Buffer.from(audio.description ?? [])
            .subarray(0, 8)
            .toString('latin1'),
          'OpusHead',
        );
      }

      const sound = viewer.frames.filter((f) => f.track === 'audio');
      const video = viewer.frames.filter((f) => f.track !== 'audio');
      const expected = SECONDS * c.framesPerSecond;
      t.diagnostic(
        `${sound.length} audio frames (expected ~${Math.round(expected)}), ${video.length} video frames`,
      );
      assert.ok(video.length >= SECONDS * 30 * 0.9, `${video.length} video frames relayed beside the audio`);
      assert.ok(
        sound.length >= expected * 0.95 && sound.length <= expected * 1.05 + 2,
        `${sound.length} audio frames for ${SECONDS} s`,
      );
      for (const f of sound) {
        assert.equal(f.key, true, 'every audio frame is a key frame');
        // Raw AAC: the ADTS header (syncword 0xFFF) is gone.
        if (c.mux === 'aac') {
          const adts = f.payload[0] === 0xff && ((f.payload[1] ?? 0) & 0xf0) === 0xf0;
          assert.ok(!adts, 'raw AAC, without its ADTS header');
        }
      }
      for (let i = 1; i < sound.length; i++) {
        const [a, b] = [sound[i - 1] as FrameMessage, sound[i] as FrameMessage];
        assert.equal(b.seq, a.seq + 1, 'audio seq counts up by one');
        assert.ok(b.timestamp > a.timestamp, 'audio timestamps increase');
        // Capture times keep the media clock's spacing (one anchor for the stream), not arrival bursts.
      }
      // Capture time is media time plus one anchor for the whole stream (both tracks), which only ever moves
      // back (a frame that came earlier than any before, relative to its media time), so the tracks keep
      // the sync the container gave them and arrival bursts do not show.
      const anchors = viewer.frames.map((f) => f.captureTime - f.timestamp);
      for (let i = 1; i < anchors.length; i++) {
        assert.ok(
          (anchors[i] as number) <= (anchors[i - 1] as number),
          `the anchor moved forward at frame ${i}`,
        );
      }
      // How far it moved says how steady the pusher was (ffmpeg's MPEG-TS muxer runs ahead at the start).
      const settled = anchors.slice(Math.floor(anchors.length / 4));
      const wander = (settled[0] as number) - (settled.at(-1) as number);
      t.diagnostic(
        `anchor moved ${(anchors[0] as number) - (anchors.at(-1) as number)} µs in all, ${wander} µs after the first second`,
      );
      // Audio and video share one clock: the audio spans the same media time as the video.
      const span = (fs: FrameMessage[]): [number, number] => [
        fs[0]?.timestamp ?? 0,
        fs.at(-1)?.timestamp ?? 0,
      ];
      const [va, vb] = span(video);
      const [aa, ab] = span(sound);
      assert.ok(
        Math.abs(aa - va) < 200_000 && Math.abs(ab - vb) < 200_000,
        `audio ${aa}..${ab} µs, video ${va}..${vb} µs`,
      );

      const file = join(tmp, `${c.room}.mka`);
      await writeMka(file, c.mux, audio, sound);
      const decoded = await decodeAudio(file);
      t.diagnostic(`decoded ${decoded.seconds} s of audio at ${decoded.rmsDb} dBFS RMS`);
      assert.equal(decoded.errors, '', 'ffmpeg decodes every frame without error');
      assert.ok(Math.abs(decoded.seconds - SECONDS) < 0.2, `${decoded.seconds} s decoded`);
      // The tone as ffmpeg measures the source itself (-27.1 dBFS RMS mono, -30.1 per channel in stereo).
      assert.ok(
        Math.abs(decoded.rmsDb - c.rmsDb) < 1.5,
        `the tone is there: ${decoded.rmsDb} dBFS, expected ${c.rmsDb}`,
      );
    });
  }
});
