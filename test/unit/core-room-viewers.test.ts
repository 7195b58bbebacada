// The room's tally of what its viewers decode (RoomViewers) against a model that recomputes the answer from
// scratch: random joins, leaves and declarations, and the value each publisher would be told.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { VIDEO_CODEC_FAMILIES } from '../../src/protocol/index.js';
import { type Decoding, RoomViewers } from '../../src/server/core/room-viewers.js';

class Viewer implements Decoding {
  decoders: ReadonlySet<string> | null = null;
  constructor(readonly id: number) {}
}

/** The intersection over every declaring viewer but `except`, computed the slow way. */
function model(viewers: Iterable<Viewer>, except: Viewer | null): string[] | null {
  const declared = [...viewers].filter((v) => v !== except && v.decoders !== null);
  if (declared.length === 0) return null;
  return VIDEO_CODEC_FAMILIES.filter((f) => declared.every((v) => v.decoders?.has(f)));
}

const familyArb = fc.constantFrom('avc1', 'vp8', 'vp09', 'av01', 'hev1', 'hvc1', 'opus', 'mp4a', 'x1');
type Op =
  | { kind: 'add'; who: number }
  | { kind: 'remove'; who: number }
  | { kind: 'declare'; who: number; codecs: string[] | null };
const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constant('add' as const), who: fc.nat(5) }),
  fc.record({ kind: fc.constant('remove' as const), who: fc.nat(5) }),
  fc.record({
    kind: fc.constant('declare' as const),
    who: fc.nat(5),
    codecs: fc.option(fc.array(familyArb, { maxLength: 6 }), { nil: null }),
  }),
);

describe('RoomViewers: what the viewers of a room decode, kept as counts', () => {
  test('agrees with a from-scratch intersection after any sequence of joins, leaves and declarations', () => {
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 60 }), (ops) => {
        const tally = new RoomViewers<Viewer>();
        const people = Array.from({ length: 6 }, (_, i) => new Viewer(i));
        const reasons = new Map<Viewer, number>();
        for (const op of ops) {
          const v = people[op.who] as Viewer;
          if (op.kind === 'add') {
            const became = tally.add(v);
            assert.equal(became, !reasons.has(v));
            reasons.set(v, (reasons.get(v) ?? 0) + 1);
          } else if (op.kind === 'remove') {
            const n = reasons.get(v) ?? 0;
            assert.equal(tally.remove(v), n === 1);
            if (n > 1) reasons.set(v, n - 1);
            else reasons.delete(v);
          } else {
            // As a connection does: change its own declaration, then tell the rooms it views.
            const before = v.decoders;
            v.decoders = op.codecs === null ? null : new Set(op.codecs);
            tally.redeclare(v, before, v.decoders);
          }
          assert.equal(tally.size, reasons.size);
          for (const except of [null, ...people]) {
            assert.deepStrictEqual(tally.codecsFor(except), model(reasons.keys(), except));
          }
        }
      }),
      { numRuns: 300 },
    );
  });

  test('a thousand viewers: each change is counted once, and a viewer of several streams counts once', () => {
    const tally = new RoomViewers<Viewer>();
    const viewers = Array.from({ length: 1000 }, (_, i) => new Viewer(i));
    for (const [i, v] of viewers.entries()) {
      v.decoders = new Set(i % 2 === 0 ? ['avc1', 'vp8'] : ['vp8', 'vp09']);
      tally.add(v);
      // The same connection also watches two streams of the room.
      tally.add(v);
      tally.add(v);
    }
    const publisher = new Viewer(-1);
    assert.equal(tally.size, 1000);
    assert.deepStrictEqual(tally.codecsFor(publisher), ['vp8']);
    // Every odd viewer leaves its streams and the room: the even ones remain.
    for (const [i, v] of viewers.entries()) if (i % 2 === 1) for (let k = 0; k < 3; k++) tally.remove(v);
    assert.equal(tally.size, 500);
    assert.deepStrictEqual(tally.codecsFor(publisher), ['avc1', 'vp8']);
    // A publisher that views the room too does not bind itself.
    publisher.decoders = new Set(['av01']);
    tally.add(publisher);
    assert.deepStrictEqual(tally.codecsFor(publisher), ['avc1', 'vp8']);
    assert.deepStrictEqual(tally.codecsFor(viewers[0] as Viewer), []);
  });
});
