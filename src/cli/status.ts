import type { ReconnectingClient } from '../client/reconnect.js';
import { formatServer, type ServerAddress } from './server-address.js';

/** Where status goes: stderr in practice, any stream in tests. */
export interface StatusStream {
  write(text: string): unknown;
  isTTY?: boolean;
}

/**
 * A status line: on a terminal it is redrawn in place (`\r`, then clear to end of line); elsewhere
 * (pipes, logs, CI) every update is a plain line, because carriage returns make logs unreadable.
 */
export class StatusLine {
  private shown = '';

  constructor(private readonly out: StatusStream) {}

  /** Replaces the status line with `text`. */
  update(text: string): void {
    if (this.out.isTTY) {
      this.out.write(`\r${text}\x1b[K`);
      this.shown = text;
    } else {
      this.out.write(`${text}\n`);
    }
  }

  /** Prints a line of its own above the status line, which is then redrawn. */
  log(text: string): void {
    if (this.out.isTTY && this.shown) {
      this.out.write(`\r\x1b[K${text}\n${this.shown}`);
    } else {
      this.out.write(`${text}\n`);
    }
  }

  /** Leaves the last status on screen and moves to a fresh line. */
  end(): void {
    if (this.out.isTTY && this.shown) this.out.write('\n');
    this.shown = '';
  }
}

/** Reports a reconnecting client's lost/retrying/back lines; `again` says what it does once back. */
export function logReconnects(
  client: ReconnectingClient,
  status: StatusLine,
  server: ServerAddress,
  again: string,
): void {
  client.on('disconnected', (err, retryInMs) =>
    status.log(
      `framewire: lost the server (${err.message}); reconnecting in ${(retryInMs / 1000).toFixed(1)} s`,
    ),
  );
  client.on('reconnect-failed', (err, retryInMs) =>
    status.log(`framewire: still no server (${err.code}); retrying in ${(retryInMs / 1000).toFixed(1)} s`),
  );
  // With several --server nodes, the one it reached.
  client.on('reconnected', () =>
    status.log(`framewire: reconnected to ${formatServer({ ...client.address, tls: server.tls })}; ${again}`),
  );
}
