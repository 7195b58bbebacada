import { execFile } from 'node:child_process';
import { connect, type FramewireClient, type Publication } from '../../src/client/index.js';
import { type EncodedFrame, startEncodedSource } from '../../src/media/index.js';
import type { DecoderConfig } from '../../src/protocol/messages.js';

/** A real encoded test pattern (ffmpeg) published through the client library, with what it sent. */
export interface LivePublisher {
  config: DecoderConfig;
  publication: Publication;
  /**
   * Frames handed to the server, with the media timestamps of the first and last, and their capture times
   * (wall clock when ffmpeg output them, not when they were sent: frames held during the publish go
   * out in a burst); all in µs.
   */
  readonly sent: {
    frames: number;
    firstTimestamp: number;
    lastTimestamp: number;
    firstCapture: number;
    lastCapture: number;
  };
  /** Stops ffmpeg, then closes the connection (the server ends the stream: `disconnected`). */
  stop(): Promise<void>;
}

/** Options of {@link startLivePublisher}. */
export interface LivePublisherOptions {
  codec: 'vp8' | 'h264';
  width?: number;
  height?: number;
  fps?: number;
  /** Default 2 s. */
  keyframeIntervalSec?: number;
  token?: string;
}

/**
 * Starts ffmpeg's test pattern (real time, keyframes every 2 s) and publishes it as `room`/`name`; resolves
 * once the first frame (a keyframe) has been sent. Frames that ffmpeg produces before the publish is
 * answered are held and sent after it, so the stream holds every frame ffmpeg made.
 */
export async function startLivePublisher(
  port: number,
  room: string,
  name: string,
  o: LivePublisherOptions,
): Promise<LivePublisher> {
  const source = startEncodedSource({
    input: { kind: 'test-pattern' },
    codec: o.codec,
    width: o.width ?? 320,
    height: o.height ?? 240,
    fps: o.fps ?? 15,
    bitrate: 400_000,
    keyframeIntervalSec: o.keyframeIntervalSec,
  });
  let failure: Error | null = null;
  source.on('error', (err) => {
    failure = err;
  });
  const sent = { frames: 0, firstTimestamp: 0, lastTimestamp: 0, firstCapture: 0, lastCapture: 0 };
  let publication: Publication | null = null;
  const held: EncodedFrame[] = [];
  let firstSent: () => void = () => {};
  const first = new Promise<void>((resolve) => {
    firstSent = resolve;
  });
  const send = (pub: Publication, f: EncodedFrame): void => {
    if (!pub.sendFrame(f)) return;
    if (sent.frames === 0) {
      sent.firstTimestamp = f.timestamp;
      sent.firstCapture = f.captureTime;
      firstSent();
    }
    sent.frames++;
    sent.lastTimestamp = f.timestamp;
    sent.lastCapture = f.captureTime;
  };
  source.on('frame', (f) => {
    if (publication) send(publication, f);
    else held.push(f);
  });
  let client: FramewireClient | null = null;
  try {
    client = await connect({
      host: '127.0.0.1',
      port,
      role: 'publisher',
      agent: 'test',
      token: o.token ?? '',
    });
    const config = await new Promise<DecoderConfig>((resolve, reject) => {
      source.once('config', resolve);
      source.once('error', reject);
    });
    const pub = await client.publish(room, name, { video: config });
    publication = pub;
    for (const f of held.splice(0)) send(pub, f);
    await Promise.race([
      first,
      new Promise((_, reject) => {
        setTimeout(() => reject(failure ?? new Error('no frame in 10 s')), 10_000).unref();
      }),
    ]);
    const c = client;
    return {
      config,
      publication: pub,
      sent,
      async stop() {
        await source.stop();
        await c.close();
      },
    };
  } catch (err) {
    await source.stop();
    await client?.close();
    throw err;
  }
}

/** What ffprobe reads from a video file: it decodes every frame (-count_frames); `errors` is its stderr. */
export interface ProbeResult {
  format: string;
  codec: string;
  width: number;
  height: number;
  frames: number;
  /** Container duration, seconds. */
  duration: number;
  errors: string;
}

/** Probes `path` with ffprobe (rejects when ffprobe cannot read it at all). */
export function ffprobe(path: string): Promise<ProbeResult> {
  const args = ['-v', 'error', '-count_frames', '-select_streams', 'v:0', '-of', 'json'];
  args.push(
    '-show_entries',
    'format=format_name,duration:stream=codec_name,width,height,nb_read_frames',
    path,
  );
  return new Promise((resolve, reject) => {
    execFile('ffprobe', args, (err, stdout, stderr) => {
      if (err) return reject(new Error(`ffprobe ${path}: ${stderr || err.message}`));
      const out = JSON.parse(stdout) as {
        format?: { format_name: string; duration?: string };
        streams?: { codec_name: string; width: number; height: number; nb_read_frames?: string }[];
      };
      const s = out.streams?.[0];
      if (!s || !out.format) return reject(new Error(`no video stream in ${path}: ${stdout}`));
      resolve({
        format: out.format.format_name,
        codec: s.codec_name,
        width: s.width,
        height: s.height,
        frames: Number(s.nb_read_frames ?? 0),
        duration: Number(out.format.duration ?? Number.NaN),
        errors: stderr.trim(),
      });
    });
  });
}
