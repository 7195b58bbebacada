import {
  type AudioCodec,
  EncodedAudioPacketSource,
  EncodedPacket,
  EncodedVideoPacketSource,
  FilePathTarget,
  MkvOutputFormat,
  Mp4OutputFormat,
  Output,
  type OutputFormat,
  type Target,
  type VideoCodec,
  WebMOutputFormat,
} from 'mediabunny';
import type { AudioConfig, DecoderConfig, StreamTracks } from '../protocol/messages.js';
import { MediaError } from './errors.js';
import { audioPacketMicros, OPUS_SILENCE_MICROS, opusHead, opusSilence } from './mux-audio.js';

/** Containers we write; each is also the file extension (without the dot). */
export type Container = 'webm' | 'mkv' | 'mp4';

/** One encoded frame as the muxer takes it: timestamps in microseconds, any origin shared by both tracks. */
export interface MuxFrame {
  key: boolean;
  timestamp: number;
  data: Uint8Array;
  /** `audio` for a frame of the audio track; absent for video (as on the wire). */
  track?: 'audio';
}

/** A container being written from relayed frames. */
export interface FrameMuxer {
  /**
   * Adds a frame in arrival order; frames before the first video keyframe (the first audio frame for an
   * audio-only stream) are dropped.
   */
  add(frame: MuxFrame): Promise<void>;
  /** Writes what is pending and the index; false (and nothing finalised) when nothing playable ever came. */
  finish(): Promise<boolean>;
  /** Stops writing and discards what was not yet written. */
  cancel(): Promise<void>;
}

/** The mediabunny codec for a WebCodecs video codec string, or null when we cannot mux it. */
function videoCodec(codec: string): VideoCodec | null {
  if (codec === 'vp8') return 'vp8';
  if (codec.startsWith('vp09.') || codec === 'vp9') return 'vp9';
  if (codec.startsWith('av01.')) return 'av1';
  if (codec.startsWith('avc1.') || codec.startsWith('avc3.')) return 'avc';
  return null;
}

/** The mediabunny codec for a WebCodecs audio codec string, or null when we cannot mux it. */
function audioCodec(codec: string): AudioCodec | null {
  if (codec === 'opus') return 'opus';
  if (codec.startsWith('mp4a.40.')) return 'aac';
  return null;
}

/** People's names of the codecs, for error messages. */
const CODEC_NAMES: Record<VideoCodec | AudioCodec, string> = {
  avc: 'H.264',
  vp8: 'VP8',
  vp9: 'VP9',
  av1: 'AV1',
  opus: 'Opus',
  aac: 'AAC',
} as Record<VideoCodec | AudioCodec, string>;

/**
 * What each container holds. WebM holds only VP8/VP9/AV1 and Opus (its spec says so, and mediabunny
 * enforces it). MP4 holds all of ours, Opus included (mediabunny writes the `Opus`/`dOps` sample entry);
 * mediabunny converts Annex B H.264 to AVCC itself, taking SPS/PPS from the first keyframe. MKV takes AAC
 * too, but not H.264: mediabunny's Matroska muxer does not convert Annex B, so such a file would lack its
 * CodecPrivate.
 */
export const CONTAINER_CODECS: Record<Container, readonly (VideoCodec | AudioCodec)[]> = {
  webm: ['vp8', 'vp9', 'av1', 'opus'],
  mkv: ['vp8', 'vp9', 'av1', 'opus', 'aac'],
  mp4: ['avc', 'vp8', 'vp9', 'av1', 'opus', 'aac'],
};

/** `VP8, VP9, AV1 and Opus`: what `container` holds, for people. */
export function containerHolds(container: Container): string {
  const names = CONTAINER_CODECS[container].map((c) => CODEC_NAMES[c]);
  return `${names.slice(0, -1).join(', ')} and ${names.at(-1)}`;
}

/** Whether `container` can hold `codec` (a WebCodecs codec string, video or audio). */
export function canHold(container: Container, codec: string): boolean {
  const c = videoCodec(codec) ?? audioCodec(codec);
  return c !== null && CONTAINER_CODECS[container].includes(c);
}

/** The codec strings of a stream's tracks. */
function trackCodecs(tracks: StreamTracks): string[] {
  return [tracks.video?.codec, tracks.audio?.codec].filter((c): c is string => c !== undefined);
}

/** The container a stream with `tracks` is best kept in: WebM when it holds them all, else MP4; null if none. */
export function preferredContainer(tracks: StreamTracks): Container | null {
  const codecs = trackCodecs(tracks);
  if (codecs.length === 0) return null;
  for (const container of ['webm', 'mp4'] as const) {
    if (codecs.every((c) => canHold(container, c))) return container;
  }
  return null;
}

/**
 * Null when `container` can hold every track of `tracks`; otherwise why not, naming what the container
 * holds and the container to use instead (`.webm cannot hold mp4a.40.2 (WebM holds VP8, VP9, AV1 and
 * Opus); use .mp4`).
 */
export function muxRefusal(container: Container, tracks: StreamTracks): string | null {
  const codecs = trackCodecs(tracks);
  if (codecs.length === 0) return 'the stream has no track';
  const misfits = codecs.filter((c) => !canHold(container, c));
  if (misfits.length === 0) return null;
  const what = `.${container} cannot hold ${misfits.join(' + ')} (it holds ${containerHolds(container)})`;
  const better = preferredContainer(tracks);
  return better === null ? `${what}, nor can any container we write` : `${what}; use .${better}`;
}

/** Options of the container format: see {@link outputFormat}. */
function outputFormat(container: Container, live: boolean, audioOnly: boolean): OutputFormat {
  // With video, a cluster or fragment starts at each keyframe. Audio-only, every frame is "key": half a
  // second per cluster/fragment keeps the overhead (a moof per 20 ms packet would double an Opus
  // stream) and what a crash loses small.
  const minimum = audioOnly ? 0.5 : 0;
  switch (container) {
    case 'webm':
      return new WebMOutputFormat({ appendOnly: live, minimumClusterDuration: minimum });
    case 'mkv':
      return new MkvOutputFormat({ appendOnly: live, minimumClusterDuration: minimum });
    case 'mp4':
      return new Mp4OutputFormat({ fastStart: 'fragmented', minimumFragmentDuration: minimum });
  }
}

/**
 * Starts muxing a stream with `tracks` into the file at `path`. mediabunny's FilePathTarget gathers 16 MiB
 * before its first write (two minutes of a 1 Mbit/s stream, all lost to a crash); unchunked, each fragment
 * or cluster reaches the file as it is muxed.
 */
export function createFileMuxer(
  path: string,
  container: Container,
  tracks: StreamTracks,
): Promise<FrameMuxer> {
  return createMuxer(container, tracks, new FilePathTarget(path, { chunked: false }));
}

/**
 * Starts muxing a stream with `tracks` (video, audio or both) into `container` on `target`. `live`: the
 * target cannot seek (an HTTP response), so the format is written strictly in order. Live output never
 * seeks back: WebM is written append-only (a block per frame, at once); MP4 is fragmented, and since a
 * fragment must start on a keyframe and is written when the next begins, live MP4 runs about one keyframe
 * interval behind. Files are fragmented too, and every keyframe starts a new MP4 fragment or Matroska
 * cluster, so a file cut short by a crash plays up to its last keyframe. Throws MediaError
 * FW_UNSUPPORTED_CODEC when the container cannot hold a track.
 */
export async function createMuxer(
  container: Container,
  tracks: StreamTracks,
  target: Target,
  live = false,
): Promise<FrameMuxer> {
  const refusal = muxRefusal(container, tracks);
  if (refusal !== null) throw new MediaError('FW_UNSUPPORTED_CODEC', `cannot mux: ${refusal}`);
  const output = new Output({ format: outputFormat(container, live, tracks.video === undefined), target });
  let video: VideoTrack | null = null;
  let audio: AudioTrack | null = null;
  if (tracks.video) {
    const source = new EncodedVideoPacketSource(videoCodec(tracks.video.codec) as VideoCodec);
    output.addVideoTrack(source);
    video = { source, config: tracks.video, last: -1 };
  }
  if (tracks.audio) {
    const codec = audioCodec(tracks.audio.codec) as AudioCodec;
    const source = new EncodedAudioPacketSource(codec);
    output.addAudioTrack(source);
    const silence = codec === 'opus' ? opusSilence(tracks.audio.numberOfChannels) : null;
    audio = { source, config: tracks.audio, start: -1, end: -1, silence, closed: false };
  }
  await output.start();
  return new MediabunnyMuxer(output, video, audio);
}

interface VideoTrack {
  source: EncodedVideoPacketSource;
  config: DecoderConfig;
  /** Output time (µs) of the last frame written; -1 before the first. */
  last: number;
}

interface AudioTrack {
  source: EncodedAudioPacketSource;
  config: AudioConfig;
  /** Output time (µs) of the last packet's start and end; -1 before the first. */
  start: number;
  end: number;
  /** A packet of silence that may fill a stalled track (Opus mono/stereo); null when we have none. */
  silence: Uint8Array | null;
  /** Closed after a stall we could not fill: the rest of the file is video only. */
  closed: boolean;
}

/**
 * How far the audio may lag the video before the muxer fills it with silence (or, when it cannot make
 * silence for the codec, gives the track up). mediabunny interleaves the tracks, so it writes nothing
 * while one track has no packet queued: a publisher whose audio stops (a muted microphone with DTX, a
 * dead capture) would otherwise hold the whole container, and its memory, without end. Half a second is
 * far beyond the skew of a healthy publisher (tens of ms) and is the most it delays a live player.
 */
const AUDIO_STALL_US = 500_000;
/** Without a silence packet to fill with, the audio track is closed after this long of nothing. */
const AUDIO_GIVE_UP_US = 2_000_000;
/**
 * How far audio may run ahead of the last video frame while the video is missing (dropped to the next
 * keyframe, or stopped by the publisher). mediabunny holds the audio until video comes; past this the
 * audio is dropped, which bounds that memory to seconds of audio.
 */
const AUDIO_AHEAD_US = 10_000_000;

/** Overlap with the previous audio packet still written as it is (timestamp jitter): under half a frame. */
const OVERLAP_TOLERANCE_US = 10_000;

class MediabunnyMuxer implements FrameMuxer {
  /** Input timestamp (µs) of the first frame written: subtracted so the output starts at 0. */
  private origin: number | null = null;
  private closed = false;

  constructor(
    private readonly output: Output,
    private readonly video: VideoTrack | null,
    private readonly audio: AudioTrack | null,
  ) {}

  async add(frame: MuxFrame): Promise<void> {
    if (this.closed) return;
    if (frame.track === 'audio') return this.addAudio(frame);
    const video = this.video;
    if (video === null) return;
    // A container must start with a keyframe: nothing before it can be decoded.
    if (this.origin === null) {
      if (!frame.key) return;
      this.origin = frame.timestamp;
    }
    // Muxers reject time going backwards (a publisher restart, a looping file); nudge forward instead.
    let micros = frame.timestamp - this.origin;
    if (micros <= video.last) micros = video.last + 1;
    const first = video.last < 0;
    video.last = micros;
    await this.keepAudioUp(micros);
    const packet = new EncodedPacket(frame.data, frame.key ? 'key' : 'delta', micros / 1e6, 0);
    if (first) {
      const { codec, codedWidth, codedHeight, description } = video.config;
      await video.source.add(packet, {
        decoderConfig: { codec, codedWidth, codedHeight, ...(description ? { description } : {}) },
      });
    } else {
      await video.source.add(packet);
    }
  }

  private async addAudio(frame: MuxFrame): Promise<void> {
    const audio = this.audio;
    if (audio === null || audio.closed) return;
    if (this.origin === null) {
      // With video, the file starts at its first keyframe; audio before it has no picture to go with.
      if (this.video !== null) return;
      this.origin = frame.timestamp;
    }
    const micros = frame.timestamp - this.origin;
    // Before the first picture; a repeat or a step back (a restart, or the real audio arriving after we
    // filled its place with silence): the track's time must only go forward. A few ms of overlap is
    // capture-clock jitter (browsers stamp audio from the capture clock), not a step back: kept.
    if (micros < 0 || micros <= audio.start || micros < audio.end - OVERLAP_TOLERANCE_US) return;
    // Video missing for long: bound what mediabunny holds for it (see AUDIO_AHEAD_US).
    if (this.video !== null && micros - Math.max(0, this.video.last) > AUDIO_AHEAD_US) return;
    await this.fillSilence(audio, micros);
    await this.writeAudio(audio, frame.data, micros);
  }

  /**
   * Fills the track with silence from where it ends (0 before its first packet) up to output time `until`.
   * A publisher with DTX leaves its silences unsent (the browser page does): players expect a track that
   * starts with the picture and has no holes, and fragmented MP4 would stretch the packet before a hole.
   */
  private async fillSilence(audio: AudioTrack, until: number): Promise<void> {
    if (audio.silence === null) return;
    for (let at = Math.max(0, audio.end); at + OPUS_SILENCE_MICROS <= until + OVERLAP_TOLERANCE_US; ) {
      await this.writeAudio(audio, audio.silence, at);
      at += OPUS_SILENCE_MICROS;
    }
  }

  /** Writes one audio packet at output time `micros`, with its decoder config on the first. */
  private async writeAudio(audio: AudioTrack, data: Uint8Array, micros: number): Promise<void> {
    const duration = audioPacketMicros(audio.config, data) ?? OPUS_SILENCE_MICROS;
    const packet = new EncodedPacket(data, 'key', micros / 1e6, duration / 1e6);
    const first = audio.start < 0;
    audio.start = micros;
    audio.end = micros + duration;
    if (!first) return audio.source.add(packet);
    const { codec, sampleRate, numberOfChannels } = audio.config;
    const description = audio.config.description ?? (codec === 'opus' ? opusHead(audio.config) : undefined);
    await audio.source.add(packet, {
      decoderConfig: { codec, sampleRate, numberOfChannels, ...(description ? { description } : {}) },
    });
  }

  /**
   * Keeps a stalled audio track from holding the video (see AUDIO_STALL_US): fills it with silence up to
   * the stall bound behind video time `micros`, or closes it when there is no silence to fill with.
   */
  private async keepAudioUp(micros: number): Promise<void> {
    const audio = this.audio;
    if (audio === null || audio.closed) return;
    const end = Math.max(0, audio.end);
    if (audio.silence === null) {
      if (micros - end > AUDIO_GIVE_UP_US) {
        audio.closed = true;
        audio.source.close();
      }
      return;
    }
    if (micros - end >= AUDIO_STALL_US) await this.fillSilence(audio, micros - AUDIO_STALL_US);
  }

  async finish(): Promise<boolean> {
    if (this.closed) return this.origin !== null;
    this.closed = true;
    if (this.origin === null) {
      await this.output.cancel();
      return false;
    }
    // A silence at the end (DTX) would leave the sound shorter than the picture: fill it to the last frame.
    if (this.audio !== null && !this.audio.closed && this.video !== null && this.video.last >= 0) {
      await this.fillSilence(this.audio, this.video.last + OPUS_SILENCE_MICROS - OVERLAP_TOLERANCE_US);
    }
    await this.output.finalize();
    return true;
  }

  async cancel(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.output.cancel();
  }
}
