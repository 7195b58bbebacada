// The page's figures for tests and curious people: `window.framewire.stats()` in the console.

/** What `window.framewire` holds. */
export interface FramewireHook {
  /** A snapshot of the connection, the local stream and every remote stream's counters. */
  stats(): object;
}

declare global {
  interface Window {
    framewire?: FramewireHook;
  }
}

/** Installs `window.framewire`, reading its figures from `stats` on every call. */
export function exposeStats(stats: () => object): void {
  window.framewire = { stats };
}
