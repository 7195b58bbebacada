// Byte fixtures for protocol v3 (and v1 and v2 where the layouts differ): each expected byte string is written by
// hand from docs/protocol.md, not produced by the encoder, so a change to the wire format fails here before
// it reaches a peer.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  decodeMessage,
  encodeMessage,
  FRAME_HEADER_BYTES,
  type Message,
  ProtocolError,
} from '../../src/protocol/index.js';

/** Bytes from a hex string; spaces and `|` are only there to show field boundaries. */
function hex(s: string): Uint8Array {
  const clean = s.replace(/[\s|]/g, '');
  assert.equal(clean.length % 2, 0, `odd hex length in fixture: ${s}`);
  return Uint8Array.from(clean.match(/../g) ?? [], (h) => Number.parseInt(h, 16));
}

function toHex(b: Uint8Array): string {
  return Buffer.from(b).toString('hex');
}

/** Asserts that decoding `bytes` throws a ProtocolError with exactly `code`. */
function assertDecodeError(bytes: Uint8Array, code: string, version?: number): void {
  assert.throws(
    () => decodeMessage(bytes, version),
    (e: unknown) => {
      assert.ok(e instanceof ProtocolError, `expected ProtocolError, got ${String(e)}`);
      assert.equal(e.code, code);
      return true;
    },
  );
}

function assertEncodeError(m: Message, code: string, version?: number): void {
  assert.throws(
    () => encodeMessage(m, version),
    (e: unknown) => {
      assert.ok(e instanceof ProtocolError, `expected ProtocolError, got ${String(e)}`);
      assert.equal(e.code, code);
      return true;
    },
  );
}

// Field encodings reused below (all hand-computed):
//   "lab" = 6c6162, "cam1" = 63616d31, "vp8" = 767038, 640 = 0280, 480 = 01e0
//   f64 1.0 = 3ff0000000000000, 2^20 = 4130000000000000, 33000 = 40e01d0000000000,
//   1.5 * 2^50 µs (2023-07-08) = 4318000000000000, -1.0 = bff0000000000000
//   "opus" = 6f707573, "mp4a.40.2" = 6d7034612e34302e32, 48000 = 0000bb80, 44100 = 0000ac44,
//   20000 = 40d3880000000000
//   "avc1" = 61766331, "avc1.42e01f" = 617663312e343265303166, 1280 = 0500, 720 = 02d0
const fixtures: { name: string; version?: number; message: Message; bytes: string }[] = [
  {
    name: 'hello from a publisher with an agent and no token',
    message: { type: 'hello', version: 1, role: 'publisher', agent: 'fw/0.1', token: '' },
    bytes: '01 | 01 | 01 | 0006 66772f302e31 | 0000',
  },
  {
    name: 'hello from the server with empty strings',
    message: { type: 'hello', version: 1, role: 'server', agent: '', token: '' },
    bytes: '01 | 01 | 00 | 0000 | 0000',
  },
  {
    name: 'hello from a viewer with a token',
    message: { type: 'hello', version: 1, role: 'viewer', agent: 'v', token: 'tk' },
    bytes: '01 | 01 | 02 | 0001 76 | 0002 746b',
  },
  {
    name: 'hello from a peer with version 255',
    message: { type: 'hello', version: 255, role: 'peer', agent: '', token: '' },
    bytes: '01 | ff | 03 | 0000 | 0000',
  },
  {
    name: 'v1 publish without a description',
    version: 1,
    message: {
      type: 'publish',
      requestId: 7,
      room: 'lab',
      name: 'cam1',
      video: { codec: 'vp8', codedWidth: 640, codedHeight: 480 },
    },
    bytes: '02 | 00000007 | 0003 6c6162 | 0004 63616d31 | 0003 767038 | 0280 | 01e0 | 00000000',
  },
  {
    name: 'v1 publish with a description and max u32 requestId',
    version: 1,
    message: {
      type: 'publish',
      requestId: 0xffffffff,
      room: '',
      name: 'a',
      video: { codec: 'avc1.42e01f', codedWidth: 1280, codedHeight: 720, description: hex('0164001f') },
    },
    bytes: '02 | ffffffff | 0000 | 0001 61 | 000b 617663312e343265303166 | 0500 | 02d0 | 00000004 0164001f',
  },
  {
    name: 'v1 publish with non-ASCII UTF-8 room and name',
    version: 1,
    message: {
      type: 'publish',
      requestId: 1,
      room: 'café',
      name: 'カメラ',
      video: { codec: 'vp8', codedWidth: 65535, codedHeight: 0 },
    },
    bytes: '02 | 00000001 | 0005 636166c3a9 | 0009 e382abe383a1e383a9 | 0003 767038 | ffff | 0000 | 00000000',
  },
  {
    name: 'v2 publish of video only (tracks 01)',
    message: {
      type: 'publish',
      requestId: 7,
      room: 'lab',
      name: 'cam1',
      video: { codec: 'vp8', codedWidth: 640, codedHeight: 480 },
    },
    bytes: '02 | 00000007 | 0003 6c6162 | 0004 63616d31 | 01 | 0003 767038 | 0280 | 01e0 | 00000000',
  },
  {
    name: 'v2 publish of video and Opus audio (tracks 03)',
    message: {
      type: 'publish',
      requestId: 7,
      room: 'lab',
      name: 'cam1',
      video: { codec: 'vp8', codedWidth: 640, codedHeight: 480 },
      audio: { codec: 'opus', sampleRate: 48000, numberOfChannels: 2 },
    },
    bytes:
      '02 | 00000007 | 0003 6c6162 | 0004 63616d31 | 03 | 0003 767038 | 0280 | 01e0 | 00000000 | 0004 6f707573 | 0000bb80 | 02 | 00000000',
  },
  {
    name: 'v2 publish of AAC audio only with its AudioSpecificConfig (tracks 02)',
    message: {
      type: 'publish',
      requestId: 1,
      room: 'lab',
      name: 'mic',
      audio: { codec: 'mp4a.40.2', sampleRate: 44100, numberOfChannels: 2, description: hex('1210') },
    },
    bytes:
      '02 | 00000001 | 0003 6c6162 | 0003 6d6963 | 02 | 0009 6d7034612e34302e32 | 0000ac44 | 02 | 00000002 1210',
  },
  {
    name: 'published with max u32 streamId',
    message: { type: 'published', requestId: 1, streamId: 0xffffffff },
    bytes: '03 | 00000001 | ffffffff',
  },
  {
    name: 'subscribe to a whole room (empty name)',
    message: { type: 'subscribe', requestId: 2, room: 'lab', name: '' },
    bytes: '04 | 00000002 | 0003 6c6162 | 0000',
  },
  {
    name: 'subscribe to one stream',
    message: { type: 'subscribe', requestId: 3, room: 'lab', name: 'cam1' },
    bytes: '04 | 00000003 | 0003 6c6162 | 0004 63616d31',
  },
  {
    name: 'unsubscribe',
    message: { type: 'unsubscribe', requestId: 4, room: 'lab', name: 'cam1' },
    bytes: '05 | 00000004 | 0003 6c6162 | 0004 63616d31',
  },
  {
    name: 'unpublish',
    message: { type: 'unpublish', streamId: 42 },
    bytes: '06 | 0000002a',
  },
  {
    name: 'keyframe with a 4-byte payload',
    message: {
      type: 'frame',
      streamId: 5,
      key: true,
      seq: 1,
      timestamp: 33000,
      captureTime: 1.5 * 2 ** 50,
      payload: hex('deadbeef'),
    },
    bytes: '10 | 00000005 | 01 | 00000001 | 40e01d0000000000 | 4318000000000000 | deadbeef',
  },
  {
    name: 'delta frame with max u32 ids, negative timestamp and a 1-byte payload',
    message: {
      type: 'frame',
      streamId: 0xffffffff,
      key: false,
      seq: 0xffffffff,
      timestamp: -1,
      captureTime: 0,
      payload: hex('00'),
    },
    bytes: '10 | ffffffff | 00 | ffffffff | bff0000000000000 | 0000000000000000 | 00',
  },
  {
    name: 'audio frame with voice at -30 dBov',
    message: {
      type: 'frame',
      streamId: 5,
      key: true,
      track: 'audio',
      audioLevel: 0x80 | 30,
      seq: 7,
      timestamp: 20000,
      captureTime: 1.5 * 2 ** 50,
      payload: hex('fc'),
    },
    bytes: '10 | 00000005 | 03 | 00000007 | 40d3880000000000 | 4318000000000000 | 9e | fc',
  },
  {
    name: 'keyframe-request',
    message: { type: 'keyframe-request', streamId: 5 },
    bytes: '11 | 00000005',
  },
  {
    name: 'v1 stream-added without a description',
    version: 1,
    message: {
      type: 'stream-added',
      streamId: 5,
      room: 'lab',
      name: 'cam1',
      video: { codec: 'vp8', codedWidth: 640, codedHeight: 480 },
    },
    bytes: '20 | 00000005 | 0003 6c6162 | 0004 63616d31 | 0003 767038 | 0280 | 01e0 | 00000000',
  },
  {
    name: 'v1 stream-added with a description',
    version: 1,
    message: {
      type: 'stream-added',
      streamId: 6,
      room: 'lab',
      name: 'cam1',
      video: { codec: 'vp8', codedWidth: 640, codedHeight: 480, description: hex('aabb') },
    },
    bytes: '20 | 00000006 | 0003 6c6162 | 0004 63616d31 | 0003 767038 | 0280 | 01e0 | 00000002 aabb',
  },
  {
    name: 'v2 stream-added of video and Opus mono',
    message: {
      type: 'stream-added',
      streamId: 5,
      room: 'lab',
      name: 'cam1',
      video: { codec: 'vp8', codedWidth: 640, codedHeight: 480 },
      audio: { codec: 'opus', sampleRate: 48000, numberOfChannels: 1 },
    },
    bytes:
      '20 | 00000005 | 0003 6c6162 | 0004 63616d31 | 03 | 0003 767038 | 0280 | 01e0 | 00000000 | 0004 6f707573 | 0000bb80 | 01 | 00000000',
  },
  {
    name: 'stream-removed',
    message: { type: 'stream-removed', streamId: 5, reason: 'unpublished' },
    bytes: '21 | 00000005 | 000b 756e7075626c6973686564',
  },
  {
    name: 'error answering a request',
    message: { type: 'error', requestId: 7, code: 'FW_STREAM_EXISTS', message: 'taken' },
    bytes: '30 | 00000007 | 0010 46575f53545245414d5f455849535453 | 0005 74616b656e',
  },
  {
    name: 'error answering no request, empty text',
    message: { type: 'error', requestId: 0, code: 'FW_LIMIT', message: '' },
    bytes: '30 | 00000000 | 0008 46575f4c494d4954 | 0000',
  },
  {
    name: 'ping',
    message: { type: 'ping', id: 1, time: 2 ** 20 },
    bytes: '40 | 00000001 | 4130000000000000',
  },
  {
    name: 'pong',
    message: { type: 'pong', id: 1, echoTime: 2 ** 20, responderTime: 1.5 * 2 ** 50 },
    bytes: '41 | 00000001 | 4130000000000000 | 4318000000000000',
  },
  {
    name: 'receiver-report with an unknown p95',
    message: {
      type: 'receiver-report',
      streamId: 3,
      framesReceived: 100,
      framesDecoded: 98,
      framesDropped: 2,
      framesLate: 1,
      fps: 30,
      latencyP50Ms: 50,
      latencyP95Ms: -1,
    },
    bytes:
      '50 | 00000003 | 00000064 | 00000062 | 00000002 | 00000001 | 403e000000000000 | 4049000000000000 | bff0000000000000',
  },
  {
    name: 'link-state',
    message: { type: 'link-state', state: 'keyframes-only', backlogMs: 1200 },
    bytes: '51 | 02 | 000004b0',
  },
  {
    name: 'v3 update of a stream to H.264 720p (tracks 01)',
    message: {
      type: 'update',
      requestId: 9,
      streamId: 5,
      video: { codec: 'avc1.42e01f', codedWidth: 1280, codedHeight: 720 },
    },
    bytes: '07 | 00000009 | 00000005 | 01 | 000b 617663312e343265303166 | 0500 | 02d0 | 00000000',
  },
  {
    name: 'v3 update of a stream to VP8 and Opus mono (tracks 03)',
    message: {
      type: 'update',
      requestId: 10,
      streamId: 5,
      video: { codec: 'vp8', codedWidth: 640, codedHeight: 480 },
      audio: { codec: 'opus', sampleRate: 48000, numberOfChannels: 1 },
    },
    bytes:
      '07 | 0000000a | 00000005 | 03 | 0003 767038 | 0280 | 01e0 | 00000000 | 0004 6f707573 | 0000bb80 | 01 | 00000000',
  },
  {
    name: 'v3 update naming no track (readable; the server refuses it by its requestId)',
    message: { type: 'update', requestId: 1, streamId: 2 },
    bytes: '07 | 00000001 | 00000002 | 00',
  },
  {
    name: 'v3 decoders of H.264, VP8 and Opus',
    message: { type: 'decoders', codecs: ['avc1', 'vp8', 'opus'] },
    bytes: '08 | 03 | 0004 61766331 | 0003 767038 | 0004 6f707573',
  },
  {
    name: 'v3 decoders of nothing',
    message: { type: 'decoders', codecs: [] },
    bytes: '08 | 00',
  },
  {
    name: 'v3 room-codecs: no viewer restricts (null)',
    message: { type: 'room-codecs', room: 'lab', codecs: null },
    bytes: '22 | 0003 6c6162 | 00',
  },
  {
    name: 'v3 room-codecs: every viewer decodes H.264 and VP8',
    message: { type: 'room-codecs', room: 'lab', codecs: ['avc1', 'vp8'] },
    bytes: '22 | 0003 6c6162 | 01 | 02 | 0004 61766331 | 0003 767038',
  },
  {
    name: 'v3 room-codecs: the viewers have no codec in common (empty list)',
    message: { type: 'room-codecs', room: 'lab', codecs: [] },
    bytes: '22 | 0003 6c6162 | 01 | 00',
  },
];

describe('protocol codec byte fixtures', () => {
  for (const f of fixtures) {
    test(`encodes ${f.name} to the documented bytes`, () => {
      assert.equal(toHex(encodeMessage(f.message, f.version)), toHex(hex(f.bytes)));
    });
    test(`decodes the documented bytes of ${f.name} back to the message`, () => {
      assert.deepStrictEqual(decodeMessage(hex(f.bytes), f.version), f.message);
    });
  }

  test('the fixtures cover every message type', () => {
    const covered = new Set(fixtures.map((f) => f.message.type));
    const all: Message['type'][] = [
      'hello',
      'publish',
      'published',
      'subscribe',
      'unsubscribe',
      'unpublish',
      'frame',
      'keyframe-request',
      'stream-added',
      'stream-removed',
      'error',
      'ping',
      'pong',
      'receiver-report',
      'link-state',
      'update',
      'decoders',
      'room-codecs',
    ];
    assert.deepStrictEqual([...covered].sort(), [...all].sort());
  });
});

describe('protocol codec edge cases', () => {
  test('an absent description and a present one decode differently', () => {
    const absent = decodeMessage(hex('20 00000005 0000 0000 01 0003 767038 0280 01e0 00000000'));
    const present = decodeMessage(hex('20 00000005 0000 0000 01 0003 767038 0280 01e0 00000001 7f'));
    assert.equal(absent.type, 'stream-added');
    assert.equal(present.type, 'stream-added');
    if (absent.type !== 'stream-added' || present.type !== 'stream-added') return;
    assert.equal('description' in (absent.video ?? {}), false);
    assert.deepStrictEqual(present.video?.description, hex('7f'));
  });

  test('an empty description encodes as length 0 and decodes as absent', () => {
    // Zero-length and absent are the same on the wire; the decoder picks "absent".
    const m: Message = {
      type: 'publish',
      requestId: 1,
      room: '',
      name: '',
      video: { codec: 'vp8', codedWidth: 1, codedHeight: 1, description: new Uint8Array(0) },
    };
    const bytes = encodeMessage(m);
    assert.equal(toHex(bytes), toHex(hex('02 00000001 0000 0000 01 0003 767038 0001 0001 00000000')));
    const back = decodeMessage(bytes);
    assert.ok(back.type === 'publish' && back.video?.description === undefined);
  });

  test('the key flag is bit 0 of the flags byte at offset 5', () => {
    const base = { type: 'frame', streamId: 1, seq: 0, timestamp: 0, captureTime: 0 } as const;
    const key = encodeMessage({ ...base, key: true, payload: hex('01') });
    const delta = encodeMessage({ ...base, key: false, payload: hex('01') });
    assert.equal(key[5], 0x01);
    assert.equal(delta[5], 0x00);
    assert.equal(key.length, FRAME_HEADER_BYTES + 1);
  });

  test('a decoded frame payload is a view into the message, not a copy', () => {
    const bytes = hex('10 00000001 00 00000000 0000000000000000 0000000000000000 0102');
    const m = decodeMessage(bytes);
    assert.ok(m.type === 'frame');
    assert.equal(m.payload.buffer, bytes.buffer);
    assert.equal(m.payload.byteOffset, FRAME_HEADER_BYTES);
  });

  test('decodes a message that starts at a non-zero offset of a larger buffer', () => {
    // The deframer hands out views into its chunks; the DataView must honour byteOffset.
    const outer = hex('ffffff 03 00000009 0000000a eeee');
    const m = decodeMessage(outer.subarray(3, 12));
    assert.deepStrictEqual(m, { type: 'published', requestId: 9, streamId: 10 });
  });

  // TextDecoder strips a leading U+FEFF unless told not to (ignoreBOM); a string field must not.
  test('a string starting with U+FEFF decodes unchanged', () => {
    const bytes = hex('21 00000001 0004 efbbbf78');
    assert.equal(
      toHex(encodeMessage({ type: 'stream-removed', streamId: 1, reason: '\uFEFFx' })),
      toHex(bytes),
    );
    assert.deepStrictEqual(decodeMessage(bytes), { type: 'stream-removed', streamId: 1, reason: '\uFEFFx' });
  });

  test('the encoder refuses values its fields would wrap, instead of sending wrong bytes', () => {
    const bad: Message[] = [
      { type: 'published', requestId: 2 ** 32, streamId: 1 },
      { type: 'unpublish', streamId: -1 },
      { type: 'hello', version: 256, role: 'viewer', agent: '', token: '' },
      { type: 'hello', version: 1, role: 'nobody' as never, agent: '', token: '' },
      { type: 'ping', id: 1, time: Number.NaN },
      {
        type: 'frame',
        streamId: 1,
        key: true,
        seq: 0,
        timestamp: 0,
        captureTime: 0,
        payload: new Uint8Array(0),
      },
    ];
    for (const m of bad) {
      assert.throws(
        () => encodeMessage(m),
        (e: unknown) => e instanceof ProtocolError && e.code === 'FW_BAD_MESSAGE',
      );
    }
  });

  test('a string of exactly 65535 UTF-8 bytes encodes with length ffff', () => {
    const reason = 'x'.repeat(0xffff);
    const bytes = encodeMessage({ type: 'stream-removed', streamId: 1, reason });
    assert.equal(toHex(bytes.subarray(0, 7)), '2100000001ffff');
    assert.equal(bytes.length, 7 + 0xffff);
    assert.deepStrictEqual(decodeMessage(bytes), { type: 'stream-removed', streamId: 1, reason });
  });
});

describe('protocol codec errors', () => {
  test('an empty message is FW_TRUNCATED', () => {
    assertDecodeError(new Uint8Array(0), 'FW_TRUNCATED');
  });

  test('an unknown type byte is FW_UNKNOWN_TYPE', () => {
    for (const t of ['00', '09', '12', '23', '31', '42', '52', '7f', 'ff']) {
      assertDecodeError(hex(`${t} 00000000`), 'FW_UNKNOWN_TYPE');
    }
  });

  test('a message cut inside a field is FW_TRUNCATED', () => {
    assertDecodeError(hex('03 00000001 ffff'), 'FW_TRUNCATED');
    // A string length that points past the end.
    assertDecodeError(hex('21 00000005 0005 6162'), 'FW_TRUNCATED');
    // A description length that points past the end.
    assertDecodeError(hex('20 00000005 0000 0000 01 0003 767038 0280 01e0 ffffffff 00'), 'FW_TRUNCATED');
  });

  test('trailing bytes after the last field are FW_BAD_MESSAGE', () => {
    assertDecodeError(hex('03 00000001 00000002 00'), 'FW_BAD_MESSAGE');
    assertDecodeError(hex('01 01 01 0000 0000 00'), 'FW_BAD_MESSAGE');
    assertDecodeError(hex('41 00000001 4130000000000000 4318000000000000 00'), 'FW_BAD_MESSAGE');
  });

  test('invalid UTF-8 in a string is FW_BAD_MESSAGE', () => {
    // A lone continuation byte, an overlong NUL, and an encoded surrogate.
    assertDecodeError(hex('21 00000005 0001 80'), 'FW_BAD_MESSAGE');
    assertDecodeError(hex('21 00000005 0002 c080'), 'FW_BAD_MESSAGE');
    assertDecodeError(hex('21 00000005 0003 eda080'), 'FW_BAD_MESSAGE');
    // A multi-byte character cut by the string's own length.
    assertDecodeError(hex('04 00000001 0002 e382 0000'), 'FW_BAD_MESSAGE');
  });

  test('reserved frame flag bits are FW_BAD_MESSAGE', () => {
    for (const flags of ['04', '07', '80', 'ff']) {
      assertDecodeError(
        hex(`10 00000001 ${flags} 00000000 0000000000000000 0000000000000000 7f 01`),
        'FW_BAD_MESSAGE',
      );
    }
  });

  test('v1 has no audio: its reserved bit 1 is FW_BAD_MESSAGE there, and the encoder refuses audio', () => {
    for (const flags of ['02', '03']) {
      assertDecodeError(
        hex(`10 00000001 ${flags} 00000000 0000000000000000 0000000000000000 7f 01`),
        'FW_BAD_MESSAGE',
        1,
      );
    }
    const audio = { codec: 'opus', sampleRate: 48000, numberOfChannels: 1 };
    const video = { codec: 'vp8', codedWidth: 2, codedHeight: 2 };
    const frame = {
      type: 'frame',
      streamId: 1,
      key: true,
      track: 'audio',
      seq: 0,
      timestamp: 0,
      captureTime: 0,
    } as const;
    assertEncodeError({ ...frame, audioLevel: 127, payload: hex('01') }, 'FW_BAD_MESSAGE', 1);
    assertEncodeError({ type: 'stream-added', streamId: 1, room: '', name: '', audio }, 'FW_BAD_MESSAGE', 1);
    assertEncodeError(
      { type: 'stream-added', streamId: 1, room: '', name: '', video, audio },
      'FW_BAD_MESSAGE',
      1,
    );
  });

  test('a v2 stream description needs a track, and no reserved track bit', () => {
    // tracks 00: nothing; 04: a reserved bit.
    assertDecodeError(hex('20 00000005 0000 0000 00'), 'FW_BAD_MESSAGE');
    assertDecodeError(hex('20 00000005 0000 0000 04'), 'FW_BAD_MESSAGE');
    assertEncodeError({ type: 'publish', requestId: 1, room: '', name: '' }, 'FW_BAD_MESSAGE');
  });

  test('an audio frame without a payload, or cut before its level, is refused', () => {
    assertDecodeError(hex('10 00000001 03 00000000 0000000000000000 0000000000000000 7f'), 'FW_BAD_MESSAGE');
    assertDecodeError(hex('10 00000001 03 00000000 0000000000000000 0000000000000000'), 'FW_TRUNCATED');
    // Only audio frames carry a level.
    const video = { type: 'frame', streamId: 1, key: true, seq: 0, timestamp: 0, captureTime: 0 } as const;
    assertEncodeError({ ...video, audioLevel: 1, payload: hex('01') }, 'FW_BAD_MESSAGE');
  });

  test('a frame without payload is FW_BAD_MESSAGE', () => {
    assertDecodeError(hex('10 00000001 01 00000000 0000000000000000 0000000000000000'), 'FW_BAD_MESSAGE');
  });

  test('a NaN or infinite time is FW_BAD_MESSAGE', () => {
    const nan = '7ff8000000000000';
    const inf = '7ff0000000000000';
    const negInf = 'fff0000000000000';
    assertDecodeError(hex(`10 00000001 00 00000000 ${nan} 0000000000000000 01`), 'FW_BAD_MESSAGE');
    assertDecodeError(hex(`10 00000001 00 00000000 0000000000000000 ${inf} 01`), 'FW_BAD_MESSAGE');
    assertDecodeError(hex(`40 00000001 ${negInf}`), 'FW_BAD_MESSAGE');
    assertDecodeError(hex(`41 00000001 ${nan} 0000000000000000`), 'FW_BAD_MESSAGE');
    assertDecodeError(hex(`41 00000001 0000000000000000 ${nan}`), 'FW_BAD_MESSAGE');
  });

  test('an unknown role byte is FW_BAD_MESSAGE', () => {
    assertDecodeError(hex('01 01 04 0000 0000'), 'FW_BAD_MESSAGE');
    assertDecodeError(hex('01 01 ff 0000 0000'), 'FW_BAD_MESSAGE');
  });

  test('encoding a string over 65535 UTF-8 bytes is FW_TOO_LARGE', () => {
    assertEncodeError({ type: 'stream-removed', streamId: 1, reason: 'x'.repeat(0x10000) }, 'FW_TOO_LARGE');
    // 32768 UTF-16 units but 65536 UTF-8 bytes: the limit is on bytes, not string length.
    assertEncodeError(
      { type: 'hello', version: 1, role: 'viewer', agent: 'é'.repeat(0x8000), token: '' },
      'FW_TOO_LARGE',
    );
    assertEncodeError(
      {
        type: 'publish',
        requestId: 1,
        room: '',
        name: '',
        video: { codec: 'c'.repeat(0x10000), codedWidth: 1, codedHeight: 1 },
      },
      'FW_TOO_LARGE',
    );
  });

  test('encoding a coded size outside u16 is FW_BAD_MESSAGE', () => {
    const video = { codec: 'vp8', codedWidth: 0x10000, codedHeight: 1 };
    assertEncodeError({ type: 'stream-added', streamId: 1, room: '', name: '', video }, 'FW_BAD_MESSAGE');
    assertEncodeError(
      { type: 'publish', requestId: 1, room: '', name: '', video: { ...video, codedWidth: 1.5 } },
      'FW_BAD_MESSAGE',
    );
    const audio = { codec: 'opus', sampleRate: 48000, numberOfChannels: 256 };
    assertEncodeError({ type: 'publish', requestId: 1, room: '', name: '', audio }, 'FW_BAD_MESSAGE');
  });
});

describe('protocol v3 messages: decoders, room-codecs, update', () => {
  test('v1 and v2 have none of them: FW_BAD_MESSAGE both ways', () => {
    const video = { codec: 'vp8', codedWidth: 2, codedHeight: 2 };
    const messages: Message[] = [
      { type: 'decoders', codecs: ['vp8'] },
      { type: 'room-codecs', room: 'lab', codecs: null },
      { type: 'update', requestId: 1, streamId: 1, video },
    ];
    for (const version of [1, 2]) {
      for (const m of messages) {
        assertEncodeError(m, 'FW_BAD_MESSAGE', version);
        assertDecodeError(encodeMessage(m, 3), 'FW_BAD_MESSAGE', version);
      }
    }
  });

  test('a family list of more than 16 entries is FW_BAD_MESSAGE', () => {
    const seventeen = Array.from({ length: 17 }, (_, i) => `c${i}`);
    assertEncodeError({ type: 'decoders', codecs: seventeen }, 'FW_BAD_MESSAGE');
    assertEncodeError({ type: 'room-codecs', room: 'lab', codecs: seventeen }, 'FW_BAD_MESSAGE');
    // 16 is the most: it goes through.
    const sixteen = seventeen.slice(0, 16);
    assert.deepStrictEqual(decodeMessage(encodeMessage({ type: 'decoders', codecs: sixteen })), {
      type: 'decoders',
      codecs: sixteen,
    });
    // A count of 17 is refused before its entries are read.
    assertDecodeError(hex('08 11'), 'FW_BAD_MESSAGE');
    assertDecodeError(hex('22 0000 01 11'), 'FW_BAD_MESSAGE');
  });

  test('a family must be 1 to 16 characters of a-z 0-9', () => {
    for (const bad of ['', 'AVC1', 'avc1.42e01f', 'vp 8', 'x'.repeat(17), 'é']) {
      assertEncodeError({ type: 'decoders', codecs: ['vp8', bad] }, 'FW_BAD_MESSAGE');
      assertEncodeError({ type: 'room-codecs', room: '', codecs: [bad] }, 'FW_BAD_MESSAGE');
    }
    assertDecodeError(hex('08 01 0000'), 'FW_BAD_MESSAGE');
    assertDecodeError(hex('08 01 0004 41564331'), 'FW_BAD_MESSAGE'); // "AVC1"
    assertDecodeError(hex('08 01 0003 76702e'), 'FW_BAD_MESSAGE'); // "vp."
    assertDecodeError(hex(`08 01 0011 ${'61'.repeat(17)}`), 'FW_BAD_MESSAGE');
    // 16 characters is the longest allowed.
    const longest = 'a'.repeat(16);
    assert.deepStrictEqual(decodeMessage(hex(`08 01 0010 ${'61'.repeat(16)}`)), {
      type: 'decoders',
      codecs: [longest],
    });
  });

  test("room-codecs' list byte is 0 (null, nothing follows) or 1 (a list follows)", () => {
    assertDecodeError(hex('22 0003 6c6162 02 00'), 'FW_BAD_MESSAGE');
    // null with a list after it is trailing bytes.
    assertDecodeError(hex('22 0003 6c6162 00 00'), 'FW_BAD_MESSAGE');
    assertDecodeError(hex('22 0003 6c6162 01'), 'FW_TRUNCATED');
  });

  test('an update keeps the reserved track bits of publish', () => {
    assertDecodeError(hex('07 00000001 00000002 04'), 'FW_BAD_MESSAGE');
    assertDecodeError(hex('07 00000001 00000002 01'), 'FW_TRUNCATED');
  });
});

describe('protocol v4: the screen bit', () => {
  const vp8 = { codec: 'vp8', codedWidth: 640, codedHeight: 480 };
  // publish, requestId 1, room '', name '', tracks 05 (video + screen), video: 'vp8' 640x480, no description.
  const screenPublish = '02 00000001 0000 0000 05 0003 767038 0280 01e0 00000000';

  test('a publish of a screen: bit 2 of the tracks byte, both ways', () => {
    const m: Message = { type: 'publish', requestId: 1, room: '', name: '', video: vp8, screen: true };
    assert.equal(toHex(encodeMessage(m, 4)), toHex(hex(screenPublish)));
    assert.deepEqual(decodeMessage(hex(screenPublish), 4), m);
  });

  test('v2 and v3 have no screen bit: not written for them, refused from them', () => {
    const m: Message = { type: 'stream-added', streamId: 1, room: '', name: '', video: vp8, screen: true };
    const v3 = encodeMessage(m, 3);
    assert.equal(v3[9], 0x01, 'the tracks byte names the video only');
    assert.deepEqual(decodeMessage(v3, 3), {
      type: 'stream-added',
      streamId: 1,
      room: '',
      name: '',
      video: vp8,
    });
    assertDecodeError(hex(screenPublish), 'FW_BAD_MESSAGE', 3);
  });

  test('a screen needs a video track; bits 3-7 stay reserved', () => {
    // tracks 06: audio + screen, then an opus config.
    assertDecodeError(
      hex('02 00000001 0000 0000 06 0004 6f707573 0000bb80 02 00000000'),
      'FW_BAD_MESSAGE',
      4,
    );
    assertDecodeError(hex('02 00000001 0000 0000 09 0003 767038 0280 01e0 00000000'), 'FW_BAD_MESSAGE', 4);
    // The encoder drops a screen flag on a stream without video rather than write a refused byte.
    const audioOnly: Message = {
      type: 'publish',
      requestId: 1,
      room: '',
      name: '',
      audio: { codec: 'opus', sampleRate: 48_000, numberOfChannels: 2 },
      screen: true,
    };
    assert.equal(encodeMessage(audioOnly, 4)[9], 0x02);
  });
});
