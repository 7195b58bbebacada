// One stream someone else publishes: frames in, a VideoDecoder, the newest picture painted on a canvas when
// its sound plays (av-sync.ts), and the stream's sound (remote-audio.ts).
import type {
  AudioConfig,
  DecoderConfig,
  FrameMessage,
  ReceiverReportMessage,
} from '../../src/protocol/index.js';
import type { AudioOutput } from './audio-output.js';
import { PaintScheduler } from './av-sync.js';
import { localNowUs, type ServerClock } from './clock.js';
import { codecLabel } from './codecs.js';
import { type PictureSink, pictureSink } from './picture-sink.js';
import { RemoteAudio } from './remote-audio.js';
import { LatencyWindow, RateMeter } from './stats.js';

/** What stream-added tells us about a stream: its tracks (at least one). */
export interface RemoteStreamInfo {
  streamId: number;
  room: string;
  name: string;
  video?: DecoderConfig;
  audio?: AudioConfig;
  /** The video is a shared screen (protocol v4). */
  screen?: boolean;
}

/** Cumulative counters of one remote stream, since its tile appeared. */
export interface RemoteCounters {
  framesReceived: number;
  bytesReceived: number;
  framesDecoded: number;
  framesPainted: number;
  /**
   * Lost before decoding: sequence gaps, and deltas skipped while waiting for a keyframe (those discarded
   * for arriving too old included).
   */
  framesDropped: number;
  /**
   * Times a delta arrived too old ({@link MAX_FRAME_AGE_MS}), so that it and the rest of its GOP were
   * discarded (those frames count in framesDropped).
   */
  skipsTooOld: number;
  /** Decoded but not painted because a newer frame was already queued behind them. */
  framesLate: number;
  decodeErrors: number;
  keyframeRequests: number;
}

/** What a remote stream needs from the page around it. */
export interface RemoteStreamDeps {
  clock: ServerClock;
  /** The page's AudioContext, shared by every stream's sound. */
  audioOutput: AudioOutput;
  /** Sends keyframe-request for this stream id to the server. */
  requestKeyframe(streamId: number): void;
  /** Whether this page decodes video of `codec` (a WebCodecs codec string). */
  decodes(codec: string): boolean;
}

/** At most this often do we ask for a keyframe ourselves; the server rate-limits per stream too. */
const KEYFRAME_REQUEST_INTERVAL_MS = 500;
/**
 * Longest time without a painted frame while the decoder stays behind. Skipping to the newest frame is right
 * for a burst (a catch-up GOP), but a decoder that never catches up (CPU starved) would otherwise paint
 * nothing at all; past this gap it paints what it has.
 */
const MAX_PAINT_GAP_MS = 250;
/**
 * A decoded picture this much (µs of media time) older than the newest frame given to the decoder is not
 * painted: a newer one is on its way (a catch-up burst, or a decoder fallen behind). A frame or two in the
 * decoder's own pipeline is normal at the live edge: skipping whenever its queue was not empty painted a
 * 720p screen share at 7-10 fps of 30 in Chromium here.
 */
const BEHIND_US = 100_000;
/**
 * A delta that arrives this much older than the freshest frame of its stream (capture time against our
 * estimate of the server's clock) is not decoded: it and the deltas after it are discarded up to the next
 * keyframe, which shows the live picture at once where decoding the backlog would keep the tile seconds
 * behind. The relay already drains a viewer whose backlog passes its queue-age bound (viewerQueueAgeMs,
 * 500 ms); this bound is twice that so that the page acts only on what the relay could not see, with a
 * margin for decoding and for the error of the clock estimate.
 */
const MAX_FRAME_AGE_MS = 1000;
/** Capture times kept for frames inside the decoder; a decoder holds only a few frames at a time. */
const MAX_PENDING_CAPTURE_TIMES = 256;

/** Decodes one remote stream onto a canvas, always showing the newest frame, and keeps its statistics. */
export class RemoteStream {
  /** Cumulative counters (the receiver report and window.framewire.stats() read them). */
  readonly counters: RemoteCounters = {
    framesReceived: 0,
    bytesReceived: 0,
    framesDecoded: 0,
    framesPainted: 0,
    framesDropped: 0,
    skipsTooOld: 0,
    framesLate: 0,
    decodeErrors: 0,
    keyframeRequests: 0,
  };
  /** Bytes received per second (kbit/s on the tile). */
  readonly received = new RateMeter();
  /** Frames painted per second (fps on the tile). */
  readonly painted = new RateMeter();
  /** Glass-to-glass latency of painted frames, on the server's clock. */
  readonly latency = new LatencyWindow();
  /** How far behind its sound each picture was painted, ms (negative: ahead); only while sound plays. */
  readonly avOffset = new LatencyWindow();
  /** The same, without its sign: its p95 is how far apart picture and sound get. */
  readonly avOffsetAbs = new LatencyWindow();
  /** Capture to decoded picture, ms: what the sound must wait for to stay in sync. */
  readonly videoDelay = new LatencyWindow();
  /** The stream's sound; null when it has none. */
  audio: RemoteAudio | null = null;
  /** Size of the last painted frame; 0 before the first. */
  width = 0;
  height = 0;
  /** The last decoder problem, for the tile; cleared by the next painted frame. */
  problem: string | null = null;
  /**
   * True from a delta that arrived too old until the next keyframe: the page is skipping its backlog. The
   * relay's own `draining` reaches us only behind that backlog, so this is what the tile can say sooner.
   */
  catchingUp = false;
  /** The longest time between two painted frames since the first (a codec switch shows here), ms. */
  longestPaintGapMs = 0;
  /**
   * From the last picture before the stream last changed its tracks (a codec switch) to the first one
   * after, ms; null before any change, or while the first new picture is still to come.
   */
  switchGapMs: number | null = null;
  /** When the last frame was painted (performance.now()); 0 before the first. */
  private paintedAt = 0;
  /** The last paint before a track change, while waiting for the first after it; null otherwise. */
  private paintedBeforeSwitch: number | null = null;

  private decoder: VideoDecoder | null = null;
  private needKey = true;
  private lastSeq: number | null = null;
  private lastKeyRequest = Number.NEGATIVE_INFINITY;
  private lastPaintAt = 0;
  /** Media timestamp (µs) of the newest frame given to the decoder. */
  private newestQueuedUs = Number.NEGATIVE_INFINITY;
  /**
   * Local time (µs) we started watching under the current stream id; frames captured before it are the
   * relay's cached GOP, old by design. Null once the first frame captured after it has arrived.
   */
  private catchUpBeforeUs: number | null = localNowUs();
  /** Age (µs) of the freshest frame since then, on our estimate of the server's clock. */
  private minAgeUs = Number.POSITIVE_INFINITY;
  private readonly captureTimes = new Map<number, number>();
  private readonly sink: PictureSink;
  private readonly scheduler: PaintScheduler;

  constructor(
    public info: RemoteStreamInfo,
    canvas: HTMLCanvasElement,
    private readonly deps: RemoteStreamDeps,
    /** Called when a picture first appears (the tile's figures update only once a second). */
    private readonly onFirstPicture: (width: number, height: number) => void = () => {},
  ) {
    this.sink = pictureSink(canvas, info.screen === true);
    this.scheduler = new PaintScheduler(
      deps.clock,
      () => this.audio?.playoutDelayUs ?? null,
      (frame, captureUs, offsetMs) => this.onDue(frame, captureUs, offsetMs),
      () => this.counters.framesLate++,
    );
    this.setAudio(info.audio);
  }

  /** The same person's stream under a new id (after a reconnect): start over from its next keyframe. */
  rebind(info: RemoteStreamInfo): void {
    // The same id with new tracks is the publisher switching codec: time the gap it leaves.
    if (info.streamId === this.info.streamId && this.paintedAt > 0) {
      this.paintedBeforeSwitch = this.paintedAt;
      this.switchGapMs = null;
    }
    this.info = info;
    this.setAudio(info.audio);
    this.resetDecoder();
    this.lastSeq = null;
    this.catchUpBeforeUs = localNowUs();
    this.minAgeUs = Number.POSITIVE_INFINITY;
  }

  /** Handles one frame of this stream (either track). */
  handleFrame(frame: FrameMessage): void {
    if (frame.track === 'audio') {
      this.audio?.handleFrame(frame);
      return;
    }
    if (!this.info.video) return;
    const c = this.counters;
    c.framesReceived++;
    c.bytesReceived += frame.payload.byteLength;
    this.received.add(frame.payload.byteLength);
    // A codec this browser lacks: say so on the tile (the sound still plays) rather than ask for keyframes.
    if (!this.deps.decodes(this.info.video.codec)) {
      this.problem = cannotDecode(this.info.video.codec);
      return;
    }

    if (this.lastSeq !== null) {
      const gap = (frame.seq - this.lastSeq - 1) >>> 0;
      // A gap means the relay (or the publisher) dropped frames: the deltas that follow refer to pictures we
      // never had, so decoding them would only smear. Wait for a keyframe.
      if (gap > 0 && gap < 0x80000000) {
        c.framesDropped += gap;
        this.needKey = true;
      }
    }
    this.lastSeq = frame.seq;

    const lateMs = this.ageBeyondFreshestMs(frame);
    if (!frame.key && !this.needKey && lateMs > MAX_FRAME_AGE_MS) {
      c.skipsTooOld++;
      this.needKey = true;
      this.catchingUp = true;
    }
    if (!frame.key && this.needKey) {
      c.framesDropped++;
      this.requestKeyframe();
      return;
    }
    if (frame.key) {
      this.needKey = false;
      this.catchingUp = false;
      if (!this.decoder && !this.createDecoder()) return;
    }
    const decoder = this.decoder;
    if (!decoder) return;
    this.rememberCaptureTime(frame.timestamp, frame.captureTime);
    // Set, not the max: a publisher that starts again starts its timestamps again.
    this.newestQueuedUs = frame.timestamp;
    try {
      decoder.decode(
        new EncodedVideoChunk({
          type: frame.key ? 'key' : 'delta',
          timestamp: frame.timestamp,
          data: frame.payload,
        }),
      );
    } catch (err) {
      this.onDecoderError(err);
    }
  }

  /** Asks the publisher for a keyframe (at most every {@link KEYFRAME_REQUEST_INTERVAL_MS}). */
  requestKeyframe(force = false): void {
    const now = performance.now();
    if (!force && now - this.lastKeyRequest < KEYFRAME_REQUEST_INTERVAL_MS) return;
    this.lastKeyRequest = now;
    this.counters.keyframeRequests++;
    this.deps.requestKeyframe(this.info.streamId);
  }

  /** Closes the interval of the rates and latencies, and returns the receiver report for it. */
  roll(): ReceiverReportMessage {
    const now = performance.now();
    this.received.roll(now);
    this.painted.roll(now);
    this.latency.roll();
    this.avOffset.roll();
    this.avOffsetAbs.roll();
    this.videoDelay.roll();
    if (this.audio) {
      this.audio.roll();
      this.audio.setVideoDelay(this.videoDelay.p95);
    }
    const c = this.counters;
    return {
      type: 'receiver-report',
      streamId: this.info.streamId,
      framesReceived: c.framesReceived >>> 0,
      framesDecoded: c.framesDecoded >>> 0,
      framesDropped: c.framesDropped >>> 0,
      framesLate: c.framesLate >>> 0,
      fps: this.painted.perSecond,
      latencyP50Ms: this.latency.p50,
      latencyP95Ms: this.latency.p95,
    };
  }

  /** Releases the decoder, the picture's sink and the sound. */
  close(): void {
    this.resetDecoder();
    this.sink.close();
    this.audio?.close();
    this.audio = null;
  }

  private setAudio(config: AudioConfig | undefined): void {
    if (!config) {
      this.audio?.close();
      this.audio = null;
    } else if (this.audio) {
      this.audio.reconfigure(config);
    } else {
      this.audio = new RemoteAudio(config, this.deps.audioOutput, this.deps.clock);
    }
  }

  private createDecoder(): boolean {
    const config = this.info.video;
    if (!config) return false;
    const decoder = new VideoDecoder({
      output: (frame) => this.onOutput(decoder, frame),
      // An error from a decoder we already replaced is old news.
      error: (err) => {
        if (decoder === this.decoder) this.onDecoderError(err);
      },
    });
    try {
      decoder.configure({
        codec: config.codec,
        codedWidth: config.codedWidth,
        codedHeight: config.codedHeight,
        ...(config.description ? { description: config.description } : {}),
        // Ask the decoder to output each frame as soon as it can, not to buffer for smoothness.
        optimizeForLatency: true,
      });
    } catch (err) {
      this.decoder = decoder;
      this.onDecoderError(err);
      return false;
    }
    this.decoder = decoder;
    // A new decoder starts with a catch-up burst: give it a full gap before painting anything but the newest.
    this.lastPaintAt = performance.now();
    return true;
  }

  private onOutput(decoder: VideoDecoder, frame: VideoFrame): void {
    this.counters.framesDecoded++;
    const captureTime = this.captureTimes.get(frame.timestamp);
    this.captureTimes.delete(frame.timestamp);
    // Newer frames are already waiting (a catch-up burst, or we fell behind): painting this one would only
    // replay the past. Skip it, so a late joiner jumps straight to the live edge.
    const behind =
      this.newestQueuedUs - frame.timestamp > BEHIND_US &&
      performance.now() - this.lastPaintAt < MAX_PAINT_GAP_MS;
    if (decoder !== this.decoder || behind) {
      this.counters.framesLate++;
      frame.close();
      return;
    }
    if (captureTime !== undefined && this.deps.clock.synced) {
      this.videoDelay.add((this.deps.clock.nowUs() - captureTime) / 1000);
    }
    this.scheduler.push(frame, captureTime);
  }

  /** A picture's time has come (its sound is playing, or there is no sound to wait for). */
  private onDue(frame: VideoFrame, captureTime: number | undefined, offsetMs: number | null): void {
    this.paint(frame);
    const now = performance.now();
    if (this.paintedAt > 0) this.longestPaintGapMs = Math.max(this.longestPaintGapMs, now - this.paintedAt);
    if (this.paintedBeforeSwitch !== null) {
      this.switchGapMs = now - this.paintedBeforeSwitch;
      this.paintedBeforeSwitch = null;
    }
    this.paintedAt = now;
    this.lastPaintAt = now;
    frame.close();
    this.counters.framesPainted++;
    this.painted.add();
    this.problem = null;
    if (offsetMs !== null) {
      this.avOffset.add(offsetMs);
      this.avOffsetAbs.add(Math.abs(offsetMs));
    }
    if (captureTime !== undefined && this.deps.clock.synced) {
      this.latency.add((this.deps.clock.nowUs() - captureTime) / 1000);
    }
  }

  private paint(frame: VideoFrame): void {
    const { displayWidth: w, displayHeight: h } = frame;
    const first = this.width === 0;
    this.width = w;
    this.height = h;
    this.sink.show(frame);
    if (first) this.onFirstPicture(w, h);
  }

  private onDecoderError(err: unknown): void {
    if (err instanceof DOMException && err.name === 'NotSupportedError' && this.info.video) {
      // The browser said so only when asked to decode (a profile its probe did not cover).
      this.problem = cannotDecode(this.info.video.codec);
      this.resetDecoder();
      return;
    }
    this.counters.decodeErrors++;
    this.problem = `Cannot decode this video (${err instanceof Error ? err.name : 'error'}); waiting for a keyframe…`;
    console.warn(`framewire: decoder error on ${this.info.name}`, err);
    // A decoder that failed is closed for good: drop it, make a fresh one at the next keyframe.
    this.resetDecoder();
    this.requestKeyframe(true);
  }

  private resetDecoder(): void {
    const decoder = this.decoder;
    this.decoder = null;
    this.needKey = true;
    this.catchingUp = false;
    this.captureTimes.clear();
    this.scheduler.clear();
    if (decoder && decoder.state !== 'closed') decoder.close();
  }

  /**
   * How much older than the freshest frame of this stream so far `frame` arrived, ms; -1 when unknown: for
   * the cached GOP sent on joining (decoded without painting: old by design), or before the clock is synced
   * (a wrong offset would discard a good stream).
   */
  private ageBeyondFreshestMs(frame: FrameMessage): number {
    const clock = this.deps.clock;
    if (!clock.synced) return -1;
    if (this.catchUpBeforeUs !== null) {
      if (frame.captureTime < this.catchUpBeforeUs + clock.offsetUs) return -1;
      this.catchUpBeforeUs = null;
    }
    const ageUs = clock.nowUs() - frame.captureTime;
    // The freshest frame's age is the path's own delay plus the publisher's clock error (the CLI stamps its
    // machine's wall clock): measured from it, a publisher whose clock runs a second behind does not make
    // every frame look old. With clocks in step it is a few ms.
    this.minAgeUs = Math.min(this.minAgeUs, ageUs);
    return (ageUs - this.minAgeUs) / 1000;
  }

  private rememberCaptureTime(timestamp: number, captureTime: number): void {
    this.captureTimes.set(timestamp, captureTime);
    if (this.captureTimes.size > MAX_PENDING_CAPTURE_TIMES) {
      const oldest = this.captureTimes.keys().next().value;
      if (oldest !== undefined) this.captureTimes.delete(oldest);
    }
  }
}

/** What a tile says for a video codec this browser cannot decode, naming it. */
function cannotDecode(codec: string): string {
  return `This browser cannot decode ${codecLabel(codec)} video (${codec}): the picture cannot be shown here.`;
}
