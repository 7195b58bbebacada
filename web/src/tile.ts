// Tiles: one video on the grid, with its name and figures, that a click enlarges.
import type { LinkState } from '../../src/protocol/index.js';
import { el } from './dom.js';
import { displayName } from './names.js';
import { formatBitrate } from './stats.js';

/** The figures a tile shows under its picture. */
export interface TileFigures {
  width: number;
  height: number;
  fps: number;
  kbps: number;
  /** Glass-to-glass latency, ms; negative when unknown, absent when it does not apply (own camera). */
  latencyMs?: number;
  drops: number;
  /**
   * Frames decoded but not painted because a newer one was ready (the catch-up on joining, or a busy page);
   * absent for your own camera.
   */
  late?: number;
  /** Extra text at the end, e.g. the codec. */
  note?: string;
}

/** The sound figures a tile shows on a line of their own. */
export interface AudioFigures {
  kbps: number;
  /** Jitter-buffer depth, ms (mean over the last second); absent for your own microphone. */
  bufferMs?: number;
  /** How far the picture trails its sound, ms (negative: ahead); absent while unknown. */
  avOffsetMs?: number;
}

/** A speaker, with sound waves or crossed out (static markup, no user input). */
const SPEAKER_ON =
  '<svg viewBox="0 0 24 24" width="18" height="18" aria-hidden="true"><path d="M4 9v6h4l5 4V5L8 9H4z" fill="currentColor"/><path d="M16 8.5a5 5 0 0 1 0 7M18.5 6a8.5 8.5 0 0 1 0 12" stroke="currentColor" stroke-width="2" fill="none" stroke-linecap="round"/></svg>';
const SPEAKER_OFF =
  '<svg viewBox="0 0 24 24" width="18" height="18" aria-hidden="true"><path d="M4 9v6h4l5 4V5L8 9H4z" fill="currentColor"/><path d="M16 9l5 6M21 9l-5 6" stroke="currentColor" stroke-width="2" stroke-linecap="round"/></svg>';

/** One tile on the grid: a picture (canvas or video), a name, a line of figures and an optional notice. */
export class Tile {
  /** The tile's root element (what goes on the grid). */
  readonly element: HTMLElement;
  private readonly figures: HTMLElement;
  private readonly audioFigures: HTMLElement;
  private readonly notice: HTMLElement;
  private readonly badge: HTMLElement;
  private readonly linkNote: HTMLElement;
  private readonly meter: HTMLElement;
  private readonly meterFill: HTMLElement;
  private readonly avatar: HTMLElement;
  private readonly screenMark = el('span', { class: 'tile-screen-mark', hidden: '' }, 'Screen');
  private speakerButton: HTMLButtonElement | null = null;
  private speakerListener: ((on: boolean) => void) | null = null;
  /** Whether this tile's sound is on (its speaker button). */
  speakerOn = true;

  constructor(picture: HTMLCanvasElement | HTMLVideoElement, label: string, attrs: Record<string, string>) {
    this.figures = el('span', { class: 'tile-figures' }, 'waiting for video…');
    this.audioFigures = el('span', { class: 'tile-audio-figures', hidden: '' });
    this.notice = el('div', { class: 'tile-notice', hidden: '' });
    this.badge = el('span', { class: 'tile-badge', hidden: '' });
    this.linkNote = el('span', { class: 'tile-link-state', hidden: '' });
    this.meterFill = el('span', { class: 'tile-meter-fill' });
    this.meter = el('span', { class: 'tile-meter', hidden: '', 'aria-hidden': 'true' }, this.meterFill);
    this.avatar = el('div', { class: 'tile-avatar', 'aria-hidden': 'true' }, initials(label));
    this.element = el(
      'figure',
      { class: 'tile', tabindex: '0', title: 'Click to enlarge', ...attrs },
      picture,
      this.avatar,
      this.notice,
      el(
        'figcaption',
        { class: 'tile-caption' },
        this.linkNote,
        el(
          'span',
          { class: 'tile-name-row' },
          this.meter,
          el('span', { class: 'tile-name' }, label),
          this.screenMark,
        ),
        this.figures,
        this.audioFigures,
      ),
      this.badge,
    );
  }

  /**
   * Marks a shared screen (`data-screen`): the grid gives it a row of its own, wide (style.css), its
   * picture is scaled whole into the tile, never cropped, and its name says "screen".
   */
  setScreen(screen: boolean): void {
    if (screen === 'screen' in this.element.dataset) return;
    if (screen) this.element.dataset.screen = '';
    else delete this.element.dataset.screen;
    this.screenMark.hidden = !screen;
  }

  /**
   * Which tracks the stream has: a tile with sound only shows the person's initials (`data-audio-only`),
   * one with sound gets a level meter and a speaker button (`data-audio`).
   */
  setTracks(video: boolean, audio: boolean): void {
    const { dataset } = this.element;
    if (audio) dataset.audio = '';
    else delete dataset.audio;
    if (!video && audio) dataset.audioOnly = '';
    else delete dataset.audioOnly;
    this.meter.hidden = !audio;
    this.audioFigures.hidden = !audio;
    if (audio && !this.speakerButton) this.addSpeakerButton();
    if (this.speakerButton) this.speakerButton.hidden = !audio;
    if (!video && audio) this.figures.textContent = 'sound only';
  }

  /** Calls `fn` when the speaker button turns this tile's sound on or off. */
  onSpeaker(fn: (on: boolean) => void): void {
    this.speakerListener = fn;
  }

  /** The meter: `level` from 0 (silence) to 1 (full scale). */
  setLevel(level: number): void {
    this.meterFill.style.transform = `scaleX(${Math.max(0, Math.min(1, level)).toFixed(3)})`;
  }

  /** Highlights the tile of the person speaking now (`data-speaking`). */
  setSpeaking(speaking: boolean): void {
    if (speaking === 'speaking' in this.element.dataset) return;
    if (speaking) this.element.dataset.speaking = '';
    else delete this.element.dataset.speaking;
  }

  /** The line of sound figures (audio kbit/s, jitter buffer, A/V offset); null hides it. */
  showAudio(f: AudioFigures | null): void {
    if (!f) {
      this.audioFigures.hidden = true;
      return;
    }
    this.audioFigures.hidden = false;
    const parts = [`♪ ${formatBitrate(f.kbps)}`];
    if (f.bufferMs !== undefined) parts.push(`buffer ${Math.round(f.bufferMs)} ms`);
    if (f.avOffsetMs !== undefined) {
      const ms = Math.round(f.avOffsetMs);
      parts.push(`A/V ${ms > 0 ? '+' : ''}${ms} ms`);
    }
    this.audioFigures.textContent = parts.join(' · ');
  }

  private addSpeakerButton(): void {
    const button = el('button', {
      type: 'button',
      class: 'tile-speaker',
      'aria-pressed': 'true',
      'aria-label': 'Sound on (click to mute this person)',
      title: 'Sound on: click to mute this person for you',
    });
    button.innerHTML = SPEAKER_ON;
    button.addEventListener('click', (e) => {
      // The tile's own click enlarges it; this one only toggles its sound.
      e.stopPropagation();
      this.speakerOn = !this.speakerOn;
      button.innerHTML = this.speakerOn ? SPEAKER_ON : SPEAKER_OFF;
      button.setAttribute('aria-pressed', String(this.speakerOn));
      const what = this.speakerOn
        ? 'Sound on: click to mute this person for you'
        : 'Sound off: click to hear this person';
      button.title = what;
      button.setAttribute('aria-label', what);
      this.element.classList.toggle('speaker-off', !this.speakerOn);
      this.speakerListener?.(this.speakerOn);
    });
    button.addEventListener('keydown', (e) => e.stopPropagation());
    this.speakerButton = button;
    this.element.append(button);
  }

  /** Shows the level meter (the local tile's, which has no speaker button). */
  showMeter(): void {
    this.meter.hidden = false;
  }

  /** Updates the line of figures. */
  show(f: TileFigures): void {
    if (f.width === 0) {
      const what = 'audioOnly' in this.element.dataset ? 'sound only' : 'waiting for video…';
      this.figures.textContent = f.note ? `${what} · ${f.note}` : what;
      return;
    }
    const parts = [
      `${f.width}×${f.height}`,
      `${f.fps.toFixed(0)} fps`,
      formatBitrate(f.kbps),
      `${f.drops} drop${f.drops === 1 ? '' : 's'}`,
    ];
    if (f.late !== undefined) parts.push(`${f.late} late`);
    if (f.latencyMs !== undefined)
      parts.splice(3, 0, f.latencyMs >= 0 ? `${Math.round(f.latencyMs)} ms` : '– ms');
    if (f.note) parts.push(f.note);
    this.figures.textContent = parts.join(' · ');
  }

  /** Replaces the line of figures with `text`, for a tile whose picture has no figures of its own. */
  setCaption(text: string): void {
    this.figures.textContent = text;
  }

  /** The picture has just appeared: the caption stops saying it is waiting before the next figures come. */
  showPicture(width: number, height: number): void {
    this.figures.textContent = `${width}×${height}`;
  }

  /** Shows a notice over the picture (null hides it). */
  setNotice(text: string | null): void {
    this.notice.hidden = text === null;
    this.notice.textContent = text ?? '';
  }

  /** A small label in the top corner (latency, or live for your own camera), tinted by `tone`; '' hides it. */
  setBadge(text: string, tone: '' | 'good' | 'fair' | 'poor' | 'live' = ''): void {
    this.badge.hidden = text === '';
    this.badge.textContent = text;
    this.badge.dataset.tone = tone;
  }

  /**
   * Puts a small link in the top corner to the stream as plain video (`/live/...`), for opening it in a
   * new tab or copying it into VLC or ffplay. Its click does not enlarge the tile.
   */
  setPlayerLink(href: string): void {
    const link = el(
      'a',
      { class: 'tile-link', href, target: '_blank', rel: 'noopener' },
      'plain video, a few seconds behind',
    );
    // Said on the tile: a browser's <video> buffers, so this is seconds behind the tile itself.
    link.title =
      'This stream as plain video, a few seconds behind live (players buffer): open it in a tab, or copy the link into VLC or ffplay';
    link.addEventListener('click', (e) => e.stopPropagation());
    this.element.append(link);
  }

  /**
   * Says how the server delivers this tile's stream (`data-link`, for tests), and whether the page itself is
   * skipping a backlog (`catchingUp`, `data-catching-up`): nothing while live, else why the picture is not
   * smooth, so that a frozen or jerky tile is not taken for a broken camera.
   */
  setLinkState(state: LinkState, catchingUp = false): void {
    const { dataset } = this.element;
    if (dataset.link === state && 'catchingUp' in dataset === catchingUp) return;
    dataset.link = state;
    if (catchingUp) dataset.catchingUp = '';
    else delete dataset.catchingUp;
    const text = state === 'live' && catchingUp ? LINK_STATE_TEXT.draining : LINK_STATE_TEXT[state];
    this.linkNote.hidden = text === '';
    this.linkNote.textContent = text;
    this.linkNote.dataset.state = state;
  }

  /** Dims the tile while its stream is not live (e.g. during a reconnect). */
  setStale(stale: boolean): void {
    this.element.classList.toggle('stale', stale);
  }
}

/** What a tile says for each delivery state of its connection; '' shows nothing. */
const LINK_STATE_TEXT: Record<LinkState, string> = {
  live: '',
  draining: 'catching up… (skipping to the live picture)',
  'keyframes-only': 'link too slow: keyframes only',
};

/**
 * A tile for someone else's stream: the test hooks `data-stream-name`, `data-room` and `data-link` (how the
 * server delivers it: `live`, `draining` or `keyframes-only`), and one canvas.
 */
export function remoteTile(room: string, streamName: string): { tile: Tile; canvas: HTMLCanvasElement } {
  const canvas = el('canvas', { width: '640', height: '480' });
  const tile = new Tile(canvas, displayName(streamName), {
    'data-stream-name': streamName,
    'data-room': room,
  });
  tile.setLinkState('live');
  return { tile, canvas };
}

/**
 * The address of a stream as plain video: WebM for VP8/VP9/AV1 (no added latency), fragmented MP4 for
 * H.264 (what a `<video>` plays for it). The page's own `?token=` goes along, since the server checks it.
 */
export function liveVideoUrl(room: string, streamName: string, codec: string): string {
  const ext = codec.startsWith('avc') ? 'mp4' : 'webm';
  const url = new URL(
    `/live/${encodeURIComponent(room)}/${encodeURIComponent(streamName)}.${ext}`,
    location.href,
  );
  const token = new URLSearchParams(location.search).get('token');
  if (token) url.searchParams.set('token', token);
  return url.href;
}

/**
 * A tile for our own camera and microphone, or our shared screen (`screen`: not mirrored, marked as a
 * screen), from their MediaStream (not the encoded stream).
 */
export function localTile(stream: MediaStream, label: string, screen = false): Tile {
  const video = el('video', { class: screen ? '' : 'mirror', muted: '', autoplay: '', playsinline: '' });
  // Muted: hearing yourself back is the echo that echo cancellation is there to prevent.
  video.muted = true;
  video.srcObject = stream;
  const tile = new Tile(video, `${label} (you)`, screen ? { 'data-local-screen': '' } : { 'data-local': '' });
  tile.element.classList.add('tile-local');
  tile.setScreen(screen);
  const hasVideo = stream.getVideoTracks().length > 0;
  const hasAudio = stream.getAudioTracks().length > 0;
  if (hasAudio) {
    // The local tile's sound is never played, so it has a meter but no speaker button.
    tile.element.dataset.audio = '';
    tile.setTracks(hasVideo, false);
    tile.showMeter();
  }
  if (!hasVideo && hasAudio) tile.element.dataset.audioOnly = '';
  return tile;
}

/** Up to two initials of a display name, for a tile with sound only. */
function initials(label: string): string {
  const words = label
    .replace(/\(you\)$/, '')
    .trim()
    .split(/\s+/)
    .filter(Boolean);
  return words
    .slice(0, 2)
    .map((w) => w[0]?.toUpperCase() ?? '')
    .join('');
}

/** Click a tile to enlarge it; click it again, or press Escape, to put it back. */
export function enableEnlarge(grid: HTMLElement): void {
  const restore = () => {
    for (const t of grid.querySelectorAll('.tile.enlarged')) t.classList.remove('enlarged');
    document.body.classList.remove('has-enlarged');
  };
  const toggle = (tile: Element) => {
    const wasEnlarged = tile.classList.contains('enlarged');
    restore();
    if (!wasEnlarged) {
      tile.classList.add('enlarged');
      document.body.classList.add('has-enlarged');
    }
  };
  grid.addEventListener('click', (e) => {
    const tile = (e.target as Element).closest('.tile');
    if (tile) toggle(tile);
  });
  grid.addEventListener('keydown', (e) => {
    const tile = (e.target as Element).closest('.tile');
    if (tile && (e.key === 'Enter' || e.key === ' ')) {
      e.preventDefault();
      toggle(tile);
    }
  });
  document.addEventListener('keydown', (e) => {
    if (e.key === 'Escape') restore();
  });
}
