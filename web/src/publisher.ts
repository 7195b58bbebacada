// The local camera and microphone on the wire: VideoFrames from the track → VideoEncoder → protocol frames on
// the socket, and beside them the microphone's Opus frames (audio-sender.ts), in one stream with both tracks.
import type { DecoderConfig, Message } from '../../src/protocol/index.js';
import type { AudioCapture } from './audio-capture.js';
import { AudioSender } from './audio-sender.js';
import { type CodecChoice, chooseEncoder, type EncoderSetup } from './codecs.js';
import type { Connection } from './connection.js';
import { PERSON_SUFFIX, randomSuffix } from './names.js';
import { RateMeter } from './stats.js';

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
  private reader: ReadableStreamDefaultReader<VideoFrame> | null = null;
  private publishRequest: number | null = null;
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
    /** The camera; null for a stream with sound only. */
    private readonly track: MediaStreamTrack | null,
    /** The microphone and how its samples are read; null for a stream with video only. */
    mic: { track: MediaStreamTrack; capture: AudioCapture } | null,
    readonly room: string,
    public name: string,
    private readonly codec: CodecChoice,
    private readonly events: PublisherEvents,
  ) {
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

  private readonly micTrack: MediaStreamTrack | null;

  /**
   * Starts pulling camera frames and microphone samples; resolves when a track ends (the camera or the
   * microphone unplugged) or {@link stop} is called.
   */
  async run(): Promise<void> {
    const loops: Promise<void>[] = [];
    if (this.track) loops.push(this.runVideo(this.track));
    if (this.audio) loops.push(this.audio.run());
    await Promise.race(loops);
  }

  /** Mutes or unmutes the microphone (nothing is sent while muted). */
  setMuted(muted: boolean): void {
    if (this.audio) this.audio.muted = muted;
  }

  private async runVideo(track: MediaStreamTrack): Promise<void> {
    const processor = new MediaStreamTrackProcessor({ track });
    this.reader = processor.readable.getReader();
    try {
      for (;;) {
        const { value: frame, done } = await this.reader.read();
        if (done || this.stopped) {
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
        if (m.requestId !== this.publishRequest) return false;
        this.publishRequest = null;
        this.streamId = m.streamId;
        // Viewers can only start at a keyframe, so the stream's first frame must be one.
        this.forceKey = true;
        this.waitForKey = true;
        this.events.onProblem(this.audio?.failed ?? null);
        return true;
      case 'error':
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
      default:
        return false;
    }
  }

  /** Stops the camera and the encoder, and ends the stream on the server. */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.reader?.cancel().catch(() => {});
    this.track?.stop();
    this.audio?.stop();
    this.micTrack?.stop();
    if (this.encoder && this.encoder.state !== 'closed') this.encoder.close();
    this.encoder = null;
    if (this.streamId !== null) this.conn.send({ type: 'unpublish', streamId: this.streamId });
    this.streamId = null;
  }

  private publish(): void {
    if (this.stopped || !this.conn.online) return;
    // Wait until every track we have knows its config: the camera's size, the microphone's format.
    if (this.track && !this.setup) return;
    const audio = this.audio;
    if (audio && !audio.config && !audio.failed) return;
    // Already live, or already asked: one stream per publisher.
    if (this.streamId !== null || this.publishRequest !== null) return;
    const video: DecoderConfig | undefined = this.setup?.decoder;
    const audioConfig = audio?.config ?? undefined;
    if (!video && !audioConfig) {
      this.events.onProblem(audio?.failed ?? 'Nothing to send: no camera and no microphone.');
      return;
    }
    this.publishRequest = this.conn.requestId();
    this.conn.send({
      type: 'publish',
      requestId: this.publishRequest,
      room: this.room,
      name: this.name,
      ...(video ? { video } : {}),
      ...(audioConfig ? { audio: audioConfig } : {}),
    });
  }

  /** The microphone's format is known (or it failed): publish, if the camera is ready too. */
  private onAudioReady(): void {
    if (this.audio?.failed) this.events.onProblem(this.audio.failed);
    this.publish();
  }

  private sendAudio(f: {
    timestamp: number;
    captureTime: number;
    audioLevel: number;
    payload: Uint8Array;
  }): boolean {
    const streamId = this.streamId;
    if (streamId === null || this.stopped) return false;
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
      if (!this.encoder || this.sizeChanged(frame)) {
        if (!(await this.configure(frame.displayWidth, frame.displayHeight))) return;
      }
      const encoder = this.encoder;
      if (!encoder || this.stopped) return;
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

  /** (Re)creates the encoder for this frame size; republishes if the stream's config changed. */
  private async configure(width: number, height: number): Promise<boolean> {
    const setup = await chooseEncoder(this.codec, width, height);
    if (this.stopped) return false;
    if (!setup) {
      this.events.onProblem(
        `This browser cannot encode ${width}x${height} video with WebCodecs (tried H.264, VP8).`,
      );
      this.stop();
      return false;
    }
    if (this.encoder && this.encoder.state !== 'closed') this.encoder.close();
    const encoder = new VideoEncoder({
      output: (chunk) => this.onChunk(chunk),
      error: (err) => this.onEncoderError(encoder, err),
    });
    encoder.configure(setup.encoder);
    this.encoder = encoder;
    this.forceKey = true;
    const previous = this.setup?.decoder;
    this.setup = setup;
    const same =
      previous &&
      previous.codec === setup.decoder.codec &&
      previous.codedWidth === setup.decoder.codedWidth &&
      previous.codedHeight === setup.decoder.codedHeight;
    if (!same && this.streamId !== null) {
      // Viewers configured their decoders from the old config: end that stream and start a new one.
      this.conn.send({ type: 'unpublish', streamId: this.streamId });
      this.streamId = null;
    }
    this.publish();
    return true;
  }

  private onEncoderError(encoder: VideoEncoder, err: DOMException): void {
    if (encoder !== this.encoder || this.stopped) return;
    console.warn('framewire: encoder error', err);
    this.encoder = null; // the next camera frame makes a new one
    if (++this.encoderErrors >= MAX_ENCODER_ERRORS) {
      this.events.onProblem(`The video encoder keeps failing (${err.message}); camera stopped.`);
      this.stop();
    }
  }

  private onChunk(chunk: EncodedVideoChunk): void {
    this.counters.framesEncoded++;
    const captureTime = this.captureTimes.get(chunk.timestamp);
    this.captureTimes.delete(chunk.timestamp);
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
