/** Polls a TCP port until it accepts a connection: how we know a peer server is ready. */
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

/** Thrown when a port never opened within the deadline. */
export class WaitPortError extends Error {
  readonly code = 'FW_BENCH_PORT_TIMEOUT';
}

/**
 * Resolves once 127.0.0.1:port accepts a TCP connection. `alive` is checked between attempts so a server
 * that died during start-up fails fast with its own reason instead of a timeout.
 */
export async function waitForPort(
  port: number,
  opts: { timeoutMs?: number; host?: string; alive?: () => Error | null } = {},
): Promise<void> {
  const host = opts.host ?? '127.0.0.1';
  const deadline = Date.now() + (opts.timeoutMs ?? 10_000);
  for (;;) {
    const dead = opts.alive?.() ?? null;
    if (dead !== null) throw dead;
    if (await canConnect(host, port)) return;
    if (Date.now() > deadline) throw new WaitPortError(`nothing accepted connections on ${host}:${port}`);
    await sleep(25);
  }
}

function canConnect(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host, port });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}
