// A remote stream's tile on a page that cannot decode video itself (not secure, or no WebCodecs): the server's
// live HTTP stream (/live/<room>/<stream>.webm or .mp4) in a plain muted <video>, a few seconds behind,
// instead of frames decoded onto a canvas.
import { codecLabel } from './codecs.js';
import { el } from './dom.js';
import { displayName } from './names.js';
import { liveVideoUrl, Tile } from './tile.js';

/** What the server's API says about a stream (GET /api/rooms/:room). */
export interface PlainStreamInfo {
  /** The server's id of the stream: a new id under the same name is a new stream (the publisher came back). */
  id: number;
  name: string;
  codec: string;
  width: number;
  height: number;
}

/**
 * A <video> buffers, and after a stall it stays that much further behind for good. Past this lead of buffered
 * video over the playhead (seconds) it plays a little faster, until the lead is back under {@link CAUGHT_UP_S}.
 */
const CATCH_UP_ABOVE_S = 3;
const CAUGHT_UP_S = 1;
/** Fast enough to win back a second in ten, slow enough that nobody sees the picture hurry. */
const CATCH_UP_RATE = 1.1;

/** One remote stream played as plain video: a tile with the test hooks of a remote tile, holding a `<video>`. */
export class PlainVideoTile {
  /** The tile (on the grid). */
  readonly tile: Tile;
  private readonly video: HTMLVideoElement;
  /** True while the video has a source (it holds one of the browser's few connections to the server). */
  private loaded = false;
  /** The video ended or failed: the next refresh loads it again if the stream is still there. */
  private broken = false;

  constructor(
    private readonly room: string,
    private info: PlainStreamInfo,
    /** Why this page plays plain video, said on the tile, e.g. "this page is not secure". */
    private readonly why: string,
  ) {
    this.video = el('video', { muted: '', autoplay: '', playsinline: '', 'data-plain-video': '' });
    // The attribute alone does not mute a video made by script; autoplay needs it muted.
    this.video.muted = true;
    this.tile = new Tile(this.video, displayName(info.name), {
      'data-stream-name': info.name,
      'data-room': room,
      'data-plain': '',
    });
    this.tile.element.title = `Plain video, a few seconds behind live: ${why}. Click to enlarge.`;
    this.video.addEventListener('playing', () => this.tile.setNotice(null));
    this.video.addEventListener('timeupdate', () => this.keepUp());
    // The server ends the response when the stream ends or this player fell too far behind; either way the
    // next refresh decides whether to load it again.
    for (const event of ['ended', 'error'])
      this.video.addEventListener(event, () => {
        if (!this.loaded) return;
        this.broken = true;
        this.tile.setNotice('The plain video stopped; trying again…');
      });
    this.showCaption();
  }

  /** True while the video has a source. */
  get playing(): boolean {
    return this.loaded;
  }

  /** Starts (or restarts) playing the stream's live video. */
  play(): void {
    this.loaded = true;
    this.broken = false;
    this.video.playbackRate = 1;
    this.video.src = liveVideoUrl(this.room, this.info.name, this.info.codec);
    // Muted autoplay is allowed; a rejection (a newer load interrupting this one) needs nothing done.
    this.video.play().catch(() => {});
  }

  /** Leaves the tile without video, saying why (`reason`). */
  hold(reason: string): void {
    if (this.loaded) this.unload();
    this.tile.setNotice(reason);
  }

  /** The stream as the API lists it now: a stream that came back under a new id, or stopped, plays again. */
  refresh(info: PlainStreamInfo): void {
    const renewed = info.id !== this.info.id;
    this.info = info;
    this.showCaption();
    if (this.loaded && (renewed || this.broken)) this.play();
  }

  /** Stops the video and lets go of its connection. */
  close(): void {
    this.unload();
  }

  private unload(): void {
    this.loaded = false;
    this.video.pause();
    // Without a source and a load(), the browser would keep the response (and its connection) open.
    this.video.removeAttribute('src');
    this.video.load();
  }

  private keepUp(): void {
    const { buffered, currentTime } = this.video;
    if (buffered.length === 0) return;
    const lead = buffered.end(buffered.length - 1) - currentTime;
    if (lead > CATCH_UP_ABOVE_S) this.video.playbackRate = CATCH_UP_RATE;
    else if (lead < CAUGHT_UP_S) this.video.playbackRate = 1;
  }

  private showCaption(): void {
    const { width, height, codec } = this.info;
    const size = width > 0 ? ` · ${width}×${height}` : '';
    this.tile.setCaption(`Plain video, a few seconds behind: ${this.why}${size} · ${codecLabel(codec)}`);
  }
}
