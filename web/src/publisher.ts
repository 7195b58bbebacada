// The local camera and microphone on the wire: VideoFrames from the track → VideoEncoder → protocol frames on
// the socket, and beside them the microphone's Opus frames (audio-sender.ts), in one stream with both tracks.
import type { DecoderConfig, Message } from '../../src/protocol/index.js';
import type { AudioCapture } from './audio-capture.js';
import { AudioSender } from './audio-sender.js';
import {
  CAMERA_PROFILE,
  type CodecChoice,
  chooseEncoder,
  type EncoderSetup,
  type VideoProfile,
} from './codecs.js';
import type { Connection } from './connection.js';
import { PERSON_SUFFIX, randomSuffix } from './names.js';
import { RateMeter } from './stats.js';
import type { VideoCapture, VideoCaptureKind } from './video-capture.js';

/** A keyframe at least this often (µs of media time), so a viewer that lost a frame recovers soon. */
const KEYFRAME_INTERVAL_US = 2_000_000;
/** Frames the encoder may hold before we drop camera frames instead: a queue here is pure latency. */
const MAX_ENCODE_QUEUE = 2;
/** Bytes the socket may hold unsent before we stop sending until the next keyframe (about 1 s at 8 Mbit/s). */
const MAX_SOCKET_BUFFER_BYTES = 1024 * 1024;
/** How many times a name taken in the room (FW_STREAM_EXISTS) is retried with a new suffix. */
const MAX_RENAMES = 3;
/** Encoder failures tolerated before the publisher gives up. */
const MAX_ENCODER_ERRORS = 5;
/**
 * How long a ready camera waits for the microphone's first samples before the stream goes out with video
 * only (a browser whose Web Audio never starts, e.g. Firefox with no sound device, would otherwise never
 * publish). The sound is added in place (`update`) when it comes.
 */
const MIC_GRACE_MS = 3000;
const MIC_LATE = 'The microphone gives no sound yet: sending video only; sound joins when it starts.';

/** Cumulative counters of the local stream. */
export interface PublisherCounters {
  framesCaptured: number;
  framesEncoded: number;
  framesSent: number;
  bytesSent: number;
  keyframesSent: number;
  /** Camera frames dropped because the encoder was still busy with earlier ones. */
  droppedEncoderBusy: number;
  /** Encoded frames dropped because the socket was backed up (then until the next keyframe). */
  droppedCongested: number;
  keyframeRequests: number;
}

/** What the publisher tells the page. */
export interface PublisherEvents {
  /** Something went wrong that a person should see; null clears it. */
  onProblem(message: string | null): void;
  /** The server refused the publish for the page's token (FW_UNAUTHORIZED): trying again cannot help. */
  onUnauthorized(serverMessage: string): void;
}

/**
 * Encodes a camera track and a microphone (either may be missing, not both) and publishes them as one stream,
 * `name` in `room`, republishing after every reconnect.
 */
export class Publisher {
  /** Cumulative counters. */
  readonly counters: PublisherCounters = {
    framesCaptured: 0,
    framesEncoded: 0,
    framesSent: 0,
    bytesSent: 0,
    keyframesSent: 0,
    droppedEncoderBusy: 0,
    droppedCongested: 0,
    keyframeRequests: 0,
  };
  /** Frames and bytes sent per second. */
  readonly sent = new RateMeter();
  /** The encoder in use, once the first frame has told us the camera's real size. */
  setup: EncoderSetup | null = null;
  /** The id the server gave our stream; null while not published. */
  streamId: number | null = null;
  /** The microphone's encoder; null when the stream has no audio. */
  readonly audio: AudioSender | null;

  private encoder: VideoEncoder | null = null;
  private publishRequest: number | null = null;
  /** The request id of an `update` (new tracks for our stream) on its way; null when none. */
  private updateRequest: number | null = null;
  /** What every viewer of the room decodes (room-codecs); null when no viewer restricts. */
  private roomDecodes: string[] | null = null;
  /** Set when the room's decoders changed: the next camera frame picks the codec again. */
  private rechoose = false;
  /** The video config the server has for our stream (sent in publish or update). */
  private publishedVideo: DecoderConfig | null = null;
  /** Whether the server's stream has our audio track: frames of a track it lacks would be refused. */
  private publishedAudio = false;
  /** Runs while a ready camera waits for the microphone (see {@link MIC_GRACE_MS}). */
  private micGrace: ReturnType<typeof setTimeout> | null = null;
  /** The microphone missed its grace: publish without it, and add it once it has samples. */
  private micLate = false;
  /** The encoder a codec switch is starting, fed beside the current one until its first keyframe. */
  private next: NextEncoder | null = null;
  private forceKey = true;
  private waitForKey = true;
  private lastKeyTimestamp = Number.NEGATIVE_INFINITY;
  private seq = 0;
  private renames = 0;
  private encoderErrors = 0;
  private stopped = false;
  /** Capture time (server clock, µs) of frames inside the encoder, by media timestamp. */
  private readonly captureTimes = new Map<number, number>();

  constructor(
    private readonly conn: Connection,
    /** The camera and how its frames are read; null for a stream with sound only. */
    camera: { track: MediaStreamTrack; capture: VideoCapture } | null,
    /** The microphone and how its samples are read; null for a stream with video only. */
    mic: { track: MediaStreamTrack; capture: AudioCapture } | null,
    readonly room: string,
    public name: string,
    private readonly codec: CodecChoice,
    private readonly events: PublisherEvents,
    /** What the video shows: a camera, or a shared screen (then the stream is marked as one). */
    readonly profile: VideoProfile = CAMERA_PROFILE,
  ) {
    this.track = camera?.track ?? null;
    this.videoCapture = camera?.capture ?? null;
    this.micTrack = mic?.track ?? null;
    this.audio = mic
      ? new AudioSender(
          mic.capture,
          () => this.conn.clock.nowUs(),
          () => this.conn.bufferedAmount,
          (f) => this.sendAudio(f),
          () => this.onAudioReady(),
        )
      : null;
  }

  private readonly track: MediaStreamTrack | null;
  private readonly videoCapture: VideoCapture | null;
  private readonly micTrack: MediaStreamTrack | null;

  /** Whether this publisher shares a screen (its stream is marked as one) rather than a camera. */
  get isScreen(): boolean {
    return this.profile.content !== 'camera';
  }

  /** Which way camera frames are read (`processor`, `worker`, `element`); null without a camera. */
  get captureKind(): VideoCaptureKind | null {
    return this.videoCapture?.kind ?? null;
  }

  /**
   * Starts pulling camera frames and microphone samples; resolves when a track ends (the camera or the
   * microphone unplugged) or {@link stop} is called.
   */
  async run(): Promise<void> {
    const loops: Promise<void>[] = [];
    if (this.videoCapture) loops.push(this.runVideo(this.videoCapture));
    if (this.audio) loops.push(this.audio.run());
    await Promise.race(loops);
  }

  /** Mutes or unmutes the microphone (nothing is sent while muted). */
  setMuted(muted: boolean): void {
    if (this.audio) this.audio.muted = muted;
  }

  private async runVideo(capture: VideoCapture): Promise<void> {
    try {
      for (;;) {
        const frame = await capture.read();
        if (!frame || this.stopped) {
          frame?.close();
          break;
        }
        await this.onCameraFrame(frame);
      }
    } catch (err) {
      if (!this.stopped) this.events.onProblem(`The camera stopped: ${String(err)}`);
    }
  }

  /** The socket has a new session: publish (again), since a new socket starts with no streams. */
  onSession(): void {
    this.streamId = null;
    this.publishRequest = null;
    this.publish();
  }

  /** Handles a message addressed to the publisher; returns false if it was not ours. */
  handleMessage(m: Message): boolean {
    switch (m.type) {
      case 'published':
        if (this.updateRequest !== null && m.requestId === this.updateRequest) {
          this.updateRequest = null;
          return true;
        }
        if (m.requestId !== this.publishRequest) return false;
        this.publishRequest = null;
        this.streamId = m.streamId;
        // Viewers can only start at a keyframe, so the stream's first frame must be one.
        this.forceKey = true;
        this.waitForKey = true;
        // The encoder changed while the publish was on its way: the stream takes its config now.
        if (this.setup && this.publishedVideo && !sameVideo(this.publishedVideo, this.setup.decoder)) {
          this.sendUpdate();
        }
        this.events.onProblem(this.audio?.failed ?? (this.micLate && !this.publishedAudio ? MIC_LATE : null));
        return true;
      case 'error':
        if (m.requestId !== 0 && m.requestId === this.updateRequest) {
          // The stream could not take the new tracks: end it and publish them as a new one.
          this.updateRequest = null;
          if (this.streamId !== null) this.conn.send({ type: 'unpublish', streamId: this.streamId });
          this.streamId = null;
          this.publish();
          return true;
        }
        if (m.requestId === 0 || m.requestId !== this.publishRequest) return false;
        this.publishRequest = null;
        if (m.code === 'FW_STREAM_EXISTS' && this.renames < MAX_RENAMES) {
          // Another tab of the same person got there first: same name, new suffix.
          this.renames++;
          this.name = `${this.name.replace(PERSON_SUFFIX, '')}-${randomSuffix()}`;
          this.publish();
        } else if (m.code === 'FW_UNAUTHORIZED') {
          this.events.onUnauthorized(m.message);
        } else {
          this.events.onProblem(`The server refused the stream (${m.code}): ${m.message}`);
        }
        return true;
      case 'keyframe-request':
        if (m.streamId !== this.streamId) return false;
        this.counters.keyframeRequests++;
        this.forceKey = true;
        return true;
      case 'room-codecs':
        if (m.room !== this.room) return false;
        if (sameList(m.codecs, this.roomDecodes)) return true;
        this.roomDecodes = m.codecs;
        this.rechoose = true;
        return true;
      default:
        return false;
    }
  }

  /** Stops the camera and the encoder, and ends the stream on the server. */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    if (this.micGrace) clearTimeout(this.micGrace);
    this.videoCapture?.stop();
    this.track?.stop();
    this.audio?.stop();
    this.micTrack?.stop();
    if (this.encoder && this.encoder.state !== 'closed') this.encoder.close();
    this.encoder = null;
    this.closeNext();
    if (this.streamId !== null) this.conn.send({ type: 'unpublish', streamId: this.streamId });
    this.streamId = null;
  }

  private publish(): void {
    if (this.stopped || !this.conn.online) return;
    // Wait until every track we have knows its config: the camera's size, the microphone's format.
    if (this.track && !this.setup) return;
    const audio = this.audio;
    if (audio && !audio.config && !audio.failed && !this.micLate) {
      if (this.track) this.startMicGrace();
      return;
    }
    // Already live, or already asked: one stream per publisher.
    if (this.streamId !== null || this.publishRequest !== null) return;
    const video: DecoderConfig | undefined = this.setup?.decoder;
    const audioConfig = audio?.config ?? undefined;
    if (!video && !audioConfig) {
      this.events.onProblem(audio?.failed ?? 'Nothing to send: no camera and no microphone.');
      return;
    }
    this.publishRequest = this.conn.requestId();
    this.publishedVideo = video ?? null;
    this.publishedAudio = audioConfig !== undefined;
    this.conn.send({
      type: 'publish',
      requestId: this.publishRequest,
      room: this.room,
      name: this.name,
      ...(video ? { video } : {}),
      ...(audioConfig ? { audio: audioConfig } : {}),
      ...(this.isScreen ? { screen: true } : {}),
    });
  }

  /** The microphone's format is known (or it failed): publish, if the camera is ready too. */
  private onAudioReady(): void {
    if (this.audio?.failed) this.events.onProblem(this.audio.failed);
    if (this.micGrace) clearTimeout(this.micGrace);
    this.micGrace = null;
    if (this.micLate && this.audio?.config && this.streamId !== null && !this.publishedAudio) {
      // Live with video only: the sound joins the stream in place, from a keyframe.
      this.events.onProblem(null);
      this.forceKey = true;
      this.sendUpdate();
      return;
    }
    this.publish();
  }

  /** Starts the wait for the microphone once the camera is ready, if not already waiting. */
  private startMicGrace(): void {
    if (this.micGrace || this.micLate) return;
    this.micGrace = setTimeout(() => {
      this.micGrace = null;
      if (this.stopped || this.audio?.config || this.audio?.failed) return;
      this.micLate = true;
      this.events.onProblem(MIC_LATE);
      this.publish();
    }, MIC_GRACE_MS);
  }

  private sendAudio(f: {
    timestamp: number;
    captureTime: number;
    audioLevel: number;
    payload: Uint8Array;
  }): boolean {
    const streamId = this.streamId;
    if (streamId === null || this.stopped || !this.publishedAudio) return false;
    return this.conn.send({
      type: 'frame',
      streamId,
      key: true,
      track: 'audio',
      audioLevel: f.audioLevel,
      seq: this.audio?.lastSeq ?? 0,
      timestamp: f.timestamp,
      captureTime: f.captureTime,
      payload: f.payload,
    });
  }

  private async onCameraFrame(frame: VideoFrame): Promise<void> {
    this.counters.framesCaptured++;
    const captureTime = this.conn.clock.nowUs();
    try {
      if (this.rechoose && this.encoder && !this.sizeChanged(frame)) {
        this.rechoose = false;
        await this.prepareSwitch(frame.displayWidth, frame.displayHeight);
      } else if (!this.encoder || this.rechoose || this.sizeChanged(frame)) {
        this.rechoose = false;
        if (!(await this.configure(frame.displayWidth, frame.displayHeight))) return;
      }
      const encoder = this.encoder;
      if (!encoder || this.stopped) return;
      // A codec switch under way: the next encoder gets the same frames until its first keyframe is out.
      const next = this.next;
      if (next && next.encoder.encodeQueueSize <= MAX_ENCODE_QUEUE) {
        next.encoder.encode(frame, { keyFrame: !next.fed });
        next.fed = true;
      }
      // Never queue behind a busy encoder: a dropped camera frame costs 33 ms of motion, a queued one adds
      // latency to every frame after it.
      if (encoder.encodeQueueSize > MAX_ENCODE_QUEUE) {
        this.counters.droppedEncoderBusy++;
        return;
      }
      const keyFrame = this.forceKey || frame.timestamp - this.lastKeyTimestamp >= KEYFRAME_INTERVAL_US;
      if (keyFrame) {
        this.forceKey = false;
        this.lastKeyTimestamp = frame.timestamp;
      }
      this.captureTimes.set(frame.timestamp, captureTime);
      if (this.captureTimes.size > 64) {
        const oldest = this.captureTimes.keys().next().value;
        if (oldest !== undefined) this.captureTimes.delete(oldest);
      }
      encoder.encode(frame, { keyFrame });
    } finally {
      frame.close();
    }
  }

  private sizeChanged(frame: VideoFrame): boolean {
    const d = this.setup?.decoder;
    return !d || d.codedWidth !== frame.displayWidth || d.codedHeight !== frame.displayHeight;
  }

  /**
   * Starts the encoder the room's decoders now call for beside the current one (make before break): the
   * viewers keep getting the old codec until the new one's first keyframe is ready, then the stream
   * switches at that keyframe (see onChunk), so a switch costs them no more than a frame.
   */
  private async prepareSwitch(width: number, height: number): Promise<void> {
    const setup = await chooseEncoder(this.codec, width, height, this.roomDecodes, this.profile);
    const current = this.setup?.decoder;
    if (this.stopped || !setup || !current || sameVideo(current, setup.decoder)) return;
    this.closeNext();
    const encoder = new VideoEncoder({
      output: (chunk) => this.onChunk(encoder, chunk),
      error: (err) => this.onEncoderError(encoder, err),
    });
    encoder.configure(setup.encoder);
    this.next = { encoder, setup, fed: false };
  }

  /** The next encoder's first keyframe is out: it becomes the stream's encoder, and the stream's config. */
  private adoptNext(next: NextEncoder): void {
    this.next = null;
    if (this.encoder && this.encoder.state !== 'closed') this.encoder.close();
    this.encoder = next.encoder;
    this.setup = next.setup;
    this.sendUpdate();
  }

  private closeNext(): void {
    const next = this.next;
    this.next = null;
    if (next && next.encoder.state !== 'closed') next.encoder.close();
  }

  /** (Re)creates the encoder for this frame size; republishes if the stream's config changed. */
  private async configure(width: number, height: number): Promise<boolean> {
    const setup = await chooseEncoder(this.codec, width, height, this.roomDecodes, this.profile);
    if (this.stopped) return false;
    const current = this.setup?.decoder;
    if (this.encoder && setup && current && sameVideo(current, setup.decoder)) return true;
    if (!setup) {
      this.events.onProblem(
        `This browser cannot encode ${width}x${height} video with WebCodecs (tried H.264, VP8).`,
      );
      this.stop();
      return false;
    }
    if (this.encoder && this.encoder.state !== 'closed') this.encoder.close();
    this.closeNext();
    const encoder = new VideoEncoder({
      output: (chunk) => this.onChunk(encoder, chunk),
      error: (err) => this.onEncoderError(encoder, err),
    });
    encoder.configure(setup.encoder);
    this.encoder = encoder;
    this.forceKey = true;
    const previous = this.setup?.decoder;
    this.setup = setup;
    if (previous && !sameVideo(previous, setup.decoder)) this.sendUpdate();
    this.publish();
    return true;
  }

  /**
   * Gives our live stream the encoder's new config in place (protocol v3 `update`): viewers reconfigure
   * their decoders, and the new encoder's first frame is the keyframe they start from. A stream still
   * being published is updated once `published` comes (see handleMessage).
   */
  private sendUpdate(): void {
    const video = this.setup?.decoder;
    if (this.streamId === null || !video || this.stopped) return;
    this.waitForKey = true;
    this.publishedVideo = video;
    this.updateRequest = this.conn.requestId();
    const audio = this.audio?.config;
    this.publishedAudio = audio !== undefined && audio !== null;
    this.conn.send({
      type: 'update',
      requestId: this.updateRequest,
      streamId: this.streamId,
      video,
      ...(audio ? { audio } : {}),
      ...(this.isScreen ? { screen: true } : {}),
    });
  }

  private onEncoderError(encoder: VideoEncoder, err: DOMException): void {
    if (encoder === this.next?.encoder) {
      // The switch failed: the stream goes on with the codec it has.
      console.warn('framewire: the next encoder failed', err);
      this.closeNext();
      return;
    }
    if (encoder !== this.encoder || this.stopped) return;
    console.warn('framewire: encoder error', err);
    this.encoder = null; // the next camera frame makes a new one
    if (++this.encoderErrors >= MAX_ENCODER_ERRORS) {
      this.events.onProblem(`The video encoder keeps failing (${err.message}); camera stopped.`);
      this.stop();
    }
  }

  private onChunk(encoder: VideoEncoder, chunk: EncodedVideoChunk): void {
    if (encoder === this.next?.encoder) {
      if (chunk.type !== 'key') return;
      this.adoptNext(this.next);
    } else if (encoder !== this.encoder) {
      return; // an encoder replaced since (closing one may still flush an output)
    }
    this.counters.framesEncoded++;
    const captureTime = this.captureTimes.get(chunk.timestamp);
    // During a switch the next encoder will want the same frame's capture time too.
    if (!this.next) this.captureTimes.delete(chunk.timestamp);
    const streamId = this.streamId;
    // An empty chunk carries nothing, and the protocol refuses a frame without payload.
    if (streamId === null || this.stopped || chunk.byteLength === 0) return;
    const key = chunk.type === 'key';
    // Every encoded frame takes a number, sent or not, so a viewer sees our drops as a gap too.
    this.seq = (this.seq + 1) >>> 0;
    if (this.waitForKey && !key) return;
    // The socket is backed up: more bytes would only queue (latency) behind it. Stop sending until a
    // keyframe, because the deltas after a dropped frame are useless to the viewers.
    if (this.conn.bufferedAmount > MAX_SOCKET_BUFFER_BYTES) {
      this.counters.droppedCongested++;
      this.waitForKey = true;
      this.forceKey = true;
      return;
    }
    this.waitForKey = false;
    const payload = new Uint8Array(chunk.byteLength);
    chunk.copyTo(payload);
    const sent = this.conn.send({
      type: 'frame',
      streamId,
      key,
      seq: this.seq,
      timestamp: chunk.timestamp,
      captureTime: captureTime ?? this.conn.clock.nowUs(),
      payload,
    });
    if (!sent) return;
    this.counters.framesSent++;
    this.counters.bytesSent += payload.byteLength;
    if (key) this.counters.keyframesSent++;
    this.sent.add(payload.byteLength);
  }
}

/** An encoder being started for a codec switch; `fed` once it has been given its first frame. */
interface NextEncoder {
  encoder: VideoEncoder;
  setup: EncoderSetup;
  fed: boolean;
}

/** Whether two video configs are the same codec and size (viewers' decoders can go on). */
function sameVideo(a: DecoderConfig, b: DecoderConfig): boolean {
  return a.codec === b.codec && a.codedWidth === b.codedWidth && a.codedHeight === b.codedHeight;
}

/** Whether two codec lists (null: unrestricted) are the same. */
function sameList(a: readonly string[] | null, b: readonly string[] | null): boolean {
  if (a === null || b === null) return a === b;
  return a.length === b.length && a.every((x, i) => x === b[i]);
}
