/** How often the clock looks at the event loop; a stall shorter than this goes unnoticed (harmlessly). */
const TICK_MS = 20;

/**
 * The time this process's event loop spent blocked, summed since start: time in which the server read
 * nobody's answers. A viewer's backlog is measured by how long its answers take; a pause of our own
 * (a long GC, a burst of work) must not count against it, or every viewer would be held back at once.
 */
export class StallClock {
  /** Blocked time so far, ms. */
  stalledMs = 0;
  private last = performance.now();
  private readonly timer: ReturnType<typeof setInterval>;

  constructor() {
    // A timer that fires late was held up by the loop: its lateness is the stall.
    this.timer = setInterval(() => {
      const now = performance.now();
      this.stalledMs += Math.max(0, now - this.last - TICK_MS);
      this.last = now;
    }, TICK_MS);
    this.timer.unref();
  }

  /** Stops the timer (the server calls this as it closes). */
  stop(): void {
    clearInterval(this.timer);
  }
}
