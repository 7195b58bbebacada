// Reconnect backoff: one formula for the Node client and the browser app, each with its own constants.

/** A delay factor range: each delay is the step times a uniform draw from [low, high]. */
export type BackoffJitter = readonly [low: number, high: number];

/** The Node client's jitter: keep at least half of each step, so retries never come sooner than that. */
export const HALF_JITTER: BackoffJitter = [0.5, 1];

/**
 * Delay in whole ms before attempt `attempt` (0-based): `minMs` doubling per attempt up to `maxMs`, times a
 * jitter factor, and never above `maxMs`.
 */
export function backoffDelay(
  attempt: number,
  minMs: number,
  maxMs: number,
  random: () => number = Math.random,
  jitter: BackoffJitter = HALF_JITTER,
): number {
  // The exponent is capped so a long outage cannot overflow 2 ** attempt to Infinity.
  const step = Math.min(maxMs, minMs * 2 ** Math.min(attempt, 30));
  const [low, high] = jitter;
  // Jitter spreads the clients of a restarted server so they do not all knock at the same instant.
  return Math.round(Math.min(maxMs, step * (low + random() * (high - low))));
}
