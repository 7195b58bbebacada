import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { after, before, describe, it } from 'node:test';
import WebSocket from 'ws';
import { serveCommand } from '../../src/cli/serve.js';
import {
  ClientError,
  connect,
  connectWithReconnect,
  type FramewireClient,
  TlsError,
} from '../../src/client/index.js';
import { decodeMessage, encodeMessage, type Message, PROTOCOL_VERSION } from '../../src/protocol/index.js';
import type { DecoderConfig, FrameMessage } from '../../src/protocol/messages.js';
import { type RelayServer, startServer, TlsConfigError } from '../../src/server/index.js';
import { makeTestPki, type TestPki } from '../helpers/tls-certs.js';
import { WireClient } from '../helpers/wire-client.js';

const config: DecoderConfig = { codec: 'vp8', codedWidth: 320, codedHeight: 240 };

function payload(i: number, size: number): Uint8Array {
  const p = new Uint8Array(size);
  for (let j = 0; j < size; j++) p[j] = (i * 31 + j * 7) & 0xff;
  return p;
}

/** Polls until `probe` returns a value, or fails at the deadline. */
async function until<T>(probe: () => T | undefined | false, what: string, ms = 5000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = probe();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** GET over HTTPS trusting `ca`; resolves with status and body. */
function httpsGet(
  port: number,
  path: string,
  ca: Buffer | undefined,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    https
      .get({ host: '127.0.0.1', port, path, ca }, (res) => {
        let body = '';
        res.setEncoding('utf8').on('data', (s: string) => {
          body += s;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      })
      .on('error', reject);
  });
}

describe('TLS on both ports', { timeout: 60_000 }, () => {
  let pki: TestPki;
  let server: RelayServer;
  const logs: string[] = [];
  const clients: FramewireClient[] = [];
  const open = async (role: 'publisher' | 'viewer', ca: Buffer | undefined = pki.ca) => {
    const c = await connect({ host: '127.0.0.1', port: server.tcpPort, role, tls: { ca }, timeoutMs: 3000 });
    clients.push(c);
    return c;
  };

  before(async () => {
    pki = makeTestPki();
    server = await startServer({
      tcpPort: 0,
      httpPort: 0,
      tlsCert: pki.certFile,
      tlsKey: pki.keyFile,
      log: (line) => logs.push(line),
    });
  });
  after(async () => {
    for (const c of clients) await c.close();
    await server.close();
    rmSync(pki.dir, { recursive: true, force: true });
  });

  it('says tls:// and https:// in its listening line', () => {
    assert.equal(server.tls, true);
    assert.equal(server.tcpUrl, `tls://127.0.0.1:${server.tcpPort}`);
    assert.equal(server.httpUrl, `https://127.0.0.1:${server.httpPort}`);
    const listening = logs.find((l) => / listening /.test(l));
    assert.match(listening ?? '', new RegExp(`tcp=tls://127\\.0\\.0\\.1:${server.tcpPort} `));
    assert.match(listening ?? '', new RegExp(`http=https://127\\.0\\.0\\.1:${server.httpPort} `));
  });

  it('relays a TLS publisher to a TLS viewer, bytes identical', async () => {
    const pub = await open('publisher');
    const viewer = await open('viewer');
    const publication = await pub.publish('secure', 'cam', { video: config });
    await viewer.subscribe('secure', 'cam');
    const received: FrameMessage[] = [];
    viewer.on('frame', (m) => received.push({ ...m, payload: Uint8Array.from(m.payload) }));
    // Sizes up to past a TLS record (16 KiB), so frames span records. The whole burst stays under the
    // viewer queue's 1 MiB: a TLS socket counts a tick's writes as buffered until the tick ends.
    const sent = Array.from({ length: 60 }, (_, i) => ({
      key: i % 20 === 0,
      timestamp: i * 33_333,
      captureTime: Date.now() * 1000,
      data: payload(i, 300 + i * 400),
    }));
    for (const f of sent) assert.equal(publication.sendFrame(f), true);
    await until(() => received.length === sent.length, '60 frames at the TLS viewer');
    for (const [i, f] of sent.entries()) {
      const r = received[i];
      assert.ok(r);
      assert.equal(r.seq, i);
      assert.equal(r.key, f.key);
      assert.equal(r.timestamp, f.timestamp);
      assert.deepEqual(r.payload, f.data);
    }
    const stream = server.stats().streams.find((s) => s.room === 'secure');
    assert.equal(stream?.viewers[0]?.transport, 'tls');
    publication.unpublish();
  });

  it('serves the JSON API over HTTPS and the protocol over WSS', async () => {
    const api = await httpsGet(server.httpPort, '/api/rooms', pki.ca);
    assert.equal(api.status, 200);
    assert.ok(Array.isArray((JSON.parse(api.body) as { rooms: unknown }).rooms));

    const ws = new WebSocket(`wss://127.0.0.1:${server.httpPort}/ws`, { ca: pki.ca });
    const received: Message[] = [];
    ws.on('message', (data: Buffer) => received.push(decodeMessage(new Uint8Array(data))));
    await new Promise((resolve, reject) => {
      ws.once('open', resolve);
      ws.once('error', reject);
    });
    ws.send(
      encodeMessage({ type: 'hello', version: PROTOCOL_VERSION, role: 'peer', agent: 'test-wss', token: '' }),
    );
    const hello = await until(() => received.find((m) => m.type === 'hello'), 'the hello over WSS');
    assert.equal(hello.type === 'hello' && hello.role, 'server');
    const closed = new Promise((resolve) => ws.once('close', resolve));
    ws.close();
    await closed;
  });

  it('has no plain HTTP on the HTTPS port', async () => {
    const outcome = await new Promise<string>((resolve) => {
      http
        .get({ host: '127.0.0.1', port: server.httpPort, path: '/api/rooms' }, (res) => {
          res.resume();
          resolve(`status ${res.statusCode}`);
        })
        .on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
    });
    assert.notEqual(outcome, 'status 200');
  });

  it('refuses a client that does not trust the CA with FW_TLS_FAILED (untrusted)', async () => {
    await assert.rejects(
      connect({ host: '127.0.0.1', port: server.tcpPort, role: 'viewer', tls: {}, timeoutMs: 3000 }),
      (err: unknown) => {
        assert.ok(err instanceof TlsError, String(err));
        assert.ok(err instanceof ClientError);
        assert.equal(err.code, 'FW_TLS_FAILED');
        assert.equal(err.failure, 'untrusted');
        return true;
      },
    );
    // HTTPS and WSS clients without the CA are refused by their own TLS check.
    await assert.rejects(httpsGet(server.httpPort, '/api/rooms', undefined), {
      code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
    });
    const ws = new WebSocket(`wss://127.0.0.1:${server.httpPort}/ws`);
    const wsError = await new Promise<NodeJS.ErrnoException>((resolve) => ws.once('error', resolve));
    assert.equal(wsError.code, 'UNABLE_TO_VERIFY_LEAF_SIGNATURE');
  });

  it('refuses a certificate for another name (wrong-host) and a server without TLS (not-tls)', async () => {
    const other = await startServer({
      tcpPort: 0,
      httpPort: 0,
      tlsCert: pki.otherCertFile,
      tlsKey: pki.otherKeyFile,
      log: () => {},
    });
    const plain = await startServer({ tcpPort: 0, httpPort: 0, log: () => {} });
    try {
      const failure = (port: number) =>
        connect({ host: '127.0.0.1', port, role: 'viewer', tls: { ca: pki.ca }, timeoutMs: 3000 }).then(
          () => 'connected',
          (err: unknown) => (err instanceof TlsError ? err.failure : String(err)),
        );
      assert.equal(await failure(other.tcpPort), 'wrong-host');
      assert.equal(await failure(plain.tcpPort), 'not-tls');
    } finally {
      await other.close();
      await plain.close();
    }
  });

  it('disconnects a plain TCP client on the TLS port, logs it, and keeps serving', async () => {
    const before = logs.length;
    const plainClient = await WireClient.connect(server.tcpPort);
    plainClient.send({ type: 'hello', version: PROTOCOL_VERSION, role: 'viewer', agent: 'plain', token: '' });
    await plainClient.closed;
    assert.equal(plainClient.received.length, 0);
    const line = await until(
      () => logs.slice(before).find((l) => / tls-error /.test(l)),
      'a tls-error log line',
    );
    assert.match(line, /port=tcp remote=127\.0\.0\.1:\d+ error=\S+/);
    // Never became a connection, so nothing to clean up; the next TLS client is served as usual.
    assert.equal(
      logs.slice(before).some((l) => / connect /.test(l)),
      false,
    );
    const viewer = await open('viewer');
    assert.ok((await viewer.ping()) >= 0);
  });
});

describe('TLS settings at start', () => {
  let pki: TestPki;
  before(() => {
    pki = makeTestPki();
  });
  after(() => rmSync(pki.dir, { recursive: true, force: true }));

  const start = (tlsCert: string | null, tlsKey: string | null) =>
    startServer({ tcpPort: 0, httpPort: 0, tlsCert, tlsKey, log: () => {} });

  it('refuses one of the pair without the other, an unreadable file, and a key of another certificate', async () => {
    const refused = async (p: Promise<RelayServer>, pattern: RegExp) => {
      await assert.rejects(p, (err: unknown) => {
        assert.ok(err instanceof TlsConfigError, String(err));
        assert.equal(err.code, 'FW_BAD_TLS');
        assert.match(err.message, pattern);
        return true;
      });
    };
    await refused(start(pki.certFile, null), /tlsCert is set but tlsKey is not/);
    await refused(start(null, pki.keyFile), /tlsKey is set but tlsCert is not/);
    await refused(
      start('/nonexistent/cert.pem', pki.keyFile),
      /cannot read TLS certificate \/nonexistent\/cert\.pem/,
    );
    await refused(start(pki.certFile, pki.dir), /cannot read TLS private key .*fw-tls-/);
    await refused(
      start(pki.certFile, pki.otherKeyFile),
      /cannot use TLS certificate .*server\.pem with key .*other\.key/,
    );
  });

  it('serve refuses --tls-cert without --tls-key (usage error, nothing listens)', async () => {
    const out: string[] = [];
    const sink = { write: (s: string) => out.push(s) } as unknown as NodeJS.WriteStream;
    await assert.rejects(
      serveCommand.run(['--tls-cert', pki.certFile, '--tcp-port', '0', '--http-port', '0'], {
        stdout: sink,
        stderr: sink,
        signal: new AbortController().signal,
      }),
      (err: unknown) => {
        const e = err as { exitCode?: number; message: string };
        assert.equal(e.exitCode, 2);
        assert.match(e.message, /--tls-cert needs --tls-key too/);
        return true;
      },
    );
    assert.deepEqual(out, []);
  });
});

describe('reconnecting over TLS', { timeout: 30_000 }, () => {
  it('reconnects to a restarted TLS server and subscribes again', async () => {
    const pki = makeTestPki();
    const tls = { tlsCert: pki.certFile, tlsKey: pki.keyFile, log: () => {} };
    let server = await startServer({ tcpPort: 0, httpPort: 0, ...tls });
    const port = server.tcpPort;
    const client = await connectWithReconnect({
      host: '127.0.0.1',
      port,
      role: 'viewer',
      tls: { ca: pki.ca },
      minDelayMs: 50,
      maxDelayMs: 200,
    });
    try {
      await client.subscribe('again');
      const reconnected = new Promise<void>((resolve) => client.once('reconnected', resolve));
      await server.close();
      server = await startServer({ tcpPort: port, httpPort: 0, ...tls });
      await reconnected;
      assert.equal(client.connected, true);
      // The subscription came back over the new TLS connection.
      await until(
        () => server.stats().rooms.some((r) => r.name === 'again' && r.viewers === 1),
        'the re-subscribed viewer',
      );
    } finally {
      await client.close();
      await server.close();
      rmSync(pki.dir, { recursive: true, force: true });
    }
  });
});
