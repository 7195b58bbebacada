import { isLoopbackHost } from './addresses.js';

/**
 * How `serve` secures its ports: with the operator's certificate, with one it makes itself, or not at all.
 */
export type TlsMode = 'given' | 'self-signed' | 'off';

/**
 * Chooses the TLS mode of `serve`. A page opened from another machine over plain http:// is not a secure
 * context (no camera, no WebCodecs), so any host beyond loopback gets TLS: the operator's certificate
 * when given, else a self-made one. `noTls` is for a server behind a TLS proxy; on loopback, http:// is a
 * secure context already, so nothing is made.
 */
export function chooseTlsMode(options: { host: string; certGiven: boolean; noTls: boolean }): TlsMode {
  if (options.certGiven) return 'given';
  if (options.noTls || isLoopbackHost(options.host)) return 'off';
  return 'self-signed';
}
