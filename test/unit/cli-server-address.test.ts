// `--server`: one address or the nodes of a cluster, comma-separated.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseServer } from '../../src/cli/server-address.js';

describe('parseServer', () => {
  it('reads one address as before, with no alternates', () => {
    assert.deepEqual(parseServer('watch', 'tls://relay.example:7430'), {
      host: 'relay.example',
      port: 7430,
      tls: true,
    });
  });

  it('reads several nodes: the first to try, then the alternates in order', () => {
    assert.deepEqual(parseServer('watch', 'a:7420, b:7421,tcp://[::1]:7422'), {
      host: 'a',
      port: 7420,
      tls: false,
      alternates: [
        { host: 'b', port: 7421 },
        { host: '::1', port: 7422 },
      ],
    });
  });

  it('refuses nodes of which some speak TLS and some do not', () => {
    assert.throws(() => parseServer('publish', 'tls://a:7420,b:7420'), /all tcp:\/\/ or all tls:\/\//);
  });
});
