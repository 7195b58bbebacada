// HTTPS without homework: `serve` beyond loopback makes its own certificate, keeps it across restarts, says
// how to trust it, and the CLI trusts it with --ca. The server listens on 0.0.0.0, but every connection
// here goes to 127.0.0.1 (which the certificate names too).
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import {
  exited,
  poll,
  probe,
  publishTestPattern,
  ROOT,
  run,
  started,
  tempDirForFile,
} from '../helpers/cli.js';

const tmp = tempDirForFile('fw-self-signed-', { build: true });

/** A running `framewire serve` whose stdout and stderr are kept as they come. */
interface Serving {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
}

function startServe(args: string[]): Serving {
  const child = spawn(process.execPath, [join(ROOT, 'bin/framewire'), 'serve', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  started.add(child);
  child.on('close', () => started.delete(child));
  let stdout = '';
  let stderr = '';
  child.stdout?.setEncoding('utf8').on('data', (s: string) => {
    stdout += s;
  });
  child.stderr?.setEncoding('utf8').on('data', (s: string) => {
    stderr += s;
  });
  return { child, stdout: () => stdout, stderr: () => stderr };
}

/** Waits until stdout has a line matching `pattern` (failing at once if serve exits), and returns its match. */
function line(s: Serving, pattern: RegExp, what: string): Promise<RegExpExecArray> {
  return poll(
    () => {
      if (s.child.exitCode !== null) throw new Error(`serve exited with ${s.child.exitCode}\n${s.stderr()}`);
      return pattern.exec(s.stdout()) ?? undefined;
    },
    10_000,
    `${what} in serve's output\n${s.stdout()}`,
  );
}

/** SIGTERM, then everything it printed. */
async function stop(s: Serving): Promise<string> {
  s.child.kill('SIGTERM');
  await exited(s.child);
  return s.stdout();
}

/** GET `url` over HTTPS trusting only `ca` (or Node's default CAs): status and body. */
function httpsGet(url: string, ca?: Buffer): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    https
      .get(url, { ca }, (res) => {
        let body = '';
        res.setEncoding('utf8').on('data', (s: string) => {
          body += s;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      })
      .on('error', reject);
  });
}

/** The non-internal IPv4 addresses: what serve on 0.0.0.0 should tell people to open. */
function lanIpv4(): string[] {
  return Object.values(os.networkInterfaces())
    .flatMap((list) => list ?? [])
    .filter((i) => !i.internal && i.family === 'IPv4')
    .map((i) => i.address);
}

describe('serve beyond loopback with a certificate it makes itself', { timeout: 90_000 }, () => {
  let serving: Serving;
  let tcpPort = 0;
  let httpPort = 0;
  let certFile = '';
  let fingerprint = '';

  it('prints tls:// and https://, where to open it, the certificate, its fingerprint, and --ca', async () => {
    const stateDir = join(tmp(), 'state');
    serving = startServe([
      '--host',
      '0.0.0.0',
      '--tcp-port',
      '0',
      '--http-port',
      '0',
      '--state-dir',
      stateDir,
    ]);
    const cli = await line(serving, /^framewire CLI clients: .*$/m, 'the CLI line');
    const out = serving.stdout().split('\n');
    // The first two lines keep their form: scripts read them.
    const tcp = /^framewire listening on tls:\/\/0\.0\.0\.0:(\d+)$/.exec(out[0] ?? '');
    const http = /^framewire web app and API on https:\/\/0\.0\.0\.0:(\d+)$/.exec(out[1] ?? '');
    assert.ok(tcp && http, out.join('\n'));
    tcpPort = Number(tcp[1]);
    httpPort = Number(http[1]);

    const open = out.filter((l) => l.startsWith('framewire open from other machines: '));
    const expected = lanIpv4().map((ip) => `framewire open from other machines: https://${ip}:${httpPort}`);
    // A machine with no network at all says so instead.
    const none = 'framewire open from other machines: none found (this machine has no network address now)';
    assert.deepEqual(open, expected.length > 0 ? expected : [none]);

    certFile = join(stateDir, 'tls', 'self-signed-cert.pem');
    const certLine = out.find((l) => l.startsWith('framewire TLS certificate '));
    assert.match(
      certLine ?? '',
      /^framewire TLS certificate \(self-signed by framewire, valid until \d{4}-\d\d-\d\d\): (.+)$/,
    );
    assert.ok(certLine?.endsWith(`: ${certFile}`), certLine);
    const cert = new X509Certificate(readFileSync(certFile));
    fingerprint = cert.fingerprint256;
    assert.ok(out.includes(`framewire certificate SHA-256 fingerprint: ${fingerprint}`), out.join('\n'));
    assert.ok(out.some((l) => /^framewire browsers warn once about it: /.test(l)));
    const first = lanIpv4()[0] ?? '127.0.0.1';
    assert.equal(cli[0], `framewire CLI clients: --server tls://${first}:${tcpPort} --ca ${certFile}`);

    // The names: loopback, localhost, this machine's name and every interface address.
    assert.equal(cert.checkIP('127.0.0.1'), '127.0.0.1');
    assert.equal(cert.checkIP('::1'), '::1');
    assert.equal(cert.checkHost('localhost', { subject: 'never' }), 'localhost');
    assert.ok(cert.checkHost(os.hostname().toLowerCase(), { subject: 'never' }), cert.subjectAltName);
    for (const info of Object.values(os.networkInterfaces()).flatMap((l) => l ?? [])) {
      assert.ok(cert.checkIP(info.address), `${info.address} is not in ${cert.subjectAltName}`);
    }
    assert.equal(cert.ca, false);
    assert.equal(statSync(join(stateDir, 'tls', 'self-signed-key.pem')).mode & 0o777, 0o600);
    assert.match(serving.stderr(), / tls-self-signed action=created reason="none was kept yet" /);
  });

  it('an HTTPS GET of the page trusts it with the certificate as CA, and not without', async () => {
    const url = `https://127.0.0.1:${httpPort}/`;
    const page = await httpsGet(url, readFileSync(certFile));
    assert.equal(page.status, 200);
    assert.match(page.body, /<html/i);
    await assert.rejects(
      httpsGet(url),
      (err: NodeJS.ErrnoException) => err.code === 'DEPTH_ZERO_SELF_SIGNED_CERT',
    );
  });

  it('publish and watch with --server tls://127.0.0.1:P --ca CERTFILE carry a stream', async () => {
    const server = `tls://127.0.0.1:${tcpPort}`;
    const out = join(tmp(), 'self-signed.webm');
    const watching = run(
      ['watch', '--server', server, '--ca', certFile, '--room', 'lan', '--out', out, '--duration', '4'],
      20_000,
    );
    const publishing = publishTestPattern(tcpPort, 'lan', 'cam', { durationSec: 3, server, ca: certFile });
    const [pub, watch] = await Promise.all([publishing, watching]);
    assert.equal(pub.code, 0, pub.stderr);
    assert.equal(watch.code, 0, watch.stderr);
    const { frames } = await probe(out);
    // 3 s at 15 fps is 45 frames; the watcher may join a little after the first.
    assert.ok(frames > 20, `only ${frames} frames recorded`);
  });

  it('watch without --ca is refused: not trusted, pass --ca', async () => {
    const r = await run([
      'watch',
      '--server',
      `tls://127.0.0.1:${tcpPort}`,
      '--room',
      'lan',
      '--duration',
      '1',
    ]);
    assert.equal(r.code, 1);
    assert.match(
      r.stderr,
      /^framewire: the server's certificate is not trusted \(.+\): pass --ca FILE with the CA that signed it\n$/,
    );
  });

  it('a restart reuses it: same file, same fingerprint', async () => {
    await stop(serving);
    const pem = readFileSync(certFile, 'utf8');
    const stateDir = join(tmp(), 'state');
    const again = startServe([
      '--host',
      '0.0.0.0',
      '--tcp-port',
      '0',
      '--http-port',
      '0',
      '--state-dir',
      stateDir,
    ]);
    await line(again, /^framewire CLI clients: /m, 'the CLI line');
    assert.ok(
      again.stdout().includes(`framewire certificate SHA-256 fingerprint: ${fingerprint}\n`),
      again.stdout(),
    );
    assert.equal(readFileSync(certFile, 'utf8'), pem);
    assert.match(again.stderr(), / tls-self-signed action=reused /);
    await stop(again);
  });
});

describe('serve without a self-made certificate', { timeout: 30_000 }, () => {
  it('--no-tls on 0.0.0.0: tcp:// and http://, nothing about certificates, nothing kept', async () => {
    const stateDir = join(tmp(), 'no-tls');
    const s = startServe([
      '--host',
      '0.0.0.0',
      '--no-tls',
      '--tcp-port',
      '0',
      '--http-port',
      '0',
      '--state-dir',
      stateDir,
    ]);
    await line(s, /^framewire web app and API on /m, 'the HTTP line');
    const out = (await stop(s)).split('\n');
    assert.match(out[0] ?? '', /^framewire listening on tcp:\/\/0\.0\.0\.0:\d+$/);
    assert.match(out[1] ?? '', /^framewire web app and API on http:\/\/0\.0\.0\.0:\d+$/);
    assert.deepEqual(out.slice(2), ['']);
    assert.equal(existsSync(stateDir), false);
  });

  it('on 127.0.0.1 (the default): plain, as before, and nothing kept', async () => {
    const stateDir = join(tmp(), 'loopback');
    const s = startServe(['--tcp-port', '0', '--http-port', '0', '--state-dir', stateDir]);
    await line(s, /^framewire web app and API on /m, 'the HTTP line');
    const out = (await stop(s)).split('\n');
    assert.match(out[0] ?? '', /^framewire listening on tcp:\/\/127\.0\.0\.1:\d+$/);
    assert.deepEqual(out.slice(2), ['']);
    assert.equal(existsSync(stateDir), false);
  });

  it('--no-tls with --tls-cert is a usage error', async () => {
    const r = await run([
      'serve',
      '--host',
      '0.0.0.0',
      '--no-tls',
      '--tls-cert',
      'cert.pem',
      '--tls-key',
      'key.pem',
    ]);
    assert.equal(r.code, 2);
    assert.equal(r.stdout, '');
    assert.equal(
      r.stderr,
      'framewire: --no-tls (plain TCP and HTTP) and --tls-cert (TLS) cannot go together: keep one: see `framewire serve --help`\n',
    );
  });
});
