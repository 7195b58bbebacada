import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ensureBuilt, killStarted, probe, publishTestPattern, run, serve } from '../helpers/cli.js';
import { makeTestPki, type TestPki } from '../helpers/tls-certs.js';

let pki: TestPki;

before(() => {
  ensureBuilt(['dist/cli/main.js', 'dist/server/tls.js']);
  pki = makeTestPki();
});

after(async () => {
  await killStarted();
  rmSync(pki.dir, { recursive: true, force: true });
});

describe('the CLI over TLS', { timeout: 60_000 }, () => {
  it('serve --tls-cert/--tls-key; publish and watch with --server tls:// --ca record the stream', async () => {
    const server = await serve({ tcp: 0, http: 0 }, process.env, [
      '--tls-cert',
      pki.certFile,
      '--tls-key',
      pki.keyFile,
    ]);
    assert.equal(server.tls, true);
    const url = `tls://127.0.0.1:${server.port}`;
    const out = join(pki.dir, 'x.webm');
    const watching = run(
      ['watch', '--server', url, '--ca', pki.caFile, '--room', 'tls', '--out', out, '--duration', '4'],
      20_000,
    );
    const publishing = publishTestPattern(server.port, 'tls', 'cam', {
      durationSec: 3,
      server: url,
      ca: pki.caFile,
    });
    const [pub, watch] = await Promise.all([publishing, watching]);
    assert.equal(pub.code, 0, pub.stderr);
    assert.equal(watch.code, 0, watch.stderr);
    const { codec, frames } = await probe(out);
    assert.equal(codec, 'vp8');
    // 3 s at 15 fps is 45 frames; the watcher may join a little after the first.
    assert.ok(frames > 20, `only ${frames} frames recorded`);
    server.child.kill('SIGTERM');
  });

  it('watch without --ca: exit 1 with the untrusted-certificate line, no stack', async () => {
    const server = await serve({ tcp: 0, http: 0 }, process.env, [
      '--tls-cert',
      pki.certFile,
      '--tls-key',
      pki.keyFile,
    ]);
    const r = await run([
      'watch',
      '--server',
      `tls://127.0.0.1:${server.port}`,
      '--room',
      'tls',
      '--duration',
      '1',
    ]);
    assert.equal(r.code, 1);
    assert.match(
      r.stderr,
      /^framewire: the server's certificate is not trusted \(.+\): pass --ca FILE with the CA that signed it\n$/,
    );
    server.child.kill('SIGTERM');
  });

  it('refuses --tls-cert without --tls-key, --ca without tls://, and an http:// --server (usage errors)', async () => {
    const serveOnlyCert = await run([
      'serve',
      '--tls-cert',
      pki.certFile,
      '--tcp-port',
      '0',
      '--http-port',
      '0',
    ]);
    assert.equal(serveOnlyCert.code, 2);
    assert.equal(serveOnlyCert.stdout, '');
    assert.match(serveOnlyCert.stderr, /^framewire: --tls-cert needs --tls-key too .*framewire serve --help/);

    const caPlain = await run(['watch', '--server', '127.0.0.1:1', '--ca', pki.caFile, '--room', 'tls']);
    assert.equal(caPlain.code, 2);
    assert.match(caPlain.stderr, /--ca only applies to a tls:\/\/ --server/);

    const http = await run(['watch', '--server', 'https://127.0.0.1:7480', '--room', 'tls']);
    assert.equal(http.code, 2);
    assert.match(http.stderr, /the scheme is tcp:\/\/ or tls:\/\//);
  });
});
