// Property tests for protocol v3 (and the v1 and v2 layouts): random messages and random bytes, so the codec and the deframer are
// checked on inputs nobody thought to write down. numRuns is bounded to keep the unit suite fast.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import {
  AUDIO_FRAME_HEADER_BYTES,
  type AudioConfig,
  type DecoderConfig,
  decodeMessage,
  ERROR_CODES,
  encodeMessage,
  FRAME_HEADER_BYTES,
  frameMessage,
  LENGTH_PREFIX_BYTES,
  LINK_STATES,
  MAX_CODEC_FAMILIES,
  type Message,
  MessageDeframer,
  MessageType,
  ProtocolError,
  ROLES,
  type StreamTracks,
} from '../../src/protocol/index.js';

const NUM_RUNS = 300;
const KNOWN_CODES: ReadonlySet<string> = new Set(ERROR_CODES);

const u32 = fc.integer({ min: 0, max: 0xffffffff });
const u16 = fc.integer({ min: 0, max: 0xffff });
// Any code point except lone surrogates (which TextEncoder cannot carry).
const str = fc.string({ unit: 'binary', maxLength: 24 });
// Times are any finite double, including -0, subnormals and huge values: the wire carries all f64 bits.
const time = fc.double({ noNaN: true, noDefaultInfinity: true });
const config: fc.Arbitrary<DecoderConfig> = fc.record(
  {
    codec: str,
    codedWidth: u16,
    codedHeight: u16,
    // Non-empty: an empty description is the same bytes as none, and decodes as none.
    description: fc.uint8Array({ minLength: 1, maxLength: 64 }),
  },
  { requiredKeys: ['codec', 'codedWidth', 'codedHeight'], noNullPrototype: true },
);

const audio: fc.Arbitrary<AudioConfig> = fc.record(
  {
    codec: str,
    sampleRate: u32,
    numberOfChannels: fc.integer({ min: 0, max: 0xff }),
    description: fc.uint8Array({ minLength: 1, maxLength: 64 }),
  },
  { requiredKeys: ['codec', 'sampleRate', 'numberOfChannels'], noNullPrototype: true },
);
/** A stream's tracks: video, audio or both (never neither). */
const tracks: fc.Arbitrary<StreamTracks> = fc.oneof(
  fc.record({ video: config }, { noNullPrototype: true }),
  fc.record({ audio }, { noNullPrototype: true }),
  fc.record({ video: config, audio }, { noNullPrototype: true }),
);

/** The tracks of an update: as a publish's, or none at all (which the server refuses by requestId). */
const updateTracks: fc.Arbitrary<StreamTracks> = fc.oneof(tracks, fc.constant({}));

/** A codec family: 1–16 characters of a-z 0-9. */
const family = fc.stringMatching(/^[a-z0-9]{1,16}$/);
const families = fc.array(family, { maxLength: MAX_CODEC_FAMILIES });

/** A record with an ordinary prototype, like the decoder's output (deepStrictEqual compares prototypes). */
function rec<T>(model: { [K in keyof T]: fc.Arbitrary<T[K]> }): fc.Arbitrary<T> {
  return fc.record(model, { noNullPrototype: true });
}

/** One arbitrary per message type, so each type gets its own runs. */
const arbitraries: { [T in Message['type']]: fc.Arbitrary<Extract<Message, { type: T }>> } = {
  hello: rec({
    type: fc.constant('hello'),
    version: fc.integer({ min: 0, max: 0xff }),
    role: fc.constantFrom(...ROLES),
    agent: str,
    token: str,
  }),
  publish: fc
    .tuple(rec({ type: fc.constant('publish'), requestId: u32, room: str, name: str }), tracks)
    .map(([m, t]) => ({ ...m, ...t })),
  published: rec({ type: fc.constant('published'), requestId: u32, streamId: u32 }),
  subscribe: rec({ type: fc.constant('subscribe'), requestId: u32, room: str, name: str }),
  unsubscribe: rec({ type: fc.constant('unsubscribe'), requestId: u32, room: str, name: str }),
  unpublish: rec({ type: fc.constant('unpublish'), streamId: u32 }),
  frame: fc.oneof(
    rec({
      type: fc.constant('frame'),
      streamId: u32,
      key: fc.boolean(),
      seq: u32,
      timestamp: time,
      captureTime: time,
      payload: fc.uint8Array({ minLength: 1, maxLength: 200 }),
    }),
    rec({
      type: fc.constant('frame'),
      streamId: u32,
      key: fc.boolean(),
      track: fc.constant('audio'),
      audioLevel: fc.integer({ min: 0, max: 0xff }),
      seq: u32,
      timestamp: time,
      captureTime: time,
      payload: fc.uint8Array({ minLength: 1, maxLength: 200 }),
    }),
  ),
  'keyframe-request': rec({ type: fc.constant('keyframe-request'), streamId: u32 }),
  'stream-added': fc
    .tuple(rec({ type: fc.constant('stream-added'), streamId: u32, room: str, name: str }), tracks)
    .map(([m, t]) => ({ ...m, ...t })),
  'stream-removed': rec({ type: fc.constant('stream-removed'), streamId: u32, reason: str }),
  error: rec({ type: fc.constant('error'), requestId: u32, code: str, message: str }),
  ping: rec({ type: fc.constant('ping'), id: u32, time }),
  pong: rec({ type: fc.constant('pong'), id: u32, echoTime: time, responderTime: time }),
  'receiver-report': rec({
    type: fc.constant('receiver-report'),
    streamId: u32,
    framesReceived: u32,
    framesDecoded: u32,
    framesDropped: u32,
    framesLate: u32,
    fps: time,
    latencyP50Ms: time,
    latencyP95Ms: time,
  }),
  'link-state': rec({
    type: fc.constant('link-state'),
    state: fc.constantFrom(...LINK_STATES),
    backlogMs: u32,
  }),
  update: fc
    .tuple(rec({ type: fc.constant('update'), requestId: u32, streamId: u32 }), updateTracks)
    .map(([m, t]) => ({ ...m, ...t })),
  decoders: rec({ type: fc.constant('decoders'), codecs: families }),
  'room-codecs': rec({
    type: fc.constant('room-codecs'),
    room: str,
    codecs: fc.option(families, { nil: null }),
  }),
};

/** Message types new in v3: v1 and v2 peers never see them. */
const V3_ONLY: ReadonlySet<Message['type']> = new Set(['update', 'decoders', 'room-codecs']);

const anyMessage: fc.Arbitrary<Message> = fc.oneof(...Object.values(arbitraries));

/** Runs `f`; returns its result, or the ProtocolError it threw. Any other exception fails the test. */
function protocolOutcome<T>(f: () => T): T | ProtocolError {
  try {
    return f();
  } catch (e) {
    if (e instanceof ProtocolError) {
      assert.ok(KNOWN_CODES.has(e.code), `ProtocolError with unknown code ${e.code}`);
      return e;
    }
    throw e;
  }
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let pos = 0;
  for (const p of parts) {
    out.set(p, pos);
    pos += p.length;
  }
  return out;
}

/** Splits `bytes` at the given cut points (any order, duplicates allowed: they make empty chunks). */
function split(bytes: Uint8Array, cuts: readonly number[]): Uint8Array[] {
  const points = [0, ...cuts.map((c) => c % (bytes.length + 1)).sort((a, b) => a - b), bytes.length];
  const chunks: Uint8Array[] = [];
  for (let i = 1; i < points.length; i++) {
    chunks.push(bytes.slice(points[i - 1], points[i]));
  }
  return chunks;
}

describe('protocol codec properties', () => {
  for (const [type, arb] of Object.entries(arbitraries) as [string, fc.Arbitrary<Message>][]) {
    test(`every valid ${type} message round-trips encode → decode unchanged`, () => {
      fc.assert(
        fc.property(arb, (m) => {
          assert.deepStrictEqual(decodeMessage(encodeMessage(m)), m);
        }),
        { numRuns: NUM_RUNS },
      );
    });
  }

  test('every message v2 can carry round-trips in v2 too (all but the v3 ones)', () => {
    fc.assert(
      fc.property(
        anyMessage.filter((m) => !V3_ONLY.has(m.type)),
        (m) => {
          assert.deepStrictEqual(decodeMessage(encodeMessage(m, 2), 2), m);
        },
      ),
      { numRuns: NUM_RUNS },
    );
  });

  test('v3 messages are FW_BAD_MESSAGE in v1 and v2, on encode and on decode', () => {
    const v3 = anyMessage.filter((m) => V3_ONLY.has(m.type));
    fc.assert(
      fc.property(v3, fc.constantFrom(1, 2), (m, version) => {
        const bytes = encodeMessage(m);
        for (const f of [() => encodeMessage(m, version), () => decodeMessage(bytes, version)]) {
          assert.throws(f, (e: unknown) => e instanceof ProtocolError && e.code === 'FW_BAD_MESSAGE');
        }
      }),
      { numRuns: NUM_RUNS },
    );
  });

  test('every message v1 can carry round-trips in v1 too (no audio, one video config)', () => {
    const v1 = anyMessage.filter(
      (m) =>
        !V3_ONLY.has(m.type) &&
        !(m.type === 'frame' && m.track === 'audio') &&
        !(
          (m.type === 'publish' || m.type === 'stream-added') &&
          (m.video === undefined || m.audio !== undefined)
        ),
    );
    fc.assert(
      fc.property(v1, (m) => {
        assert.deepStrictEqual(decodeMessage(encodeMessage(m, 1), 1), m);
      }),
      { numRuns: NUM_RUNS },
    );
  });

  test('random or mutated bytes decode to a message or a coded ProtocolError; accepted bytes are canonical', () => {
    const typeBytes = Object.values(MessageType);
    const random = fc.oneof(
      fc.uint8Array({ maxLength: 300 }),
      // Most random first bytes are unknown types; these reach each decoder's field parsing.
      fc
        .tuple(fc.constantFrom(...typeBytes), fc.uint8Array({ maxLength: 299 }))
        .map(([t, rest]) => concat([Uint8Array.of(t), rest])),
      // A valid message with one byte changed: mostly well-formed, so it reaches the deeper checks.
      fc.tuple(anyMessage, fc.nat(), fc.integer({ min: 0, max: 0xff })).map(([m, at, v]) => {
        const bytes = encodeMessage(m);
        bytes[at % bytes.length] = v;
        return bytes;
      }),
    );
    fc.assert(
      fc.property(random, (bytes) => {
        const out = protocolOutcome(() => decodeMessage(bytes));
        if (out instanceof ProtocolError) return;
        // Anything the decoder accepts has exactly one encoding: re-encoding gives the same bytes.
        assert.deepStrictEqual(encodeMessage(out), bytes);
      }),
      { numRuns: NUM_RUNS * 10 },
    );
  });

  test('every strict prefix of a valid message throws FW_TRUNCATED (or FW_BAD_MESSAGE for a bare frame header)', () => {
    fc.assert(
      fc.property(anyMessage, (m) => {
        const bytes = encodeMessage(m);
        // A frame's payload runs to the end of the message, so its length comes from the transport:
        // a prefix that keeps the header and some payload is a valid, shorter frame (checked below).
        const header =
          m.type === 'frame' && m.track === 'audio' ? AUDIO_FRAME_HEADER_BYTES : FRAME_HEADER_BYTES;
        const limit = m.type === 'frame' ? header + 1 : bytes.length;
        for (let n = 0; n < limit; n++) {
          const expected = m.type === 'frame' && n === header ? 'FW_BAD_MESSAGE' : 'FW_TRUNCATED';
          assert.throws(
            () => decodeMessage(bytes.subarray(0, n)),
            (e: unknown) => e instanceof ProtocolError && e.code === expected,
            `prefix of ${n}/${bytes.length} bytes of ${m.type} should throw ${expected}`,
          );
        }
      }),
      { numRuns: NUM_RUNS },
    );
  });

  test('a frame prefix longer than the header decodes as the same frame with a shorter payload', () => {
    const longFrame = arbitraries.frame.filter((f) => f.payload.length >= 2);
    fc.assert(
      fc.property(longFrame, fc.nat(), (m, cut) => {
        const bytes = encodeMessage(m);
        const header = m.track === 'audio' ? AUDIO_FRAME_HEADER_BYTES : FRAME_HEADER_BYTES;
        const n = header + 1 + (cut % (m.payload.length - 1));
        assert.deepStrictEqual(decodeMessage(bytes.subarray(0, n)), {
          ...m,
          payload: m.payload.subarray(0, n - header),
        });
      }),
      { numRuns: NUM_RUNS },
    );
  });
});

describe('MessageDeframer properties', () => {
  test('framed messages split at random chunk boundaries come out whole, in order, with their prefix', () => {
    fc.assert(
      fc.property(
        fc.array(anyMessage, { minLength: 1, maxLength: 8 }),
        fc.array(fc.nat(), { maxLength: 20 }),
        (messages, cuts) => {
          const encoded = messages.map((m) => encodeMessage(m));
          const stream = concat(encoded.map(frameMessage));
          const deframer = new MessageDeframer();
          const got: { message: Uint8Array; framed: Uint8Array }[] = [];
          for (const chunk of split(stream, cuts)) {
            deframer.push(chunk, (message, framed) => {
              // Copy: the contract only promises the views are valid during the callback.
              got.push({ message: message.slice(), framed: framed.slice() });
            });
          }
          assert.equal(got.length, messages.length);
          got.forEach((g, i) => {
            const body = encoded[i] as Uint8Array;
            assert.deepStrictEqual(g.message, body);
            assert.deepStrictEqual(g.framed, frameMessage(body));
            assert.deepStrictEqual(decodeMessage(g.message), messages[i]);
          });
          assert.equal(deframer.bufferedBytes, 0, 'nothing held after the last complete message');
        },
      ),
      { numRuns: NUM_RUNS },
    );
  });

  test('random junk fed to the deframer yields consistent messages or a coded ProtocolError', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 64 }), { maxLength: 10 }), (chunks) => {
        // A small limit so random lengths often cross it.
        const deframer = new MessageDeframer(256);
        const out = protocolOutcome(() => {
          for (const chunk of chunks) {
            deframer.push(chunk, (message, framed) => {
              assert.ok(message.length >= 1 && message.length <= 256);
              assert.equal(framed.length, message.length + LENGTH_PREFIX_BYTES);
              assert.equal(new DataView(framed.buffer, framed.byteOffset).getUint32(0), message.length);
              assert.deepStrictEqual(framed.subarray(LENGTH_PREFIX_BYTES), message);
            });
          }
        });
        if (out instanceof ProtocolError) {
          assert.ok(out.code === 'FW_TOO_LARGE' || out.code === 'FW_BAD_MESSAGE', out.code);
        }
      }),
      { numRuns: NUM_RUNS },
    );
  });
});
