import assert from 'node:assert/strict';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
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
    ['{ "maxRooms": "many" }', /"maxRooms" must be a number/],
    ['{ "maxRooms": -1 }', /"maxRooms" must be a number ≥ 0/],
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
});
