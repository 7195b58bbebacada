/** Field values a log line can carry. */
export type LogFields = Record<string, string | number | boolean | undefined>;

/** Where the relay reports what happened: one event per call, with its fields (ops/log.ts writes lines). */
export interface Log {
  info(event: string, fields?: LogFields): void;
  warn(event: string, fields?: LogFields): void;
  error(event: string, fields?: LogFields): void;
}
