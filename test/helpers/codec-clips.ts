import { connect, type FramewireClient, type Publication } from '../../src/client/index.js';
import { type EncodedFrame, startEncodedSource } from '../../src/media/index.js';
import type { DecoderConfig } from '../../src/protocol/messages.js';

/** A few seconds of ffmpeg's test pattern, encoded and held in memory: real frames to publish at will. */
export interface Clip {
  config: DecoderConfig;
  frames: EncodedFrame[];
}

/** Encodes `seconds` of the test pattern (keyframes every second) into a {@link Clip}. */
export function encodeClip(
  codec: 'vp8' | 'h264',
  o: { width: number; height: number; fps: number; seconds: number },
): Promise<Clip> {
  const source = startEncodedSource({
    input: { kind: 'test-pattern' },
    codec,
    width: o.width,
    height: o.height,
    fps: o.fps,
    bitrate: 300_000,
    keyframeIntervalSec: 1,
    durationSec: o.seconds,
  });
  const frames: EncodedFrame[] = [];
  let config: DecoderConfig | null = null;
  source.on('config', (c) => {
    config = c;
  });
  source.on('frame', (f) => frames.push({ ...f, data: Uint8Array.from(f.data) }));
  return new Promise((resolve, reject) => {
    source.once('error', reject);
    source.once('end', () => {
      if (config === null || frames.length === 0) reject(new Error(`ffmpeg gave no ${codec} frames`));
      else resolve({ config, frames });
    });
  });
}

/** A stream published through the client library whose codec changes between clips. */
export interface SwitchingPublisher {
  client: FramewireClient;
  publication: Publication;
  /** Frames sent, per clip. */
  sent: number[];
}

/**
 * Publishes `clips` one after the other as one stream `room`/`name`, in real time at `fps`: the first
 * with `publish`, each next one with an `update` to its config (the stream keeps its id), its frames
 * restamped so media time runs on across the switch and capture time is the moment each is sent.
 */
export async function publishClips(
  port: number,
  room: string,
  name: string,
  clips: readonly Clip[],
  fps: number,
): Promise<SwitchingPublisher> {
  const client = await connect({ host: '127.0.0.1', port, role: 'publisher', agent: 'test-switch' });
  const first = clips[0];
  if (!first) throw new Error('no clip');
  const publication = await client.publish(room, name, { video: first.config });
  const sent: number[] = [];
  let offset = 0;
  const frameUs = 1_000_000 / fps;
  for (const [i, clip] of clips.entries()) {
    if (i > 0) await publication.update({ video: clip.config });
    let n = 0;
    for (const f of clip.frames) {
      if (publication.sendFrame({ ...f, timestamp: offset + f.timestamp, captureTime: Date.now() * 1000 }))
        n++;
      await new Promise((r) => setTimeout(r, 1000 / fps));
    }
    sent.push(n);
    offset += (clip.frames.at(-1)?.timestamp ?? 0) + frameUs;
  }
  return { client, publication, sent };
}
