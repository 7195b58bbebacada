// The page's one AudioContext: made on first need, its worklet module loaded once, and the autoplay policy
// handled (a context the browser keeps suspended until a click says "click to hear" instead of staying mute).
import workletUrl from './audio-worklet.ts?worker&url';
import { OutputClock } from './output-clock.js';

/** Where sound stands: not made yet, playing, waiting for a click, or impossible in this browser. */
export type AudioState = 'idle' | 'running' | 'blocked' | 'unavailable';

/** How long a new context may take to start by itself before we say a click is needed. */
const START_GRACE_MS = 400;
/**
 * The output's timestamp (`getOutputTimestamp()`) is read from the browser once, a moment after the context
 * starts running, and never again while it runs; `outputLatency` never; and in Firefox neither (see
 * readsOutputSafely). Firefox with PulseAudio deadlocks the whole browser when a page reads them while sound
 * plays (its audio IPC thread waits on PulseAudio's lock while PulseAudio's waits on the page; seen in gdb).
 * Measured here: 50 reads a second hung it within seconds, one a second within a test; reading both once per
 * context hung a three-page room test in 1 of 3 runs, `outputLatency` alone in 1 of 5, the timestamp alone
 * in none of 5 locally but in 2 tests of one CI run. The timestamp measures the lead to the speaker by itself
 * (OutputClock); what drifts or stalls after that read, the OutputClock follows from `currentTime`, which is
 * safe to read.
 */
const LATENCY_SETTLE_MS = 500;
/** How often `currentTime` is read while the context runs (also at each played-sound report). */
const OBSERVE_MS = 20;

/**
 * Whether reading the output's timestamp cannot hang the browser: everywhere but Gecko (Firefox), where it
 * can deadlock with PulseAudio (see LATENCY_SETTLE_MS). This names the engine, not a feature, because the
 * hazard is a bug of one engine that no feature test can reveal without setting it off. Firefox's lead to the
 * speaker is then its `baseLatency` alone: sound heard later than that (a Bluetooth headset) puts pictures
 * ahead of it by the difference, against a whole browser frozen.
 */
function readsOutputSafely(): boolean {
  // Firefox says "Gecko/20100101"; Chromium and Safari say "(KHTML, like Gecko)".
  return !/\bGecko\/\d/.test(navigator.userAgent);
}

/** The shared AudioContext and its worklet module. */
export class AudioOutput {
  state: AudioState = 'idle';
  /** Why sound is unavailable, for people; null otherwise. */
  problem: string | null = null;
  private context: AudioContext | null = null;
  private loading: Promise<AudioContext | null> | null = null;
  private readonly listeners = new Set<(state: AudioState) => void>();
  /** Context time to the moment it is heard. */
  private readonly clock = new OutputClock();
  private observer: ReturnType<typeof setInterval> | null = null;

  /** Whether this browser can play sound at all (Web Audio with AudioWorklet). */
  static supported(): boolean {
    return typeof AudioContext !== 'undefined' && typeof AudioWorkletNode !== 'undefined';
  }

  /** Calls `fn` on every state change. */
  onState(fn: (state: AudioState) => void): void {
    this.listeners.add(fn);
  }

  /** The context once made and its module loaded (it may still be suspended); null if unavailable. */
  get(): Promise<AudioContext | null> {
    if (this.loading) return this.loading;
    this.loading = this.create();
    return this.loading;
  }

  /** The context if it exists and runs now (samples sent to a suspended one would only pile up). */
  get running(): AudioContext | null {
    return this.context?.state === 'running' ? this.context : null;
  }

  /** Called from a click or key press (a user gesture): the browser lets a context start then. */
  unlock(): void {
    if (!this.context) {
      void this.get();
      return;
    }
    if (this.context.state !== 'running') void this.context.resume().catch(() => {});
  }

  /** Ms from a sample's rendering to the speaker, as last measured (see OutputClock). */
  get outputLeadMs(): number {
    return this.clock.outputLeadMs;
  }

  /** When (performance.now() ms) the sample the running context renders at `contextTime` is heard. */
  heardAt(context: AudioContext, contextTime: number): number {
    this.clock.observe(context.currentTime, performance.now());
    return this.clock.heardAt(contextTime);
  }

  /** Reads the output's timestamp once, a moment after the context starts running (see LATENCY_SETTLE_MS). */
  private readLatencySoon(context: AudioContext): void {
    const read = () => {
      if (context.state !== 'running') return;
      // Not outputLatency (see LATENCY_SETTLE_MS): the lead until the timestamp has been measured.
      const latencySec = context.baseLatency || 0;
      const ts = readsOutputSafely() ? context.getOutputTimestamp?.() : undefined;
      const stamp =
        ts?.contextTime !== undefined && ts.performanceTime !== undefined && ts.performanceTime > 0
          ? { contextTime: ts.contextTime, performanceTime: ts.performanceTime }
          : null;
      this.clock.setOutput(latencySec, stamp, performance.now());
    };
    setTimeout(read, LATENCY_SETTLE_MS);
    this.observer ??= setInterval(() => {
      if (context.state === 'running') this.clock.observe(context.currentTime, performance.now());
    }, OBSERVE_MS);
  }

  private async create(): Promise<AudioContext | null> {
    if (!AudioOutput.supported()) {
      this.setState('unavailable', 'This browser has no Web Audio worklets: sound cannot play here.');
      return null;
    }
    let context: AudioContext;
    try {
      // 48 kHz is Opus's own rate: no resampling on the common path. 'interactive' asks for the smallest buffer.
      context = new AudioContext({ latencyHint: 'interactive', sampleRate: 48_000 });
    } catch {
      context = new AudioContext({ latencyHint: 'interactive' });
    }
    try {
      await context.audioWorklet.addModule(workletUrl);
    } catch (err) {
      void context.close();
      this.setState('unavailable', `Sound could not start (${err instanceof Error ? err.message : err}).`);
      return null;
    }
    this.context = context;
    context.addEventListener('statechange', () => this.onContextState());
    void context.resume().catch(() => {});
    this.onContextState();
    // Chromium starts a context at once when allowed; one still suspended a moment later waits for a gesture.
    window.setTimeout(() => this.onContextState(true), START_GRACE_MS);
    return context;
  }

  private onContextState(settled = false): void {
    const c = this.context;
    if (!c) return;
    if (c.state === 'running') {
      if (this.state !== 'running') this.readLatencySoon(c);
      this.setState('running', null);
    } else if (settled || this.state === 'running') this.setState('blocked', null);
  }

  private setState(state: AudioState, problem: string | null): void {
    this.problem = problem;
    if (state === this.state) return;
    this.state = state;
    for (const fn of this.listeners) fn(state);
  }
}
