/** Memory of one ingest's demuxer worker, bytes: its V8 heap in use and the memory outside it (ArrayBuffers). */
export interface WorkerMemory {
  heapUsed: number;
  external: number;
}

/** What the rest of the server may see of a running ingest: which stream, and its worker's memory. */
export interface RunningIngest {
  readonly room: string;
  readonly name: string;
  /** The worker's memory at its last answer to the watchdog (about every second); null before the first. */
  readonly workerMemory: WorkerMemory | null;
  /**
   * Asks the worker for its memory now; with `collect`, after a full garbage collection (for tests: the
   * server never calls it so, and nothing on the network can). Resolves null if the ingest ends first.
   */
  measureWorker(collect: boolean): Promise<WorkerMemory | null>;
}

/** Running ingests per relay: several servers may share a process (tests), each sees its own. */
const byRelay = new WeakMap<object, Set<RunningIngest>>();

/** Adds `ingest` to the ingests of `relay`; returns the function that removes it. */
export function trackIngest(relay: object, ingest: RunningIngest): () => void {
  let set = byRelay.get(relay);
  if (!set) {
    set = new Set();
    byRelay.set(relay, set);
  }
  set.add(ingest);
  return () => set.delete(ingest);
}

/** The ingests running on `relay` now. */
export function runningIngests(relay: object): readonly RunningIngest[] {
  return [...(byRelay.get(relay) ?? [])];
}
