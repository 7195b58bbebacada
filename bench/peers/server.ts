/** What every peer launcher returns, and how it fails. */

/** A running peer server. */
export interface PeerServer {
  /** Every PID that does the server's work (for CPU and memory sampling); all stopped by stop(). */
  readonly pids: number[];
  /** Stops the server gracefully, then by SIGKILL after a grace period; resolves when all pids are gone. */
  stop(): Promise<void>;
}

/** A peer server that is missing or would not start; the message says what to do. */
export class PeerStartError extends Error {
  constructor(
    readonly code: 'FW_BENCH_PEER_MISSING' | 'FW_BENCH_PEER_START',
    message: string,
  ) {
    super(message);
  }
}
