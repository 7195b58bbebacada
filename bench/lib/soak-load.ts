import type { Clip } from './clip.js';
import { CLIP_FPS } from './clip.js';
import { SequenceWatch, type ViewerGroup } from './latency-groups.js';
import { SoakLink } from './soak-link.js';

const CONNECT_TIMEOUT_MS = 10_000;
/** Error messages kept for the report: enough to say what went wrong, bounded however long the run. */
const ERRORS_KEPT = 20;

const rand = (lo: number, hi: number) => lo + Math.random() * (hi - lo);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A steady viewer's frames of the steady stream since the last tick. */
interface FpsCounter {
  frames: number;
  since: number;
  /** It has the steady stream now; armed: it had it at the last tick too, so this interval counts. */
  found: boolean;
  armed: boolean;
}

/** Where the load connects, what it sends, and until when. */
export interface SoakLoadOptions {
  host: string;
  port: number;
  room: string;
  /** The stream that stays the whole run (the shaped viewer watches it; fps is measured on it). */
  steadyName: string;
  clip: Clip;
  /** Date.now() at which every loop ends. */
  until: number;
  /** Where the healthy viewers' latencies, fps and drops go. */
  healthy: ViewerGroup;
}

/**
 * The soak's load, in this process: publishers (one steady, the rest coming and going) and the healthy
 * viewers (churning, and a few steady ones that stay). Every loop ends at `until`.
 */
export class SoakLoad {
  readonly totals = {
    framesDelivered: 0,
    /** Frames of a joiner's catch-up (the cached GOP, captured before it subscribed): no latency taken. */
    catchUpFrames: 0,
    gapsToKeyframe: 0,
    policyViolations: 0,
    viewerSessions: 0,
    publisherSessions: 0,
    errors: 0,
  };
  readonly errorMessages: string[] = [];
  viewersOnline = 0;
  publishersOnline = 0;
  /** Per-second fps counters of the steady viewers, read by {@link tick}. */
  private readonly fpsCounters = new Set<FpsCounter>();

  constructor(private readonly opts: SoakLoadOptions) {}

  /** The steady publisher: publishes `steadyName` and sends until `until`, reconnecting if it must. */
  async steadyPublisher(published: () => void): Promise<void> {
    while (Date.now() < this.opts.until) {
      await this.publishOnce(this.opts.steadyName, this.opts.until, published);
      if (Date.now() < this.opts.until) await sleep(1000);
    }
  }

  /** Publisher slot `k`: streams that live 30–90 s each, with a 2–5 s pause between them. */
  async publisherSlot(k: number): Promise<void> {
    for (let gen = 0; Date.now() < this.opts.until; gen++) {
      const end = Math.min(this.opts.until, Date.now() + rand(30_000, 90_000));
      await this.publishOnce(`cam-${k}-${gen}`, end, () => {});
      await sleep(Math.min(rand(2000, 5000), Math.max(0, this.opts.until - Date.now())));
    }
  }

  /** A churning viewer slot: sessions of 5–40 s on the whole room, up to 2 s apart. */
  async viewerSlot(): Promise<void> {
    while (Date.now() < this.opts.until) {
      const end = Math.min(this.opts.until, Date.now() + rand(5000, 40_000));
      await this.watchRoom(end, false);
      await sleep(Math.min(rand(0, 2000), Math.max(0, this.opts.until - Date.now())));
    }
  }

  /** A steady viewer: the whole room for the whole run (again at once if its connection fails). */
  async steadyViewer(): Promise<void> {
    while (Date.now() < this.opts.until) {
      await this.watchRoom(this.opts.until, true);
      if (Date.now() < this.opts.until) await sleep(1000);
    }
  }

  /** Called every second: each steady viewer's frames of the steady stream since the last tick become fps. */
  tick(): void {
    const now = Date.now();
    for (const c of this.fpsCounters) {
      // Only an interval the viewer had the stream throughout counts: not the one it found it in.
      if (c.armed) this.opts.healthy.watched(c.frames, (now - c.since) / 1000);
      c.armed = c.found;
      c.frames = 0;
      c.since = now;
    }
  }

  private async publishOnce(name: string, end: number, published: () => void): Promise<void> {
    const { clip } = this.opts;
    const link = await SoakLink.connect(
      this.opts.host,
      this.opts.port,
      'publisher',
      CONNECT_TIMEOUT_MS,
    ).catch((err: Error) => this.error(`publisher connect: ${err.message}`));
    if (!link) return;
    this.totals.publisherSessions++;
    this.publishersOnline++;
    try {
      const id = await link.publish(this.opts.room, name, clip.config, CONNECT_TIMEOUT_MS);
      published();
      const start = performance.now();
      // Frames on a drift-free 30 fps schedule; the clip loops from a keyframe. Each is stamped with the
      // wall clock as it is sent: the latency measured is the relay's and the sockets', not our timer's.
      for (let i = 0; Date.now() < end && link.failure === null; i++) {
        const frame = clip.frames[i % clip.frames.length];
        if (!frame) break;
        link.sendFrame(id, i, frame.key, Math.round((i * 1e6) / CLIP_FPS), frame.annexB);
        const due = start + ((i + 1) * 1000) / CLIP_FPS;
        await sleep(Math.max(0, due - performance.now()));
      }
      if (link.failure !== null) this.error(`publisher ${name}: ${link.failure}`);
    } catch (err) {
      this.error(`publisher ${name}: ${(err as Error).message}`);
    } finally {
      this.publishersOnline--;
      link.close();
    }
  }

  private async watchRoom(end: number, steady: boolean): Promise<void> {
    const link = await SoakLink.connect(this.opts.host, this.opts.port, 'viewer', CONNECT_TIMEOUT_MS).catch(
      (err: Error) => this.error(`viewer connect: ${err.message}`),
    );
    if (!link) {
      await sleep(Math.min(1000, Math.max(0, end - Date.now())));
      return;
    }
    this.totals.viewerSessions++;
    this.viewersOnline++;
    const { healthy, steadyName } = this.opts;
    const seq = new SequenceWatch((n, joining) => healthy.drops(n, joining));
    const fps: FpsCounter = { frames: 0, since: Date.now(), found: false, armed: false };
    let steadyId = -1;
    const subscribedAt = Date.now();
    link.onFrame = (streamId, s, key, captureUs) => {
      this.totals.framesDelivered++;
      // A joiner first gets the stream's cached GOP, captured before it subscribed (up to a keyframe
      // interval old): that is catch-up, not the relay's real-time latency, so it is counted apart.
      const catchUp = captureUs / 1000 < subscribedAt;
      seq.frame(streamId, s, key, catchUp);
      if (catchUp) this.totals.catchUpFrames++;
      else healthy.frame(Date.now() - captureUs / 1000);
      if (steadyId < 0 && link.streams.get(streamId) === steadyName) {
        steadyId = streamId;
        fps.found = true;
      }
      if (streamId === steadyId) fps.frames++;
    };
    link.onStreamRemoved = (streamId) => {
      seq.forget(streamId);
      if (streamId === steadyId) {
        steadyId = -1;
        fps.found = false;
        fps.armed = false;
      }
    };
    if (steady) this.fpsCounters.add(fps);
    try {
      // The whole room: it may hold no stream at this moment, so nothing is awaited.
      await link.subscribe(this.opts.room, '', CONNECT_TIMEOUT_MS);
      while (Date.now() < end && link.failure === null)
        await sleep(Math.min(250, Math.max(0, end - Date.now())));
      if (link.failure !== null) this.error(`viewer: ${link.failure}`);
    } finally {
      this.fpsCounters.delete(fps);
      this.totals.gapsToKeyframe += seq.gapsToKeyframe;
      this.totals.policyViolations += seq.violations;
      this.viewersOnline--;
      link.close();
    }
  }

  private error(message: string): null {
    this.totals.errors++;
    if (this.errorMessages.length < ERRORS_KEPT) this.errorMessages.push(message);
    return null;
  }
}
