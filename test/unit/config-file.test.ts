import assert from 'node:assert/strict';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { DEFAULT_CONFIG } from '../../src/server/ops/config.js';
import { ConfigError, loadConfigFile } from '../../src/server/ops/config-file.js';

async function file(content: string): Promise<string> {
  const p = path.join(await mkdtemp(path.join(tmpdir(), 'fw-config-')), 'framewire.json');
  await writeFile(p, content);
  return p;
}

describe('serve --config file', () => {
  it('reads known settings with their types', async () => {
    const p = await file('{ "maxConnectionsPerIp": 2000, "host": "0.0.0.0", "viewerQueueAgeMs": 250 }');
    assert.deepEqual(await loadConfigFile(p), {
      maxConnectionsPerIp: 2000,
      host: '0.0.0.0',
      viewerQueueAgeMs: 250,
    });
  });

  for (const [content, pattern] of [
    ['{ "maxConectionsPerIp": 5 }', /unknown setting "maxConectionsPerIp"/],
    ['{ "maxRooms": "many" }', /"maxRooms" must be an integer from 1 to \d+ \(got "many"\)$/],
    ['{ "host": 7 }', /"host" must be a string$/],
    ['{ "secret": null }', /"secret" must be a string$/],
    ['[1, 2]', /must be a JSON object/],
    ['{ not json', /cannot read config/],
  ] as const) {
    it(`refuses ${content}`, async () => {
      await assert.rejects(
        loadConfigFile(await file(content)),
        (e: unknown) => e instanceof ConfigError && pattern.test(e.message),
      );
    });
  }

  // One per kind of bad value: each message is one line naming the file, the key and the range.
  for (const [name, content, expected] of [
    [
      'a port out of range',
      '{ "tcpPort": 99999 }',
      '"tcpPort" must be an integer from 0 to 65535 (got 99999)',
    ],
    [
      'a negative size',
      '{ "viewerQueueBytes": -1 }',
      `"viewerQueueBytes" must be an integer from 1 to ${Number.MAX_SAFE_INTEGER} (got -1)`,
    ],
    [
      'a zero size',
      '{ "maxMessageBytes": 0 }',
      '"maxMessageBytes" must be an integer from 1 to 4294967291 (got 0)',
    ],
    [
      'a size over what the length prefix carries',
      '{ "maxMessageBytes": 4294967296 }',
      '"maxMessageBytes" must be an integer from 1 to 4294967291 (got 4294967296)',
    ],
    [
      'a zero timeout',
      '{ "helloTimeoutMs": 0 }',
      '"helloTimeoutMs" must be an integer from 1 to 2147483647 (got 0)',
    ],
    [
      'a non-integer count',
      '{ "maxRooms": 2.5 }',
      `"maxRooms" must be an integer from 1 to ${Number.MAX_SAFE_INTEGER} (got 2.5)`,
    ],
    [
      'a timeout over the setTimeout maximum',
      '{ "idleTimeoutMs": 2147483648 }',
      '"idleTimeoutMs" must be an integer from 1 to 2147483647 (got 2147483648)',
    ],
  ] as const) {
    it(`refuses ${name}: ${content}`, async () => {
      const p = await file(content);
      await assert.rejects(loadConfigFile(p), (e: unknown) => {
        assert.ok(e instanceof ConfigError, String(e));
        assert.equal(e.code, 'FW_BAD_CONFIG');
        assert.equal(e.message, `config ${p}: ${expected}`);
        return true;
      });
    });
  }

  it('accepts every setting at its default', async () => {
    // Null defaults are left out: a file gives strings or nothing for those.
    const full = Object.fromEntries(Object.entries(DEFAULT_CONFIG).filter(([, v]) => v !== null));
    assert.deepEqual(await loadConfigFile(await file(JSON.stringify(full))), full);
  });

  it('accepts the ends of each range', async () => {
    const p = await file(
      '{ "tcpPort": 0, "httpPort": 65535, "helloTimeoutMs": 1, "idleTimeoutMs": 2147483647 }',
    );
    assert.deepEqual(await loadConfigFile(p), {
      tcpPort: 0,
      httpPort: 65535,
      helloTimeoutMs: 1,
      idleTimeoutMs: 2147483647,
    });
  });
});

describe('startServer options', () => {
  it('are held to the same ranges: tcpPort 99999 is FW_BAD_CONFIG', async () => {
    // Imported here so the file tests above do not load the whole server.
    const { startServer } = await import('../../src/server/index.js');
    await assert.rejects(
      startServer({ host: '127.0.0.1', tcpPort: 99999, httpPort: 0, log: () => {} }),
      (e: unknown) =>
        e instanceof ConfigError &&
        e.code === 'FW_BAD_CONFIG' &&
        e.message === 'startServer options: "tcpPort" must be an integer from 0 to 65535 (got 99999)',
    );
  });
});
