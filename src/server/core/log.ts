/** Field values a log line can carry. */
export type LogFields = Record<string, string | number | boolean | undefined>;

/** An error as a log field: its stack for our own bugs (where it happened matters), else its text. */
export function describeError(err: unknown): string {
  return err instanceof Error ? (err.stack ?? err.message) : String(err);
}

/** Where the relay reports what happened: one event per call, with its fields (ops/log.ts writes lines). */
export interface Log {
  info(event: string, fields?: LogFields): void;
  warn(event: string, fields?: LogFields): void;
  error(event: string, fields?: LogFields): void;
}
