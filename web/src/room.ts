// A room page: the connection, your camera and microphone (unless watching), and a tile for everyone else.
import { codecFamily, type Message } from '../../src/protocol/index.js';
import { ActiveSpeaker, type SpeakerCandidate } from './active-speaker.js';
import { openAudioCapture } from './audio-capture.js';
import { AudioOutput } from './audio-output.js';
import { VOICE_PEAK } from './audio-sender.js';
import { cameraErrorMessage, cameraMissingMessage, micErrorMessage, openMedia } from './camera.js';
import { CANNOT_SEND_HERE, canDecodeVideo, canSendVideo, isSecurePage } from './capabilities.js';
import { codecLabel } from './codecs.js';
import { Connection, type ConnectionState, defaultSocketUrl } from './connection.js';
import { CameraControls } from './controls.js';
import { exposeStats, roomSnapshot } from './debug.js';
import { decodableFamilies, decodersHook } from './decoders.js';
import { el } from './dom.js';
import { insecureNotice, NOT_SECURE_CAMERA } from './insecure-notice.js';
import { streamNameFor } from './names.js';
import { PlainVideoSet } from './plain-video-set.js';
import { Publisher } from './publisher.js';
import { RemoteSet } from './remote-set.js';
import { openScreen, type ScreenContent, screenErrorMessage, screenProfile } from './screen.js';
import { enableEnlarge, localTile, type Tile } from './tile.js';
import { grantRefusal, readGrant, refusalMessage, refusalReason } from './token.js';
import { TopBar } from './topbar.js';
import { openVideoCapture } from './video-capture.js';

/** How often tiles refresh their figures and receiver reports go to the server. */
const REPORT_INTERVAL_MS = 1000;
/** How often the level meters and the active speaker are refreshed. */
const METER_INTERVAL_MS = 100;
/** A meter falls by this share each refresh: peaks stay readable, silence empties it in about a second. */
const METER_DECAY = 0.75;
/** The key of your own tile among the active-speaker candidates (stream names never contain a space). */
const LOCAL_KEY = ' local';

/** Options of a room page. */
export interface RoomOptions {
  /** Watch-only wall: no camera UI, and the hello says `viewer`. */
  watch: boolean;
  /** The person's name, if known (from the home page or `?name=`). */
  name: string;
}

/** The room page and everything running on it. */
export class RoomPage {
  private readonly conn: Connection;
  private readonly remotes: RemoteSet;
  /** Instead of {@link remotes} on a page that cannot decode video: the room's streams as plain video. */
  private readonly plain: PlainVideoSet | null;
  private readonly grid = el('section', { class: 'grid', id: 'grid', 'aria-live': 'polite' });
  private readonly empty = el('div', { class: 'empty' });
  private readonly message = el('p', { class: 'message', role: 'alert', hidden: '' });
  /** The page's sound; its AudioContext is made when the first stream with sound appears. */
  private readonly audio = new AudioOutput();
  /** Shown while the browser keeps sound off until a click (the autoplay policy). */
  private readonly hearButton = el(
    'button',
    { id: 'click-to-hear', type: 'button', class: 'hear-button primary', hidden: '' },
    'Click to hear',
  );
  private readonly speaker = new ActiveSpeaker();
  private readonly meters = new Map<string, number>();
  private localVoiceAt = Number.NEGATIVE_INFINITY;
  private readonly topbar: TopBar;
  private readonly controls: CameraControls | null;
  private publisher: Publisher | null = null;
  private local: Tile | null = null;
  private starting = false;
  /** The shared screen: a second stream of ours, beside the camera's. */
  private screen: Publisher | null = null;
  private screenTile: Tile | null = null;
  private screenStarting = false;
  /** The request id of the room's current subscribe, to tell its refusal from the camera's. */
  private subscribeRequest = 0;
  private connState: ConnectionState = 'connecting';
  /** The codec families this page decodes (told to the server); null until WebCodecs has answered. */
  private decoders: Set<string> | null = null;

  constructor(
    root: HTMLElement,
    private readonly room: string,
    options: RoomOptions,
  ) {
    document.title = `${room} · Framewire`;
    const token = new URLSearchParams(location.search).get('token') ?? '';
    this.topbar = new TopBar(room, options.watch, token);
    this.conn = new Connection(defaultSocketUrl(), options.watch ? 'viewer' : 'peer', token, {
      onState: (state, detail) => this.onState(state, detail),
      onSession: () => this.onSession(),
      onMessage: (m) => this.onMessage(m),
      onLinkState: (state) => this.remotes.setLinkState(state),
    });
    this.remotes = new RemoteSet({
      clock: this.conn.clock,
      audioOutput: this.audio,
      requestKeyframe: (streamId) => this.conn.send({ type: 'keyframe-request', streamId }),
      decodes: (codec) => this.decoders?.has(codecFamily(codec)) ?? true,
      addTile: (tile) => this.grid.append(tile.element),
      changed: () => this.updateEmpty(),
    });
    const secure = isSecurePage();
    this.plain = canDecodeVideo()
      ? null
      : new PlainVideoSet(room, {
          addTile: (tile) => this.grid.append(tile.element),
          changed: () => this.updateEmpty(),
        });
    this.controls = options.watch
      ? null
      : new CameraControls(
          options.name,
          () => void this.toggleCamera(),
          () => void this.restartCamera(),
          (muted) => this.publisher?.setMuted(muted),
          () => void this.toggleScreen(),
        );
    // Say before the click that this page or link cannot send, rather than after it (the server still
    // decides). A page that is not secure comes first: no link and no browser can send from it.
    const grant = token ? readGrant(token) : null;
    const cannotSend = grant ? grantRefusal(grant, 'publish', room) : null;
    if (this.controls && !secure) this.controls.setUnavailable(NOT_SECURE_CAMERA, 'insecure');
    else if (this.controls && cannotSend)
      this.controls.setUnavailable(refusalMessage('publish', room, cannotSend));
    else if (this.controls && !canSendVideo()) this.controls.setUnavailable(CANNOT_SEND_HERE, 'browser');
    root.replaceChildren(
      this.topbar.element,
      el(
        'main',
        { class: 'room' },
        secure ? null : insecureNotice(new URL(location.href)),
        this.controls?.element,
        this.message,
        this.hearButton,
        this.grid,
        this.empty,
      ),
    );
    document.body.classList.toggle('watch', options.watch);
    enableEnlarge(this.grid);
    this.updateEmpty();
    // What sits above the grid changes height (the camera bar wraps, messages come and go): measured, so
    // that the grid fits the rest of the window (style.css, --chrome).
    const fit = () => this.fitGrid();
    new ResizeObserver(fit).observe(this.grid.parentElement ?? document.body);
    window.addEventListener('resize', fit);
    exposeStats(() =>
      roomSnapshot({
        name: room,
        role: options.watch ? 'viewer' : 'peer',
        state: this.connState,
        conn: this.conn,
        remotes: this.remotes,
        publisher: this.publisher,
        screen: this.screen,
        audio: this.audio,
      }),
    );
    // Hidden tabs keep their socket; on return, fresh keyframes repaint every tile at once.
    document.addEventListener('visibilitychange', () => {
      if (document.visibilityState === 'visible') this.remotes.requestKeyframes();
    });
    window.setInterval(() => this.tick(), REPORT_INTERVAL_MS);
    window.setInterval(() => this.updateMeters(), METER_INTERVAL_MS);
    // Autoplay: a browser may keep sound off until the person interacts; any click or key lets it start.
    this.audio.onState((state) => {
      this.hearButton.hidden = state !== 'blocked';
      // Said in the console too: a test can see it there without touching the page (which counts as a gesture).
      if (state === 'blocked') console.info('framewire: sound is off until a click (autoplay policy)');
    });
    for (const type of ['pointerdown', 'keydown'] as const)
      document.addEventListener(type, () => this.audio.unlock(), { capture: true });
    this.hearButton.addEventListener('click', () => this.audio.unlock());
    // The server hears what this page decodes before anything else, so publishers never start on a codec
    // it cannot show (isConfigSupported answers in a few ms).
    void decodableFamilies(decodersHook(location.search)).then((families) => {
      this.decoders = families;
      this.conn.start();
    });
    this.plain?.start();
  }

  private onState(state: ConnectionState, detail: string): void {
    if (state !== 'online') this.remotes.markAllStale();
    this.connState = state;
    this.topbar.setStatus(state, detail);
  }

  private onSession(): void {
    // Plain-video tiles come from the HTTP API: a subscribe would only bring frames this page cannot decode.
    if (this.plain) {
      this.publisher?.onSession();
      this.screen?.onSession();
      return;
    }
    if (this.decoders) this.conn.send({ type: 'decoders', codecs: [...this.decoders] });
    this.subscribeRequest = this.conn.requestId();
    this.conn.send({ type: 'subscribe', requestId: this.subscribeRequest, room: this.room, name: '' });
    this.publisher?.onSession();
    this.screen?.onSession();
    // The server lists the room's streams right after the subscribe; once a ping sent behind it comes back,
    // any tile it did not list belongs to a stream that is gone.
    void this.conn.barrier().then((answered) => {
      if (answered) this.remotes.removeStale();
    });
  }

  private onMessage(m: Message): void {
    switch (m.type) {
      case 'frame':
        this.remotes.frame(m);
        return;
      case 'stream-added':
        if (m.room === this.room) this.remotes.add(m);
        return;
      case 'stream-removed':
        this.remotes.remove(m.streamId);
        return;
      case 'published':
        // A camera or screen stopped while its publish was on the way: end the stream the server just made.
        if (!this.ownMessage(m)) this.conn.send({ type: 'unpublish', streamId: m.streamId });
        return;
      case 'keyframe-request':
        this.ownMessage(m);
        return;
      case 'room-codecs':
        // Both of our streams follow the room's decoders.
        this.publisher?.handleMessage(m);
        this.screen?.handleMessage(m);
        return;
      case 'error':
        if (this.ownMessage(m)) return;
        if (m.code === 'FW_SHUTDOWN') this.topbar.setStatus('offline', 'server restarting…');
        else if (m.code === 'FW_UNAUTHORIZED' && m.requestId !== 0) {
          // One request refused (the token was good at hello): the connection and the rest go on.
          const action = m.requestId === this.subscribeRequest ? 'view' : 'publish';
          this.showMessage(refusalMessage(action, this.room, refusalReason(m.message)));
        } else if (m.code === 'FW_UNAUTHORIZED') {
          // Retrying with the same token cannot help: stop, and say what would.
          this.conn.stop();
          this.topbar.setStatus('offline', 'not allowed');
          this.showMessage(
            `This room needs a valid access token (${m.message}). Ask for a link with ?token=… from whoever runs the server.`,
          );
        } else this.showMessage(`The server said ${m.code}: ${m.message}`);
        return;
      default:
        return;
    }
  }

  /** Gives a message to whichever of our publishers it is for; false if neither. */
  private ownMessage(m: Message): boolean {
    return (this.publisher?.handleMessage(m) ?? false) || (this.screen?.handleMessage(m) ?? false);
  }

  /** Once a second: receiver reports to the server, figures on the tiles. */
  private tick(): void {
    for (const { stream, tile, stale } of this.remotes.entries) {
      const report = stream.roll();
      if (stale) continue;
      this.conn.send(report);
      tile.show({
        width: stream.width,
        height: stream.height,
        fps: stream.painted.perSecond,
        kbps: stream.received.kbps,
        latencyMs: stream.latency.p50,
        // Late frames (decoded, skipped for a newer one) are the catch-up working, not a loss: shown apart.
        drops: stream.counters.framesDropped,
        late: stream.counters.framesLate,
        note: stream.info.video
          ? codecLabel(stream.info.video.codec)
          : codecLabel(stream.info.audio?.codec ?? ''),
      });
      const ms = stream.latency.p50;
      tile.setBadge(
        ms >= 0 ? `${Math.round(ms)} ms` : '',
        ms < 0 ? '' : ms < 150 ? 'good' : ms < 400 ? 'fair' : 'poor',
      );
      const audio = stream.audio;
      if (audio) {
        const av = stream.avOffset.p50;
        tile.showAudio({
          kbps: audio.received.kbps,
          bufferMs: audio.depthMeanMs,
          ...(stream.avOffset.count > 0 ? { avOffsetMs: av } : {}),
        });
      }
      tile.setNotice(stream.problem ?? audio?.problem ?? null);
    }
    this.remotes.showCatchingUp();
    if (this.publisher && this.local) showLocal(this.publisher, this.local);
    if (this.screen && this.screenTile) showLocal(this.screen, this.screenTile);
  }

  /** Ten times a second: the level meters, and the highlight on whoever speaks. */
  private updateMeters(): void {
    const candidates: SpeakerCandidate[] = [];
    const tiles = new Map<string, Tile>();
    for (const { stream, tile, stale } of this.remotes.entries) {
      const audio = stream.audio;
      if (!audio || stale) continue;
      const key = stream.info.name;
      tiles.set(key, tile);
      tile.setLevel(this.meter(key, audio.level));
      // The level byte is the latest frame's: decay it here so a stream that stopped sending empties.
      audio.level *= METER_DECAY;
      candidates.push({ key, level: audio.level, lastVoiceAt: audio.lastVoiceAt });
    }
    const sender = this.publisher?.audio;
    if (sender && this.local) {
      const peak = sender.muted ? 0 : sender.peakSinceRead;
      sender.peakSinceRead = 0;
      const level = peak > 0 ? Math.max(0, 1 + (20 * Math.log10(peak)) / 60) : 0;
      this.local.setLevel(this.meter(LOCAL_KEY, level));
      tiles.set(LOCAL_KEY, this.local);
      if (peak >= VOICE_PEAK) this.localVoiceAt = performance.now();
      candidates.push({ key: LOCAL_KEY, level, lastVoiceAt: this.localVoiceAt });
    }
    for (const key of this.meters.keys()) if (!tiles.has(key)) this.meters.delete(key);
    const active = this.speaker.update(candidates);
    for (const [key, tile] of tiles) tile.setSpeaking(key === active);
  }

  /** A meter's value: jumps up to `level`, falls back slowly. */
  private meter(key: string, level: number): number {
    const shown = Math.max(level, (this.meters.get(key) ?? 0) * METER_DECAY);
    this.meters.set(key, shown);
    return shown;
  }

  private async toggleCamera(): Promise<void> {
    if (this.publisher) this.stopCamera();
    else await this.startCamera();
  }

  private async restartCamera(): Promise<void> {
    if (!this.publisher) return;
    this.stopCamera();
    await this.startCamera();
  }

  private async startCamera(): Promise<void> {
    const controls = this.controls;
    if (!controls || this.starting || this.publisher || controls.unavailable !== null) return;
    this.starting = true;
    controls.button.disabled = true;
    this.showMessage(null);
    try {
      const choice = controls.choice;
      let opened: Awaited<ReturnType<typeof openMedia>>;
      try {
        opened = await openMedia(choice.deviceId, choice.micId, choice.size);
      } catch (err) {
        this.showMessage(cameraErrorMessage(err));
        return;
      }
      const media = opened.stream;
      const track = media.getVideoTracks()[0] ?? null;
      const micTrack = media.getAudioTracks()[0] ?? null;
      // The camera's frames: MediaStreamTrackProcessor, else in a worker, else a hidden <video>
      // (`?video-capture=worker|element` forces one, so that each is tested in Chromium too).
      const forceVideo = new URLSearchParams(location.search).get('video-capture');
      const videoCapture =
        track && canSendVideo()
          ? await openVideoCapture(
              track,
              forceVideo === 'worker' || forceVideo === 'element' ? forceVideo : null,
            )
          : null;
      if (track && !videoCapture) {
        for (const t of media.getTracks()) t.stop();
        this.showMessage(CANNOT_SEND_HERE);
        return;
      }
      // The microphone's samples: MediaStreamTrackProcessor, else an AudioWorklet (`?audio-capture=worklet`
      // forces the latter, so that it is tested in Chromium too).
      const forceWorklet = new URLSearchParams(location.search).get('audio-capture') === 'worklet';
      const capture = micTrack ? await openAudioCapture(micTrack, this.audio, forceWorklet) : null;
      if (micTrack && !capture) micTrack.stop();
      if (!track && !capture) {
        this.showMessage(cameraErrorMessage(opened.cameraError));
        return;
      }
      const name = choice.name || 'guest';
      const mic = micTrack && capture ? { track: micTrack, capture } : null;
      // Which device is missing stays said while the stream runs (the publisher clears its own problems).
      const missing = !track
        ? cameraMissingMessage(opened.cameraError)
        : !mic
          ? micErrorMessage(opened.micError ?? new Error('no audio capture in this browser'))
          : null;
      const camera = track && videoCapture ? { track, capture: videoCapture } : null;
      const publisher = new Publisher(this.conn, camera, mic, this.room, streamNameFor(name), choice.codec, {
        onProblem: (text) => this.showMessage(text ?? missing),
        onUnauthorized: (serverMessage) => this.cannotSend(serverMessage),
      });
      this.publisher = publisher;
      publisher.setMuted(controls.muted);
      this.showMessage(missing);
      this.local = localTile(media, name);
      this.grid.prepend(this.local.element);
      this.updateEmpty();
      controls.setRunning(true);
      void controls.refreshDevices();
      void publisher.run().then(() => {
        // A track ended by itself (camera or microphone unplugged, or the encoder gave up).
        if (this.publisher === publisher) this.stopCamera();
      });
    } finally {
      this.starting = false;
      controls.button.disabled = controls.unavailable !== null;
    }
  }

  private async toggleScreen(): Promise<void> {
    if (this.screen) this.stopScreen();
    else await this.startScreen(this.controls?.screenChoice ?? 'detail');
  }

  /**
   * Shares a screen, a window or a tab as a second stream of ours (`<name>-screen-…`, marked as a screen),
   * with its sound where the browser gives it. The browser's own "Stop sharing" ends the track, and so the
   * stream.
   */
  private async startScreen(content: ScreenContent): Promise<void> {
    const controls = this.controls;
    if (!controls || this.screenStarting || this.screen || controls.unavailable !== null) return;
    this.screenStarting = true;
    controls.screenButton.disabled = true;
    try {
      let media: MediaStream;
      try {
        media = await openScreen(content);
      } catch (err) {
        this.showMessage(screenErrorMessage(err));
        return;
      }
      const track = media.getVideoTracks()[0];
      const capture = track ? await openVideoCapture(track, null) : null;
      if (!track || !capture) {
        for (const t of media.getTracks()) t.stop();
        this.showMessage(CANNOT_SEND_HERE);
        return;
      }
      const soundTrack = media.getAudioTracks()[0] ?? null;
      const sound = soundTrack ? await openAudioCapture(soundTrack, this.audio, false) : null;
      if (soundTrack && !sound) soundTrack.stop();
      const name = controls.choice.name || 'guest';
      const screen = new Publisher(
        this.conn,
        { track, capture },
        soundTrack && sound ? { track: soundTrack, capture: sound } : null,
        this.room,
        streamNameFor(`${name} screen`),
        controls.choice.codec,
        {
          onProblem: (text) => this.showMessage(text),
          onUnauthorized: (serverMessage) => this.cannotSend(serverMessage),
        },
        screenProfile(content, track),
      );
      this.screen = screen;
      this.screenTile = localTile(media, `${name}'s screen`, true);
      this.grid.prepend(this.screenTile.element);
      this.updateEmpty();
      controls.setScreenRunning(true);
      void screen.run().then(() => {
        // The share ended by itself: the browser's own "Stop sharing", or the window closed.
        if (this.screen === screen) this.stopScreen();
      });
    } finally {
      this.screenStarting = false;
      controls.screenButton.disabled = controls.unavailable !== null;
    }
  }

  private stopScreen(): void {
    this.screen?.stop();
    this.screen = null;
    this.screenTile?.element.remove();
    this.screenTile = null;
    this.controls?.setScreenRunning(false);
    this.updateEmpty();
  }

  /** The server refused our publish for the token: stop the camera, keep watching, say what link to ask for. */
  private cannotSend(serverMessage: string): void {
    const text = refusalMessage('publish', this.room, refusalReason(serverMessage));
    this.stopCamera();
    this.stopScreen();
    this.controls?.setUnavailable(text);
    this.showMessage(text);
  }

  private stopCamera(): void {
    this.publisher?.stop();
    this.publisher = null;
    this.local?.element.remove();
    this.local = null;
    this.controls?.setRunning(false);
    this.updateEmpty();
  }

  private showMessage(text: string | null): void {
    this.message.hidden = text === null;
    this.message.textContent = text ?? '';
  }

  /** Sets the grid's --chrome: the height above it (from the page's top) plus the room's bottom padding. */
  private fitGrid(): void {
    const main = this.grid.parentElement;
    if (!main) return;
    const above = this.grid.getBoundingClientRect().top + window.scrollY;
    const below = Number.parseFloat(getComputedStyle(main).paddingBottom) || 0;
    const chrome = `${Math.ceil(above + below)}px`;
    if (this.grid.style.getPropertyValue('--chrome') !== chrome)
      this.grid.style.setProperty('--chrome', chrome);
  }

  private updateEmpty(): void {
    // A gallery: as many columns as rows (1, 2×2, 3×3, …), so tiles stay as large as the window allows;
    // each shared screen takes a wide row of its own above them (style.css).
    const screens = this.grid.querySelectorAll(':scope > [data-screen]').length;
    const count = this.grid.children.length - screens;
    const cols = Math.max(1, Math.min(4, Math.ceil(Math.sqrt(count))));
    const rows = Math.ceil(count / cols);
    this.grid.style.setProperty('--cols', String(cols));
    this.grid.style.setProperty('--rows', String(screens > 0 ? rows : Math.max(1, rows)));
    this.grid.style.setProperty('--screens', String(screens));
    const nobody = this.remotes.size === 0 && (this.plain?.size ?? 0) === 0;
    this.empty.hidden = !nobody;
    this.empty.replaceChildren(
      el('p', { class: 'empty-title' }, 'Nobody else is on camera yet.'),
      el(
        'p',
        { class: 'muted' },
        'Send the room link to someone; their video appears here as soon as they start their camera.',
      ),
    );
  }
}

/** A local stream's figures on its tile: what it sends, and whether it is live. */
function showLocal(p: Publisher, tile: Tile): void {
  p.sent.roll();
  const d = p.setup?.decoder;
  const c = p.counters;
  tile.show({
    width: d?.codedWidth ?? 0,
    height: d?.codedHeight ?? 0,
    fps: p.sent.perSecond,
    kbps: p.sent.kbps,
    drops: c.droppedEncoderBusy + c.droppedCongested,
    note: p.setup ? codecLabel(p.setup.decoder.codec) : '',
  });
  if (p.audio) {
    p.audio.sent.roll();
    tile.showAudio(p.audio.config ? { kbps: p.audio.sent.kbps } : null);
  }
  tile.setBadge(p.streamId === null ? 'not live' : 'live', p.streamId === null ? 'poor' : 'live');
}
