import { createPrivateKey, KeyObject, randomBytes, webcrypto, X509Certificate } from 'node:crypto';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Log } from '../core/log.js';
import { type CertificateNames, canonicalIp } from './addresses.js';

/** The self-made certificate cannot be made (the library is missing) or kept (its folder cannot be written). */
export class SelfSignedCertError extends Error {
  override readonly name = 'SelfSignedCertError';
  readonly code = 'FW_SELF_SIGNED_CERT';
}

/** A self-made certificate ready for the TLS path: its files, and what people compare and trust. */
export interface SelfSignedCert {
  certFile: string;
  keyFile: string;
  /** SHA-256 of the certificate in colon hex (`AB:CD:...`), as browsers show it. */
  fingerprint256: string;
  validTo: Date;
  /** Null when the kept files were reused; else why new ones were made. */
  madeBecause: string | null;
}

/** Options of {@link ensureSelfSignedCert}. */
export interface SelfSignedOptions {
  /** The state folder; the files go in its `tls/` subfolder. */
  stateDir: string;
  /** Every name the certificate must carry (see certificateNames in addresses.ts). */
  names: CertificateNames;
  /** Subject common name, which browsers show on their warning page: say which machine it is. */
  commonName: string;
  log: Log;
  now?: Date;
}

// Browsers refuse server certificates valid for more than 398 days; a year stays clear of that cap.
const VALID_DAYS = 365;
// Renewed this long before it expires, so a server started near the end does not run on past it (the
// certificate is read only at start).
const RENEW_DAYS = 30;
// Backdated so a client whose clock is somewhat behind does not see a certificate from the future.
const BACKDATE_MS = 24 * 3600 * 1000;
// Names carried over from the previous certificate (an address of a network the machine was on before)
// keep a trusted certificate from changing each time a VPN or Wi-Fi comes and goes; this bounds them.
const MAX_NAMES = 100;
const DAY_MS = 24 * 3600 * 1000;

/** The certificate and key files of the self-made certificate in `stateDir`. */
export function selfSignedFiles(stateDir: string): { certFile: string; keyFile: string } {
  const dir = path.join(stateDir, 'tls');
  return { certFile: path.join(dir, 'self-signed-cert.pem'), keyFile: path.join(dir, 'self-signed-key.pem') };
}

/**
 * The self-made certificate in `stateDir`: the kept one when it is still valid (for at least
 * {@link RENEW_DAYS} more days), matches its key and names every one of `names`, so the fingerprint
 * people trusted survives restarts; else a new one (ECDSA P-256, serverAuth, not a CA), logged with why.
 */
export async function ensureSelfSignedCert(options: SelfSignedOptions): Promise<SelfSignedCert> {
  const { stateDir, names, log } = options;
  const now = options.now ?? new Date();
  const { certFile, keyFile } = selfSignedFiles(stateDir);
  const kept = await readKept(certFile, keyFile);
  let reason = kept.problem;
  if (kept.problem === null) {
    reason = whyNotReusable(kept.cert, kept.key, names, now);
    if (reason === null) {
      const cert = { certFile, keyFile, ...describe(kept.cert), madeBecause: null };
      log.info('tls-self-signed', { action: 'reused', cert: certFile, sha256: cert.fingerprint256 });
      return cert;
    }
  }
  const carried = kept.cert === null ? { ips: [], dns: [] } : namesOf(kept.cert);
  const pem = await makeCertificate(mergeNames(names, carried), options.commonName, now);
  await writeFiles(path.dirname(certFile), [
    // The key first: a crash between the two renames leaves a pair that does not match, which the next
    // start detects and replaces, never a new certificate beside an old key.
    { file: keyFile, content: pem.key, mode: 0o600 },
    { file: certFile, content: pem.cert, mode: 0o644 },
  ]);
  const cert = { certFile, keyFile, ...describe(new X509Certificate(pem.cert)), madeBecause: reason };
  log.info('tls-self-signed', {
    action: kept.cert === null ? 'created' : 'renewed',
    reason: reason ?? undefined,
    cert: certFile,
    sha256: cert.fingerprint256,
    expires: cert.validTo.toISOString(),
  });
  return cert;
}

// The kept pair as read: usable as far as reading tells, or why not (with the certificate if it parsed).
type Kept =
  | { cert: X509Certificate; key: KeyObject; problem: null }
  | { cert: X509Certificate | null; key: null; problem: string };

async function readKept(certFile: string, keyFile: string): Promise<Kept> {
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(await readFile(certFile));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const problem =
      code === 'ENOENT' ? 'none was kept yet' : `the kept one is unusable (${code ?? 'not PEM'})`;
    return { cert: null, key: null, problem };
  }
  try {
    return { cert, key: createPrivateKey(await readFile(keyFile)), problem: null };
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return { cert, key: null, problem: `its key is unusable (${code ?? 'not PEM'})` };
  }
}

// Null when the kept pair can serve `names` now; else the reason, for the log.
function whyNotReusable(
  cert: X509Certificate,
  key: KeyObject,
  names: CertificateNames,
  now: Date,
): string | null {
  if (!cert.checkPrivateKey(key)) return 'its key does not match it';
  const validTo = new Date(cert.validTo);
  if (validTo.getTime() <= now.getTime()) return `it expired on ${validTo.toISOString()}`;
  if (validTo.getTime() - now.getTime() < RENEW_DAYS * DAY_MS) {
    return `it expires on ${validTo.toISOString()}`;
  }
  if (new Date(cert.validFrom).getTime() > now.getTime()) return 'it is not valid yet (is the clock right?)';
  const missing = [
    ...names.ips.filter((ip) => cert.checkIP(ip) === undefined),
    ...names.dns.filter((name) => cert.checkHost(name, { subject: 'never', wildcards: false }) === undefined),
  ];
  if (missing.length > 0) return `it does not name ${missing.join(', ')}`;
  return null;
}

function describe(cert: X509Certificate): { fingerprint256: string; validTo: Date } {
  return { fingerprint256: cert.fingerprint256, validTo: new Date(cert.validTo) };
}

// The names in a certificate's subjectAltName, as Node prints them: "IP Address:127.0.0.1, DNS:localhost".
function namesOf(cert: X509Certificate): CertificateNames {
  const out: CertificateNames = { ips: [], dns: [] };
  for (const entry of (cert.subjectAltName ?? '').split(', ')) {
    const m = /^(IP Address|DNS):([^",]+)$/.exec(entry);
    if (m?.[1] === 'DNS') out.dns.push((m[2] as string).toLowerCase());
    else if (m?.[1] === 'IP Address') out.ips.push(canonicalIp(m[2] as string));
  }
  return out;
}

// The names needed now, then earlier ones not among them, up to MAX_NAMES in all.
function mergeNames(now: CertificateNames, before: CertificateNames): CertificateNames {
  const ips = [...new Set([...now.ips, ...before.ips])];
  const dns = [...new Set([...now.dns, ...before.dns])];
  const room = Math.max(0, MAX_NAMES - now.ips.length - now.dns.length);
  const extraIps = ips.slice(now.ips.length);
  const extraDns = dns.slice(now.dns.length);
  const keepIps = extraIps.slice(0, room);
  const keepDns = extraDns.slice(0, room - keepIps.length);
  return { ips: [...now.ips, ...keepIps], dns: [...now.dns, ...keepDns] };
}

type X509Module = typeof import('@peculiar/x509');

async function loadX509(): Promise<X509Module> {
  // @peculiar/x509 resolves its parts through tsyringe, which refuses to load without a Reflect metadata
  // polyfill. Imported only here, when a certificate is made, so that a restart reusing the kept one, and
  // any program embedding startServer, leaves the global Reflect alone.
  await import('reflect-metadata');
  const x509 = await import('@peculiar/x509');
  // Node's WebCrypto, as the global the library's types name (the same object as node:crypto's webcrypto).
  x509.cryptoProvider.set(globalThis.crypto);
  return x509;
}

async function makeCertificate(
  names: CertificateNames,
  commonName: string,
  now: Date,
): Promise<{ cert: string; key: string }> {
  let x509: X509Module;
  try {
    x509 = await loadX509();
  } catch (err) {
    throw new SelfSignedCertError(
      `cannot make a TLS certificate: ${(err as Error).message}: reinstall with npm install, or pass --tls-cert and --tls-key`,
    );
  }
  const algorithm = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
  const keys = await webcrypto.subtle.generateKey(algorithm, true, ['sign', 'verify']);
  // RFC 5280: a positive serial of at most 20 bytes; random, so no two of our certificates share one.
  const serial = randomBytes(16);
  serial[0] = (serial[0] as number) & 0x7f;
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial.toString('hex'),
    name: [{ CN: [commonName] }],
    notBefore: new Date(now.getTime() - BACKDATE_MS),
    notAfter: new Date(now.getTime() + VALID_DAYS * DAY_MS),
    signingAlgorithm: algorithm,
    keys,
    extensions: [
      // Not a CA: a person who installs it as trusted on a phone trusts this server, and nothing it
      // could sign.
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension([
        ...names.ips.map((value) => ({ type: 'ip' as const, value })),
        ...names.dns.map((value) => ({ type: 'dns' as const, value })),
      ]),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  const key = KeyObject.from(keys.privateKey).export({ type: 'pkcs8', format: 'pem' }) as string;
  return { cert: cert.toString('pem'), key };
}

async function writeFiles(
  dir: string,
  files: { file: string; content: string; mode: number }[],
): Promise<void> {
  try {
    // Private to the user: the folder holds a private key.
    await mkdir(dir, { recursive: true, mode: 0o700 });
    for (const { file, content, mode } of files) {
      // Written whole under another name, then renamed: a reader never sees half a file.
      const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
      try {
        await writeFile(tmp, content, { mode, flag: 'wx' });
        await rename(tmp, file);
      } finally {
        await rm(tmp, { force: true });
      }
    }
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    throw new SelfSignedCertError(
      `cannot keep the self-made TLS certificate in ${dir} (${reason}): pass --state-dir with a folder you can write, or --tls-cert and --tls-key`,
    );
  }
}
