import { EventEmitter } from 'node:events';
import {
  AUDIO_FRAME_HEADER_BYTES,
  AUDIO_LEVEL_SILENT,
  FRAME_HEADER_BYTES,
  type FrameMessage,
  type StreamTracks,
} from '../protocol/messages.js';

/** One encoded frame as a publisher hands it over; the publication adds streamId and seq. */
export interface OutgoingFrame {
  key: boolean;
  /** Media timestamp, microseconds. */
  timestamp: number;
  /** Wall-clock capture time, microseconds since the Unix epoch. */
  captureTime: number;
  data: Uint8Array;
}

/** One encoded audio frame as a publisher hands it over (every audio frame is a starting point). */
export interface OutgoingAudioFrame {
  /** Media timestamp, microseconds. */
  timestamp: number;
  /** Wall-clock capture time, microseconds since the Unix epoch. */
  captureTime: number;
  /** RFC 6464 level byte (see audioLevelByte); silence when not measured. */
  level?: number;
  data: Uint8Array;
}

/** What a publication needs from its connection: a way to write a frame and the size of the backlog. */
export interface FrameSink {
  /** Writes one frame message; false when the connection can no longer write. */
  writeFrame(message: FrameMessage): boolean;
  /** Bytes accepted but not yet handed to the kernel. */
  readonly writableLength: number;
  /** Backlog above which frames are dropped until the next keyframe. */
  readonly maxWriteBufferBytes: number;
  /** Largest message the peer accepts; a bigger frame would get the connection closed. */
  readonly maxMessageBytes: number;
  /** Asks the server to replace the tracks of stream `streamId` (protocol v3 `update`). */
  updateStream(streamId: number, tracks: StreamTracks): Promise<void>;
}

/** Counters of one publication, for status lines. */
export interface PublicationStats {
  framesSent: number;
  bytesSent: number;
  framesDropped: number;
  audioFramesSent: number;
  audioBytesSent: number;
  audioFramesDropped: number;
}

/** Events of a publication. */
export interface PublicationEvents {
  /** A viewer asked (through the server) for a keyframe. */
  'keyframe-request': [];
}

/** A stream this connection publishes: numbers frames and applies the send-side drop policy. */
export class Publication extends EventEmitter<PublicationEvents> {
  readonly stats: PublicationStats = {
    framesSent: 0,
    bytesSent: 0,
    framesDropped: 0,
    audioFramesSent: 0,
    audioBytesSent: 0,
    audioFramesDropped: 0,
  };
  private seq = 0;
  /** The audio track counts its own frames: a video drop is not an audio gap. */
  private audioSeq = 0;
  // A stream must start on a keyframe, and after any drop the deltas that follow cannot be decoded:
  // both cases wait here for the next keyframe.
  private waitingForKey = true;
  private ended = false;
  /** The tracks frames are sent for (the server judges each frame against the latest it was told). */
  private current: StreamTracks;

  constructor(
    private readonly sink: FrameSink,
    readonly streamId: number,
    readonly room: string,
    readonly name: string,
    tracks: StreamTracks,
    private readonly onEnd: (p: Publication) => void,
  ) {
    super();
    this.current = tracks;
  }

  /** The stream's tracks: as published, then as the latest update made them. */
  get tracks(): StreamTracks {
    return this.current;
  }

  /**
   * Replaces the stream's tracks without ending it (a codec switch, a new picture size): resolves once the
   * server has taken them, rejects with its error. From the call on, video frames wait for a keyframe:
   * viewers reconfigure their decoders and start again from one, so send a keyframe of the new tracks next.
   */
  async update(tracks: StreamTracks): Promise<void> {
    // Deltas of the old codec must not follow the update, nor deltas of the new one precede its keyframe.
    this.waitingForKey = true;
    // Frames sent from now on reach the server after the update, so they are of the new tracks.
    const before = this.current;
    this.current = tracks;
    try {
      await this.sink.updateStream(this.streamId, tracks);
    } catch (err) {
      if (this.current === tracks) this.current = before;
      throw err;
    }
  }

  /** True until `unpublish()` or the connection closes. */
  get active(): boolean {
    return !this.ended;
  }

  /**
   * Sends one frame, or drops it (returning false) when the socket backlog is over its bound, when the
   * frame is a delta after a drop, or when the connection is gone. Every frame takes a seq number, sent
   * or not, so viewers see drops as gaps.
   */
  sendFrame(frame: OutgoingFrame): boolean {
    const seq = this.seq;
    this.seq = (this.seq + 1) >>> 0;
    if (
      this.ended ||
      (this.waitingForKey && !frame.key) ||
      // Bounded memory: a slow uplink must not grow the socket buffer without limit; skipping to the
      // next keyframe is the only drop that leaves the stream decodable.
      this.sink.writableLength > this.sink.maxWriteBufferBytes ||
      FRAME_HEADER_BYTES + frame.data.length > this.sink.maxMessageBytes
    ) {
      this.drop();
      return false;
    }
    const written = this.sink.writeFrame({
      type: 'frame',
      streamId: this.streamId,
      key: frame.key,
      seq,
      timestamp: frame.timestamp,
      captureTime: frame.captureTime,
      payload: frame.data,
    });
    if (!written) {
      this.drop();
      return false;
    }
    this.waitingForKey = false;
    this.stats.framesSent++;
    this.stats.bytesSent += frame.data.length;
    return true;
  }

  /**
   * Sends one audio frame of the stream's audio track, or drops it (returning false) when the connection
   * is gone or its backlog is over the bound. Audio never waits for a keyframe: any frame can start
   * decoding, so a drop costs only the frames dropped.
   */
  sendAudio(frame: OutgoingAudioFrame): boolean {
    const seq = this.audioSeq;
    this.audioSeq = (this.audioSeq + 1) >>> 0;
    const ok =
      !this.ended &&
      this.tracks.audio !== undefined &&
      this.sink.writableLength <= this.sink.maxWriteBufferBytes &&
      AUDIO_FRAME_HEADER_BYTES + frame.data.length <= this.sink.maxMessageBytes &&
      this.sink.writeFrame({
        type: 'frame',
        streamId: this.streamId,
        key: true,
        track: 'audio',
        audioLevel: frame.level ?? AUDIO_LEVEL_SILENT,
        seq,
        timestamp: frame.timestamp,
        captureTime: frame.captureTime,
        payload: frame.data,
      });
    if (!ok) {
      this.stats.audioFramesDropped++;
      return false;
    }
    this.stats.audioFramesSent++;
    this.stats.audioBytesSent += frame.data.length;
    return true;
  }

  /** Ends the stream on the server (viewers get stream-removed) and keeps the connection. */
  unpublish(): void {
    if (this.ended) return;
    this.onEnd(this);
    this.markEnded();
  }

  /** @internal Called by the connection when it closes or the server removes the stream. */
  markEnded(): void {
    this.ended = true;
  }

  private drop(): void {
    this.stats.framesDropped++;
    this.waitingForKey = true;
  }
}
