/**
 * A count per key (open connections per address, say). A key whose count falls back to zero is
 * forgotten, so the map holds only keys in use and client-chosen keys cannot pile up.
 */
export class CountMap<K> {
  private readonly counts = new Map<K, number>();

  /** The count of `key` (0 when absent). */
  get(key: K): number {
    return this.counts.get(key) ?? 0;
  }

  /** Adds one to `key`'s count and returns the new count. */
  add(key: K): number {
    const n = this.get(key) + 1;
    this.counts.set(key, n);
    return n;
  }

  /** Takes one from `key`'s count, forgetting the key at zero. */
  remove(key: K): void {
    const n = this.get(key) - 1;
    if (n > 0) this.counts.set(key, n);
    else this.counts.delete(key);
  }
}
