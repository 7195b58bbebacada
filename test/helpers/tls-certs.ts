import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A throwaway CA and server certificates it signed, as PEM files in a temp dir. */
export interface TestPki {
  dir: string;
  /** The CA certificate: what clients pass as --ca. */
  caFile: string;
  ca: Buffer;
  /** Server certificate for 127.0.0.1 and localhost (subjectAltName), and its key. */
  certFile: string;
  keyFile: string;
  /** Server certificate for other.example only: right CA, wrong name for 127.0.0.1. */
  otherCertFile: string;
  otherKeyFile: string;
}

function openssl(dir: string, args: string[]): void {
  const r = spawnSync('openssl', args, { cwd: dir, encoding: 'utf8' });
  if (r.error)
    throw new Error(`openssl not found (${r.error.message}): install it with apt-get install openssl`);
  if (r.status !== 0) throw new Error(`openssl ${args.join(' ')} failed:\n${r.stderr}`);
}

// P-256 keys: quick to make, so each test run gets fresh ones.
const EC_KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

function serverCert(dir: string, name: string, altNames: string): void {
  openssl(dir, ['req', ...EC_KEY, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name}`]);
  writeFileSync(
    join(dir, `${name}.ext`),
    `subjectAltName=${altNames}\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n`,
  );
  openssl(dir, [
    'x509',
    '-req',
    '-in',
    `${name}.csr`,
    '-CA',
    'ca.pem',
    '-CAkey',
    'ca.key',
    '-CAcreateserial',
    '-days',
    '2',
    '-extfile',
    `${name}.ext`,
    '-out',
    `${name}.pem`,
  ]);
}

/** Makes the CA and the server certificates with the openssl command line. */
export function makeTestPki(): TestPki {
  const dir = mkdtempSync(join(tmpdir(), 'fw-tls-'));
  openssl(dir, [
    'req',
    '-x509',
    ...EC_KEY,
    '-keyout',
    'ca.key',
    '-out',
    'ca.pem',
    '-days',
    '2',
    '-subj',
    '/CN=framewire test CA',
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
  ]);
  serverCert(dir, 'server', 'IP:127.0.0.1,DNS:localhost');
  serverCert(dir, 'other', 'DNS:other.example');
  return {
    dir,
    caFile: join(dir, 'ca.pem'),
    ca: readFileSync(join(dir, 'ca.pem')),
    certFile: join(dir, 'server.pem'),
    keyFile: join(dir, 'server.key'),
    otherCertFile: join(dir, 'other.pem'),
    otherKeyFile: join(dir, 'other.key'),
  };
}
