import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ALL_FORMATS, EncodedPacketSink, FilePathSource, Input } from 'mediabunny';
import { connect, type FramewireClient, type Publication } from '../../src/client/index.js';
import type { AudioConfig, DecoderConfig } from '../../src/protocol/messages.js';

const run = promisify(execFile);

/** One packet of the clip, video or audio, timestamps in µs. */
interface ClipPacket {
  audio: boolean;
  key: boolean;
  timestamp: number;
  data: Uint8Array;
}

/** A clip read into packets: its tracks' configs and every packet of both tracks, in timestamp order. */
interface Clip {
  video: DecoderConfig;
  audio: AudioConfig;
  packets: ClipPacket[];
  /** µs from the first packet to the end of the last: the offset of each loop. */
  durationUs: number;
}

/** Seconds of the clip; the publisher loops it. Its keyframe interval is 1 s (30 frames). */
const CLIP_SECONDS = 4;

let clipFile: Promise<string> | null = null;

/**
 * ffmpeg's test picture (320x240, 30 fps, VP8) and a 440 Hz tone (48 kHz mono, Opus; the sine source's
 * amplitude is 1/8, -18 dBFS), in
 * WebM; made once per process.
 */
function makeClip(): Promise<string> {
  clipFile ??= (async () => {
    const path = join(mkdtempSync(join(tmpdir(), 'fw-audio-clip-')), 'clip.webm');
    const args = ['-hide_banner', '-loglevel', 'error', '-y'];
    args.push('-f', 'lavfi', '-i', `testsrc=size=320x240:rate=30:duration=${CLIP_SECONDS}`);
    args.push('-f', 'lavfi', '-i', `sine=frequency=440:sample_rate=48000:duration=${CLIP_SECONDS}`);
    args.push('-c:v', 'libvpx', '-deadline', 'realtime', '-cpu-used', '8');
    args.push('-g', '30', '-b:v', '400k', '-c:a', 'libopus', '-b:a', '48k', '-ac', '1', path);
    await run('ffmpeg', args, { timeout: 60_000 });
    if (!existsSync(path)) throw new Error('ffmpeg made no clip');
    return path;
  })();
  return clipFile;
}

/** Reads the clip's packets and decoder configs with mediabunny. */
async function readClip(path: string): Promise<Clip> {
  const input = new Input({ source: new FilePathSource(path), formats: ALL_FORMATS });
  const videoTrack = await input.getPrimaryVideoTrack();
  const audioTrack = await input.getPrimaryAudioTrack();
  if (!videoTrack || !audioTrack) throw new Error(`${path} lacks a track`);
  const vc = await videoTrack.getDecoderConfig();
  const ac = await audioTrack.getDecoderConfig();
  if (!vc || !ac) throw new Error(`${path}: no decoder config`);
  const video: DecoderConfig = {
    codec: vc.codec,
    codedWidth: vc.codedWidth ?? 320,
    codedHeight: vc.codedHeight ?? 240,
  };
  const audio: AudioConfig = {
    codec: ac.codec,
    sampleRate: ac.sampleRate,
    numberOfChannels: ac.numberOfChannels,
  };
  if (ac.description) audio.description = new Uint8Array(ac.description as ArrayBuffer);
  const packets: ClipPacket[] = [];
  let end = 0;
  for (const [track, isAudio] of [
    [videoTrack, false],
    [audioTrack, true],
  ] as const) {
    for await (const p of new EncodedPacketSink(track).packets()) {
      const timestamp = Math.round(p.timestamp * 1e6);
      packets.push({ audio: isAudio, key: p.type === 'key', timestamp, data: p.data.slice() });
      end = Math.max(end, timestamp + Math.round(p.duration * 1e6));
    }
  }
  input.dispose();
  packets.sort((a, b) => a.timestamp - b.timestamp || Number(a.audio) - Number(b.audio));
  const first = packets[0]?.timestamp ?? 0;
  return { video, audio, packets, durationUs: end - first };
}

/** A stream with video and sound published in real time through the client library. */
export interface AudioPublisher {
  video: DecoderConfig;
  audio: AudioConfig;
  publication: Publication;
  /** Frames handed to the server, per track, and the media time (µs) of the last one sent of each. */
  readonly sent: { video: number; audio: number; lastVideoUs: number; lastAudioUs: number };
  /** Stops sending, then closes the connection (the server ends the stream: `disconnected`). */
  stop(): Promise<void>;
}

/**
 * Publishes a real VP8 + Opus clip (made with ffmpeg, read with mediabunny) as `room`/`name`, looping, in
 * real time: each packet goes out when the wall clock reaches its timestamp, with its capture time taken
 * from the wall clock at send. `audioOnly`: the stream has the sound alone. Resolves once the first
 * keyframe (audio-only: the first frame) has been sent.
 */
export async function startAudioPublisher(
  port: number,
  room: string,
  name: string,
  o: { token?: string; audioOnly?: boolean } = {},
): Promise<AudioPublisher> {
  const clip = await readClip(await makeClip());
  const client: FramewireClient = await connect({
    host: '127.0.0.1',
    port,
    role: 'publisher',
    agent: 'test-audio',
    token: o.token ?? '',
  });
  const tracks = o.audioOnly ? { audio: clip.audio } : { video: clip.video, audio: clip.audio };
  const publication = await client.publish(room, name, tracks);
  const sent = { video: 0, audio: 0, lastVideoUs: 0, lastAudioUs: 0 };
  let stopped = false;
  const origin = clip.packets[0]?.timestamp ?? 0;
  const startMs = performance.now();
  const sendAll = async (): Promise<void> => {
    for (let loop = 0; !stopped; loop++) {
      for (const p of clip.packets) {
        if (stopped) return;
        const t = p.timestamp - origin + loop * clip.durationUs;
        const wait = startMs + t / 1000 - performance.now();
        if (wait > 1) await new Promise((resolve) => setTimeout(resolve, wait));
        const captureTime = Math.round((performance.timeOrigin + performance.now()) * 1000);
        if (p.audio) {
          if (publication.sendAudio({ timestamp: t, captureTime, level: 6, data: p.data })) {
            sent.audio++;
            sent.lastAudioUs = t;
          }
        } else if (o.audioOnly) {
          // The clip's picture is left out.
        } else if (publication.sendFrame({ key: p.key, timestamp: t, captureTime, data: p.data })) {
          sent.video++;
          sent.lastVideoUs = t;
        }
      }
    }
  };
  const sending = sendAll();
  const deadline = Date.now() + 10_000;
  const started = () => (o.audioOnly ? sent.audio : sent.video) > 0;
  while (!started() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
  if (!started()) {
    stopped = true;
    await client.close();
    throw new Error('the audio publisher sent no keyframe in 10 s');
  }
  return {
    video: clip.video,
    audio: clip.audio,
    publication,
    sent,
    async stop() {
      stopped = true;
      await sending;
      await client.close();
    },
  };
}
