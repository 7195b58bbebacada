/** Something whose writes can be held and flushed together (a corked socket). */
export interface Batchable {
  /** Sends everything held since the batch began. */
  flushBatch(): void;
}

/**
 * Collects the writes of one event-loop turn into one flush per connection. Frames of different streams
 * arrive in separate socket reads of the same turn; a connection watching many streams (a camera wall, a
 * call) then gets them in one writev instead of one syscall each. setImmediate runs right after this
 * turn's I/O callbacks, so nothing waits longer than the turn it arrived in.
 */
export class TickBatcher {
  private held: Batchable[] = [];
  private scheduled = false;

  /** Registers `b` to be flushed at the end of this turn (the caller has already corked it). */
  hold(b: Batchable): void {
    this.held.push(b);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.flush);
    }
  }

  private readonly flush = (): void => {
    this.scheduled = false;
    const held = this.held;
    this.held = [];
    for (const b of held) b.flushBatch();
  };
}
