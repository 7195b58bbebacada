import { CONFIG_RANGES, DEFAULT_TCP_PORT } from '../server/ops/config.js';
import { usageError } from './errors.js';

/** Default `--server` of publish and watch: a server on this machine with the default port. */
export const DEFAULT_SERVER = `127.0.0.1:${DEFAULT_TCP_PORT}`;

/**
 * What each flag of every command takes, for the one-line error when its value is missing or looks
 * like a flag (`--duration -1`). Flags share meanings across commands, so one table serves them all.
 */
const FLAG_TAKES: Readonly<Record<string, string>> = {
  duration: 'a number of seconds > 0',
  fps: 'a number of frames per second > 0',
  bitrate: 'a bitrate such as 800k or 1.5M',
  size: 'a size WIDTHxHEIGHT such as 640x480',
  codec: 'vp8 or h264',
  server: 'an address HOST:PORT',
  host: 'an address to listen on',
  'tcp-port': 'a port number (0..65535)',
  'http-port': 'a port number (0..65535)',
  'record-segment': 'a duration such as 10m, 90s or 1h',
  'max-latency': 'milliseconds (0 = keep every frame however late)',
  ttl: 'a lifetime such as 30s, 10m, 1h or 7d',
  room: 'a room name',
  name: 'a stream name',
  out: 'a file name ending in .webm, .mkv or .mp4',
  file: 'a video file',
  camera: 'a camera device such as /dev/video0',
  window: 'an X window id such as 0x1e00007',
  region: 'a region WIDTHxHEIGHT+X+Y such as 1280x720+0+0',
  'audio-bitrate': 'a bitrate such as 64k',
  ca: 'a PEM certificate file',
  'tls-cert': 'a PEM certificate file',
  'tls-key': 'a PEM key file',
  config: 'a JSON file',
  record: 'a folder',
  'state-dir': 'a folder',
  token: 'a token',
  secret: 'the secret',
};

// Flags whose value may really start with "-" (a file named -x.webm): the error then says how to pass it.
const FREE_TEXT_FLAGS: ReadonlySet<string> = new Set([
  'out',
  'file',
  'ca',
  'tls-cert',
  'tls-key',
  'config',
  'record',
  'state-dir',
  'token',
  'secret',
]);

/**
 * Runs `parse` (a node:util parseArgs call in strict mode over `argv`) and turns its errors into
 * one-line usage errors (exit 2) for `command`. Takes a callback rather than the options so each command
 * keeps parseArgs' typed result; `argv`, when given, lets a bad value be quoted.
 */
export function withUsage<T>(command: string, parse: () => T, argv?: readonly string[]): T {
  try {
    return parse();
  } catch (err) {
    throw usageError(command, parseArgsProblem(err instanceof Error ? err.message : String(err), argv));
  }
}

/**
 * parseArgs' message in one line naming the flag. Most are clear already ("Unknown option '--x'"); the
 * one for a value that starts with "-" spans three lines and never says what the flag wanted.
 */
export function parseArgsProblem(message: string, argv?: readonly string[]): string {
  // "Option '--duration' argument is ambiguous.\n... use '--duration=-XYZ'." (short flags: '-o', and the
  // long name only in the last line).
  const ambiguous = /^Option '(-[^']*)' argument is ambiguous\./.exec(message);
  if (ambiguous) {
    const used = ambiguous[1] as string;
    const flag = /use '--([^'=]+)=-XYZ'/.exec(message)?.[1] ?? used.replace(/^-+/, '');
    const at = argv?.findIndex((a, i) => a === used && argv[i + 1]?.startsWith('-')) ?? -1;
    const value = at >= 0 ? argv?.[at + 1] : undefined;
    const got = value === undefined ? 'got a value starting with "-"' : `got "${value}"`;
    const howToPass = FREE_TEXT_FLAGS.has(flag)
      ? ` (if that is the value, write --${flag}=${value ?? '-VALUE'})`
      : '';
    return `--${flag} takes ${takes(flag)}, ${got}${howToPass}`;
  }
  // "Option '--duration <value>' argument missing"
  const missing = /^Option '(?:-\w, )?--([^' ]+) <value>' argument missing/.exec(message);
  if (missing) {
    const flag = missing[1] as string;
    return `--${flag} takes ${takes(flag)}, and none was given`;
  }
  // Anything else, from this Node or a later one: its first line, which names the flag.
  return (message.split('\n', 1)[0] ?? message).replace(/\.$/, '');
}

function takes(flag: string): string {
  return FLAG_TAKES[flag] ?? 'a value';
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

/** An Opus bitrate in bits/s: `64k`, `128k` or plain bits, within what Opus codes (6k to 510k). */
export function parseAudioBitrate(command: string, text: string): number {
  const m = /^(\d+(?:\.\d+)?)([kK]?)$/.exec(text);
  const bits = Math.round(Number(m?.[1]) * (m?.[2] ? 1e3 : 1));
  if (!m || !(bits >= 6_000 && bits <= 510_000)) {
    throw usageError(command, `--audio-bitrate "${text}" is not an Opus bitrate from 6k to 510k (e.g. 64k)`);
  }
  return bits;
}

/**
 * `argv` with `--FLAG` given no value (last, or followed by another flag) written as `--FLAG=`, so that
 * parseArgs, which has no optional values, reads it as an empty string: `--mic` alone means the default
 * device, `--mic hw:1` that one.
 */
export function withOptionalValue(argv: readonly string[], flag: string): string[] {
  const name = `--${flag}`;
  return argv.map((arg, i) => {
    if (arg !== name) return arg;
    const next = argv[i + 1];
    return next === undefined || next.startsWith('-') ? `${name}=` : arg;
  });
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
