import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { NAME_PATTERN } from '../../src/protocol/index.js';
import { ClusterError, clusterSettings, parseHostPort } from '../../src/server/cluster/config.js';
import { decodeEntry, directoryKey, encodeEntry } from '../../src/server/cluster/directory.js';

/** NATS KV keys: tokens of these characters separated by single dots, none empty. */
const KV_KEY = /^[-/_=a-zA-Z0-9]+(\.[-/_=a-zA-Z0-9]+)*$/;

const name = fc.stringMatching(NAME_PATTERN);

describe('cluster directory entries', () => {
  it('maps every room and stream name to a valid KV key, one to one', () => {
    fc.assert(
      fc.property(name, name, name, name, (r1, n1, r2, n2) => {
        const k1 = directoryKey(r1, n1);
        assert.match(k1, KV_KEY);
        assert.equal(k1 === directoryKey(r2, n2), r1 === r2 && n1 === n2);
      }),
    );
  });

  it('keeps tracks exact, decoder descriptions included', () => {
    const entry = {
      room: 'a.b',
      name: 'cam..1',
      node: 'node-a',
      advertise: '10.0.0.1:7420',
      streamId: 42,
      tracks: {
        video: {
          codec: 'avc1.42e01f',
          codedWidth: 640,
          codedHeight: 480,
          description: new Uint8Array([1, 2, 3]),
        },
        audio: { codec: 'opus', sampleRate: 48000, numberOfChannels: 2 },
        screen: true,
      },
    };
    assert.deepEqual(decodeEntry(new TextEncoder().encode(encodeEntry(entry))), entry);
  });

  it('reads anything else as no entry, never a throw', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        decodeEntry(bytes);
      }),
    );
    assert.equal(decodeEntry(new TextEncoder().encode('{"node":"x","advertise":"y","added":"AAAA"}')), null);
    assert.equal(decodeEntry(new TextEncoder().encode('not json')), null);
  });
});

describe('cluster settings', () => {
  it('fills defaults and takes the listen address as advertise', () => {
    const s = clusterSettings({ servers: ['nats://127.0.0.1:4222'] }, '127.0.0.1:7420');
    assert.equal(s.advertise, '127.0.0.1:7420');
    assert.equal(s.lingerMs, 5000);
    assert.match(s.nodeName, /^[A-Za-z0-9][A-Za-z0-9_-]*$/);
  });

  it('refuses what cannot work, with FW_BAD_CONFIG', () => {
    const bad = [
      { servers: [] },
      { servers: ['http://x:4222'] },
      { servers: ['nats://x:4222'], nodeName: 'a.b' },
      { servers: ['nats://x:4222'], advertise: 'nohost' },
      { servers: ['nats://x:4222'], heartbeatMs: 1000, nodeTimeoutMs: 1500 },
    ];
    for (const config of bad) {
      assert.throws(
        () => clusterSettings(config, '127.0.0.1:7420'),
        (err: unknown) => err instanceof ClusterError && err.code === 'FW_BAD_CONFIG',
      );
    }
    assert.deepEqual(parseHostPort('[::1]:7420'), { host: '::1', port: 7420 });
  });
});
