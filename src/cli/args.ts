import { CONFIG_RANGES, DEFAULT_TCP_PORT } from '../server/ops/config.js';
import { usageError } from './errors.js';

/** Default `--server` of publish and watch: a server on this machine with the default port. */
export const DEFAULT_SERVER = `127.0.0.1:${DEFAULT_TCP_PORT}`;

/**
 * Runs `parse` (a node:util parseArgs call in strict mode) and turns its errors into usage errors (exit 2)
 * for `command`. Takes a callback rather than the options so each command keeps parseArgs' typed result.
 */
export function withUsage<T>(command: string, parse: () => T): T {
  try {
    return parse();
  } catch (err) {
    // parseArgs messages are clear ("Unknown option '--x'"); only the pointer to --help is added.
    throw usageError(
      command,
      err instanceof Error ? err.message.replace(/\. To specify.*$/s, '') : String(err),
    );
  }
}

/** A required string flag, or a usage error naming it. */
export function required(command: string, flag: string, value: string | undefined): string {
  if (value === undefined || value === '') throw usageError(command, `--${flag} is required`);
  return value;
}

/** `HOST:PORT`, `[IPv6]:PORT` or a bare `HOST` (default port). */
export function parseHostPort(command: string, text: string): { host: string; port: number } {
  const m = /^\[([^\]]+)\](?::(\d+))?$/.exec(text) ?? /^([^:]+)(?::(\d+))?$/.exec(text);
  if (!m?.[1]) throw usageError(command, `--server "${text}" is not HOST:PORT`);
  const port = m[2] === undefined ? DEFAULT_TCP_PORT : Number(m[2]);
  if (port < 1 || port > 65535) throw usageError(command, `--server port ${m[2]} is not in 1..65535`);
  return { host: m[1], port };
}

/** A TCP port to listen on, in the range of the config's ports (0 asks the system for a free one). */
export function parsePort(command: string, flag: string, text: string): number {
  // tcpPort and httpPort share one range; the flag and the config file must not disagree on it.
  const { min, max } = CONFIG_RANGES.tcpPort;
  const port = Number(text);
  if (!/^\d+$/.test(text) || port < min || port > max) {
    throw usageError(command, `--${flag} "${text}" is not a port number (${min}..${max})`);
  }
  return port;
}

/** `WxH`, both even (4:2:0 encoders need even sizes) and within what the wire's u16 fields carry. */
export function parseSize(command: string, text: string): { width: number; height: number } {
  const m = /^(\d+)x(\d+)$/.exec(text);
  const width = Number(m?.[1]);
  const height = Number(m?.[2]);
  if (!m || width < 16 || height < 16 || width > 8192 || height > 8192 || width % 2 || height % 2) {
    throw usageError(command, `--size "${text}" is not WIDTHxHEIGHT with even sizes from 16 to 8192`);
  }
  return { width, height };
}

/** A bitrate in bits/s: `800k`, `1.5M` or plain bits (`250000`). */
export function parseBitrate(command: string, text: string): number {
  const m = /^(\d+(?:\.\d+)?)([kKmM]?)$/.exec(text);
  const unit = m?.[2]?.toLowerCase();
  const bits = Math.round(Number(m?.[1]) * (unit === 'k' ? 1e3 : unit === 'm' ? 1e6 : 1));
  if (!m || !(bits >= 10_000 && bits <= 100e6)) {
    throw usageError(command, `--bitrate "${text}" is not a bitrate from 10k to 100M (e.g. 800k, 1.5M)`);
  }
  return bits;
}

/** A positive number (seconds, fps...), bounded above by `max`. */
export function parsePositive(command: string, flag: string, text: string, max: number): number {
  const n = Number(text);
  if (!/^\d+(\.\d+)?$/.test(text) || !(n > 0 && n <= max)) {
    throw usageError(command, `--${flag} "${text}" is not a number above 0 and at most ${max}`);
  }
  return n;
}

/** The access token: `--token`, else FRAMEWIRE_TOKEN, else none (open mode). */
export function tokenFrom(flag: string | undefined, env = process.env): string {
  return flag ?? env.FRAMEWIRE_TOKEN ?? '';
}
