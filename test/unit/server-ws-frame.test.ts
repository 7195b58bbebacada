import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { describe, it } from 'node:test';
import { wsBinaryFrame } from '../../src/server/transport/ws-frame.js';

// ws's own frame builder: untyped, so it is loaded here only, as the reference to compare with.
const { Sender } = createRequire(import.meta.url)('ws') as {
  Sender: { frame(data: Buffer, options: object): Buffer[] };
};

function reference(body: Buffer): Buffer {
  const opts = { fin: true, opcode: 2, mask: false, readOnly: false, rsv1: false };
  return Buffer.concat(Sender.frame(body, opts));
}

describe('wsBinaryFrame', () => {
  // Each length class of the header: 7-bit, 16-bit and 64-bit payload lengths, at their edges.
  for (const n of [0, 1, 125, 126, 65535, 65536, 200_000]) {
    it(`builds the same bytes as ws for a ${n}-byte message`, () => {
      const body = Buffer.alloc(n);
      for (let i = 0; i < n; i++) body[i] = (i * 31) & 0xff;
      assert.deepEqual(Buffer.from(wsBinaryFrame(body)), reference(body));
    });
  }
});
