import type { StatusStream } from './status.js';

/** What a command runs with: its output streams and a signal for a graceful stop (SIGINT, SIGTERM). */
export interface CliContext {
  stdout: StatusStream;
  stderr: StatusStream;
  /** Aborted when the user asks to stop: commands finish what they hold (files, sockets) and return. */
  signal: AbortSignal;
}

/** One `framewire <name>` command. */
export interface Command {
  name: string;
  /** One line for the tool's --help. */
  summary: string;
  /** The command's full --help text. */
  usage: string;
  /** Runs the command; resolves with the exit code, or throws CliError for an expected failure. */
  run(argv: string[], ctx: CliContext): Promise<number>;
}

/** Resolves when `signal` is aborted (at once if it already is). */
export function aborted(signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
}
