import { usageError } from './errors.js';

const UNIT_MS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000 };

/**
 * A duration flag such as `--record-segment 10m`: a whole number with `s`, `m` or `h` (bare numbers are
 * seconds), in milliseconds. `0` is allowed; what it means is the flag's to say.
 */
export function parseDurationMs(command: string, flag: string, text: string): number {
  const m = /^(\d+)([smh]?)$/.exec(text.trim());
  if (!m) {
    throw usageError(
      command,
      `--${flag} "${text}" is not a duration: give a whole number with s, m or h (10m, 90s, 1h)`,
    );
  }
  return Number(m[1]) * (UNIT_MS[m[2] || 's'] as number);
}
