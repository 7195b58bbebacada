// The self-made certificate on a real disk with real keys: made once, kept across restarts, and made anew
// (with the reason logged) when it no longer fits.
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import type { Log, LogFields } from '../../src/server/core/log.js';
import type { CertificateNames } from '../../src/server/ops/addresses.js';
import {
  ensureSelfSignedCert,
  SelfSignedCertError,
  selfSignedFiles,
} from '../../src/server/ops/self-signed.js';

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function stateDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'fw-state-'));
  dirs.push(d);
  return d;
}

/** A log that keeps its events, to read what was done and why. */
function recordingLog(): Log & { events: { event: string; fields: LogFields }[] } {
  const events: { event: string; fields: LogFields }[] = [];
  const keep = (event: string, fields: LogFields = {}) => {
    events.push({ event, fields });
  };
  return { events, info: keep, warn: keep, error: keep };
}

const NAMES: CertificateNames = { ips: ['127.0.0.1', '::1', '192.0.2.2'], dns: ['localhost', 'vm'] };
const DAY = 24 * 3600 * 1000;

describe('the self-made certificate', () => {
  it('is an ECDSA P-256 server certificate, not a CA, valid under 398 days, naming every name', async () => {
    const dir = stateDir();
    const log = recordingLog();
    const made = await ensureSelfSignedCert({
      stateDir: dir,
      names: NAMES,
      commonName: 'framewire on vm',
      log,
    });
    assert.deepEqual(made, {
      ...selfSignedFiles(dir),
      fingerprint256: made.fingerprint256,
      validTo: made.validTo,
      madeBecause: 'none was kept yet',
    });
    const cert = new X509Certificate(readFileSync(made.certFile));
    assert.equal(cert.fingerprint256, made.fingerprint256);
    assert.match(made.fingerprint256, /^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
    assert.equal(cert.ca, false);
    assert.deepEqual(cert.keyUsage, ['1.3.6.1.5.5.7.3.1'], 'extended key usage: serverAuth only');
    assert.equal(cert.publicKey.asymmetricKeyType, 'ec');
    assert.equal(cert.publicKey.asymmetricKeyDetails?.namedCurve, 'prime256v1');
    assert.equal(cert.subject, 'CN=framewire on vm');
    assert.ok(cert.verify(cert.publicKey), 'signed by its own key');
    const days = (Date.parse(cert.validTo) - Date.parse(cert.validFrom)) / DAY;
    assert.ok(days > 300 && days < 398, `valid for ${days} days`);
    for (const ip of NAMES.ips) assert.equal(cert.checkIP(ip), ip);
    for (const name of NAMES.dns) assert.equal(cert.checkHost(name, { subject: 'never' }), name);
    assert.equal(statSync(made.keyFile).mode & 0o777, 0o600, 'the key is private to the user');
    assert.equal(statSync(join(dir, 'tls')).mode & 0o777, 0o700);
    assert.equal(log.events[0]?.fields.action, 'created');
  });

  it('is reused while it fits: same fingerprint, same files', async () => {
    const dir = stateDir();
    const first = await ensureSelfSignedCert({
      stateDir: dir,
      names: NAMES,
      commonName: 'x',
      log: recordingLog(),
    });
    const pem = readFileSync(first.certFile, 'utf8');
    const log = recordingLog();
    // A name the certificate carries already, and 300 days on: still reused.
    const later = new Date(Date.now() + 300 * DAY);
    const again = await ensureSelfSignedCert({
      stateDir: dir,
      names: { ips: ['192.0.2.2'], dns: [] },
      commonName: 'x',
      log,
      now: later,
    });
    assert.equal(again.fingerprint256, first.fingerprint256);
    assert.equal(again.madeBecause, null);
    assert.equal(readFileSync(first.certFile, 'utf8'), pem);
    assert.equal(log.events[0]?.fields.action, 'reused');
  });

  it('is made anew for an address it does not name, keeping the names it had', async () => {
    const dir = stateDir();
    const first = await ensureSelfSignedCert({
      stateDir: dir,
      names: NAMES,
      commonName: 'x',
      log: recordingLog(),
    });
    const log = recordingLog();
    const moved = { ips: ['127.0.0.1', '::1', '198.51.100.4'], dns: ['localhost', 'vm'] };
    const renewed = await ensureSelfSignedCert({ stateDir: dir, names: moved, commonName: 'x', log });
    assert.notEqual(renewed.fingerprint256, first.fingerprint256);
    assert.equal(renewed.madeBecause, 'it does not name 198.51.100.4');
    assert.deepEqual(
      { action: log.events[0]?.fields.action, reason: log.events[0]?.fields.reason },
      { action: 'renewed', reason: 'it does not name 198.51.100.4' },
    );
    const cert = new X509Certificate(readFileSync(renewed.certFile));
    // The address of the network the machine was on before stays, so going back does not change it again.
    for (const ip of ['198.51.100.4', '192.0.2.2']) assert.equal(cert.checkIP(ip), ip);
  });

  it('is made anew a month before it expires, and once it has', async () => {
    for (const days of [340, 400]) {
      const dir = stateDir();
      await ensureSelfSignedCert({ stateDir: dir, names: NAMES, commonName: 'x', log: recordingLog() });
      const now = new Date(Date.now() + days * DAY);
      const renewed = await ensureSelfSignedCert({
        stateDir: dir,
        names: NAMES,
        commonName: 'x',
        log: recordingLog(),
        now,
      });
      assert.match(renewed.madeBecause ?? '', days < 365 ? /^it expires on / : /^it expired on /);
      assert.ok(renewed.validTo.getTime() > now.getTime() + 300 * DAY, 'valid for a year from then');
    }
  });

  it('is made anew when the kept files are damaged or do not belong together', async () => {
    const dir = stateDir();
    const { certFile, keyFile } = selfSignedFiles(dir);
    await ensureSelfSignedCert({ stateDir: dir, names: NAMES, commonName: 'x', log: recordingLog() });
    writeFileSync(certFile, 'not a certificate');
    let made = await ensureSelfSignedCert({
      stateDir: dir,
      names: NAMES,
      commonName: 'x',
      log: recordingLog(),
    });
    assert.match(made.madeBecause ?? '', /^the kept one is unusable/);

    // A key from another pair (as a crash between the two renames would leave).
    const other = stateDir();
    await ensureSelfSignedCert({ stateDir: other, names: NAMES, commonName: 'x', log: recordingLog() });
    writeFileSync(keyFile, readFileSync(selfSignedFiles(other).keyFile));
    made = await ensureSelfSignedCert({ stateDir: dir, names: NAMES, commonName: 'x', log: recordingLog() });
    assert.equal(made.madeBecause, 'its key does not match it');

    writeFileSync(keyFile, 'garbage');
    made = await ensureSelfSignedCert({ stateDir: dir, names: NAMES, commonName: 'x', log: recordingLog() });
    assert.match(made.madeBecause ?? '', /^its key is unusable/);
    const again = await ensureSelfSignedCert({
      stateDir: dir,
      names: NAMES,
      commonName: 'x',
      log: recordingLog(),
    });
    assert.equal(again.madeBecause, null, 'the repaired pair is kept');
  });

  it('a folder that cannot be written is a SelfSignedCertError saying what to do', async () => {
    const blocker = join(stateDir(), 'a-file');
    writeFileSync(blocker, '');
    await assert.rejects(
      ensureSelfSignedCert({ stateDir: blocker, names: NAMES, commonName: 'x', log: recordingLog() }),
      (err: unknown) =>
        err instanceof SelfSignedCertError &&
        err.code === 'FW_SELF_SIGNED_CERT' &&
        /cannot keep the self-made TLS certificate in .*a-file\/tls \(ENOTDIR\): pass --state-dir/.test(
          err.message,
        ),
    );
  });
});
