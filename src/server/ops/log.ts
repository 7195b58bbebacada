import type { Log, LogFields } from '../core/log.js';

/** A log sink: receives one finished line per event. */
export type LogSink = (line: string) => void;

function formatValue(v: string | number | boolean): string {
  const s = String(v);
  // Quote only when needed, so lines stay greppable as key=value pairs.
  return /[\s"=]/.test(s) || s === '' ? JSON.stringify(s) : s;
}

/** Structured logger: one line per event, `time level event key=value ...`. */
export class Logger implements Log {
  constructor(private readonly sink: LogSink = (line) => process.stderr.write(`${line}\n`)) {}

  info(event: string, fields: LogFields = {}): void {
    this.write('info', event, fields);
  }

  warn(event: string, fields: LogFields = {}): void {
    this.write('warn', event, fields);
  }

  error(event: string, fields: LogFields = {}): void {
    this.write('error', event, fields);
  }

  private write(level: string, event: string, fields: LogFields): void {
    let line = `${new Date().toISOString()} ${level} ${event}`;
    for (const [k, v] of Object.entries(fields)) {
      if (v !== undefined) line += ` ${k}=${formatValue(v)}`;
    }
    this.sink(line);
  }
}
