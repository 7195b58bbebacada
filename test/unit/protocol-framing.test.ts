// TCP framing of protocol v1: the 4-byte big-endian length prefix and the limits the deframer enforces.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  DEFAULT_MAX_MESSAGE_BYTES,
  frameMessage,
  LENGTH_PREFIX_BYTES,
  lengthPrefix,
  MessageDeframer,
  ProtocolError,
} from '../../src/protocol/index.js';

function toHex(b: Uint8Array): string {
  return Buffer.from(b).toString('hex');
}

/** Feeds each chunk in turn and returns hex copies of the (message, framed) pairs handed out. */
function feed(d: MessageDeframer, ...chunks: Uint8Array[]): [string, string][] {
  const out: [string, string][] = [];
  for (const c of chunks) d.push(c, (m, f) => out.push([toHex(m), toHex(f)]));
  return out;
}

function isProtocolError(code: string): (e: unknown) => boolean {
  return (e) => {
    assert.ok(e instanceof ProtocolError, `expected ProtocolError, got ${String(e)}`);
    assert.equal(e.code, code);
    return true;
  };
}

describe('length prefix', () => {
  test('lengthPrefix is 4 bytes big-endian', () => {
    assert.equal(LENGTH_PREFIX_BYTES, 4);
    assert.equal(toHex(lengthPrefix(9)), '00000009');
    assert.equal(toHex(lengthPrefix(0x01020304)), '01020304');
    assert.equal(toHex(lengthPrefix(0xffffffff)), 'ffffffff');
  });

  test('frameMessage puts the prefix in front of the message bytes', () => {
    assert.equal(toHex(frameMessage(Uint8Array.of(0x11, 0, 0, 0, 5))), '000000051100000005');
  });

  test('the default limit is 4 MiB', () => {
    assert.equal(DEFAULT_MAX_MESSAGE_BYTES, 4 * 1024 * 1024);
  });
});

describe('MessageDeframer', () => {
  test('hands out a message that lies inside one chunk as a view, without copying', () => {
    const chunk = Uint8Array.of(0, 0, 0, 2, 0xaa, 0xbb, 0, 0, 0, 1, 0xcc);
    const views: Uint8Array[] = [];
    new MessageDeframer().push(chunk, (m) => views.push(m));
    assert.equal(views.length, 2);
    assert.equal(views[0]?.buffer, chunk.buffer);
    assert.equal(toHex(views[1] ?? new Uint8Array()), 'cc');
  });

  test('assembles a message whose prefix is split byte by byte', () => {
    const d = new MessageDeframer();
    const bytes = Uint8Array.of(0, 0, 0, 3, 1, 2, 3);
    const got = feed(d, ...[...bytes].map((b) => Uint8Array.of(b)));
    assert.deepStrictEqual(got, [['010203', '00000003010203']]);
    assert.equal(d.bufferedBytes, 0);
  });

  test('bufferedBytes counts what is held for an incomplete message', () => {
    const d = new MessageDeframer();
    feed(d, Uint8Array.of(0, 0));
    assert.equal(d.bufferedBytes, 2);
    feed(d, Uint8Array.of(0, 10, 1, 2, 3));
    assert.equal(d.bufferedBytes, 7);
  });

  test('a message of exactly the limit is accepted, one byte over is FW_TOO_LARGE', () => {
    const limit = 16;
    const body = new Uint8Array(limit).fill(7);
    assert.equal(feed(new MessageDeframer(limit), frameMessage(body)).length, 1);
    assert.throws(
      () => feed(new MessageDeframer(limit), lengthPrefix(limit + 1)),
      isProtocolError('FW_TOO_LARGE'),
    );
  });

  test('a huge length prefix is FW_TOO_LARGE before any buffer is allocated for it', () => {
    const before = process.memoryUsage().arrayBuffers;
    // Both code paths: the whole prefix in one chunk, and a prefix split across chunks.
    const whole = new MessageDeframer(1024);
    assert.throws(() => feed(whole, lengthPrefix(0xfffffff0)), isProtocolError('FW_TOO_LARGE'));
    const split = new MessageDeframer(1024);
    feed(split, Uint8Array.of(0xff, 0xff));
    assert.throws(() => feed(split, Uint8Array.of(0xff, 0xf0)), isProtocolError('FW_TOO_LARGE'));
    // Had either allocated the 4 GiB it was told about, it would still hold it now.
    assert.ok(whole.bufferedBytes <= LENGTH_PREFIX_BYTES && split.bufferedBytes <= LENGTH_PREFIX_BYTES);
    assert.ok(process.memoryUsage().arrayBuffers - before < 1024 * 1024, 'no large allocation');
  });

  test('a zero length prefix is FW_BAD_MESSAGE', () => {
    assert.throws(() => feed(new MessageDeframer(), lengthPrefix(0)), isProtocolError('FW_BAD_MESSAGE'));
    const split = new MessageDeframer();
    assert.throws(
      () => feed(split, Uint8Array.of(0), Uint8Array.of(0, 0), Uint8Array.of(0)),
      isProtocolError('FW_BAD_MESSAGE'),
    );
  });
});
