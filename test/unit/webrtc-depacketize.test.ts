import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { orderCandidates } from '../../src/server/webrtc/answer-candidates.js';
import { H264Depacketizer } from '../../src/server/webrtc/h264-depacketizer.js';
import { isRtcp, parseRtp, RtpClock, rtcpWantsKeyframe } from '../../src/server/webrtc/rtp.js';
import { chooseH264, parseOffer } from '../../src/server/webrtc/sdp-offer.js';
import { Vp8Depacketizer, vp8KeyframeSize } from '../../src/server/webrtc/vp8-depacketizer.js';
import { Vp8Packetizer } from '../../src/server/webrtc/vp8-packetizer.js';

const bytes = (...b: number[]) => new Uint8Array(b);
const hex = (u: Uint8Array) => Buffer.from(u).toString('hex');

// H.264 NAL units (header byte first): an SPS, a PPS, an IDR slice and a non-IDR slice.
const SPS = bytes(0x67, 0x42, 0xc0, 0x1f, 0xda, 0x01);
const PPS = bytes(0x68, 0xce, 0x3c, 0x80);
const IDR = bytes(0x65, 0x88, 0x84, 0x00, 0x33, 0xff, 0x10, 0x20);
const SLICE = bytes(0x41, 0x9a, 0x02, 0x03);

describe('RTP', () => {
  it('parses a header with CSRCs, an extension and padding', () => {
    const packet = bytes(
      0xb1,
      0xe6,
      0x12,
      0x34, // V=2 P=1 X=1 CC=1; M=1 PT=102; seq 0x1234
      0x00,
      0x00,
      0x0b,
      0xb8, // timestamp 3000
      0xde,
      0xad,
      0xbe,
      0xef, // SSRC
      0x00,
      0x00,
      0x00,
      0x01, // CSRC
      0xbe,
      0xde,
      0x00,
      0x01, // extension, 1 word
      0x10,
      0xff,
      0x00,
      0x00,
      0x41,
      0x42, // payload
      0x00,
      0x02, // padding: 2 bytes
    );
    const rtp = parseRtp(packet);
    assert.ok(rtp);
    assert.equal(rtp.payloadType, 102);
    assert.equal(rtp.marker, true);
    assert.equal(rtp.sequence, 0x1234);
    assert.equal(rtp.timestamp, 3000);
    assert.equal(rtp.ssrc, 0xdeadbeef);
    assert.equal(hex(rtp.payload), '4142');
  });

  it('refuses short, wrong-version and overrunning packets, and never throws on junk', () => {
    assert.equal(parseRtp(bytes(0x80, 0x60)), null);
    assert.equal(parseRtp(new Uint8Array(12).fill(0x40)), null);
    // Extension length past the end.
    assert.equal(parseRtp(bytes(0x90, 0x60, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0xbe, 0xde, 0xff, 0xff)), null);
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (junk) => {
        parseRtp(junk);
        rtcpWantsKeyframe(junk);
      }),
    );
  });

  it('tells RTCP from RTP and finds a PLI or FIR in a compound packet', () => {
    const rr = bytes(0x80, 201, 0x00, 0x01, 0, 0, 0, 1);
    const pli = bytes(0x81, 206, 0x00, 0x02, 0, 0, 0, 1, 0, 0, 0, 2);
    const fir = bytes(0x84, 206, 0x00, 0x04, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 2, 1, 0, 0, 0);
    const nack = bytes(0x81, 205, 0x00, 0x03, 0, 0, 0, 1, 0, 0, 0, 2, 0, 5, 0, 0);
    assert.ok(isRtcp(rr));
    assert.ok(!isRtcp(bytes(0x80, 0x66, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0)));
    assert.ok(rtcpWantsKeyframe(Buffer.concat([rr, pli])));
    assert.ok(rtcpWantsKeyframe(fir));
    assert.ok(!rtcpWantsKeyframe(Buffer.concat([rr, nack])));
  });

  it('unwraps 32-bit timestamps into microseconds', () => {
    const clock = new RtpClock(90000);
    assert.equal(clock.micros(0xffffff00), 0);
    assert.equal(
      clock.micros(0xffffff00 + 3000 - 2 ** 32 + 0),
      Math.round(((3000 - 2 ** 32 + 2 ** 32) * 1e6) / 90000),
    );
    assert.equal(clock.micros((0xffffff00 + 90000) >>> 0), 1_000_000);
    const audio = new RtpClock(48000);
    audio.micros(100);
    assert.equal(audio.micros(100 + 960), 20_000);
  });
});

describe('H.264 depacketizer', () => {
  it('joins a STAP-A (SPS, PPS) and a FU-A IDR into one Annex B keyframe at the marker', () => {
    const d = new H264Depacketizer();
    const stap = bytes(0x78, 0, SPS.length, ...SPS, 0, PPS.length, ...PPS);
    // FU indicator: NRI of the IDR (0x60) | 28; FU headers: S | type 5, then E | type 5.
    const fu1 = bytes(0x7c, 0x85, ...IDR.subarray(1, 4));
    const fu2 = bytes(0x7c, 0x45, ...IDR.subarray(4));
    assert.deepEqual(d.push(stap, 10, 9000, false), []);
    assert.deepEqual(d.push(fu1, 11, 9000, false), []);
    const [frame] = d.push(fu2, 12, 9000, true);
    assert.ok(frame);
    assert.equal(frame.key, true);
    assert.equal(frame.timestamp, 9000);
    assert.equal(hex(frame.data), hex(bytes(0, 0, 0, 1, ...SPS, 0, 0, 0, 1, ...PPS, 0, 0, 0, 1, ...IDR)));
    // Then a single-NAL delta frame.
    const [delta] = d.push(SLICE, 13, 12000, true);
    assert.equal(delta?.key, false);
    assert.equal(hex(delta?.data ?? bytes()), hex(bytes(0, 0, 0, 1, ...SLICE)));
  });

  it('ends a frame on a timestamp change when the marker was lost with its packet... and then waits for an IDR', () => {
    const d = new H264Depacketizer();
    d.push(IDR, 1, 0, true);
    // Sequence 3: packet 2 is lost, so this delta frame (and the ones after) cannot decode.
    assert.deepEqual(d.push(SLICE, 3, 3000, true), []);
    assert.equal(d.needsKeyframe, true);
    assert.deepEqual(d.push(SLICE, 4, 6000, true), []);
    const [key] = d.push(IDR, 5, 9000, true);
    assert.equal(key?.key, true);
    assert.equal(d.needsKeyframe, false);
  });

  it('drops a frame whose FU-A start was lost, and starts only at an IDR', () => {
    const d = new H264Depacketizer();
    assert.deepEqual(d.push(SLICE, 1, 0, true), [], 'no IDR yet');
    assert.deepEqual(d.push(bytes(0x7c, 0x45, 1, 2), 2, 3000, true), []);
  });

  it('never throws on random payloads', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.uint8Array({ maxLength: 40 }), fc.boolean()), { maxLength: 30 }),
        (packets) => {
          const d = new H264Depacketizer();
          packets.forEach(([p, m], i) => {
            d.push(p, i, i * 100, m);
          });
        },
      ),
    );
  });
});

describe('VP8', () => {
  // A VP8 keyframe header: frame tag (key, show), start code, 640x480.
  const KEY = bytes(0x50, 0x42, 0x00, 0x9d, 0x01, 0x2a, 0x80, 0x02, 0xe0, 0x01, 0xaa, 0xbb, 0xcc);
  const DELTA = bytes(0x31, 0x02, 0x00, 0xdd, 0xee);

  it('reads the size of a keyframe', () => {
    assert.deepEqual(vp8KeyframeSize(KEY), { width: 640, height: 480 });
    assert.equal(vp8KeyframeSize(DELTA), null);
  });

  it('depacketizes what the packetizer cut, with extended descriptors too', () => {
    const big = new Uint8Array(2500);
    big.set(KEY);
    const packets = new Vp8Packetizer(1234, 96).packetize(big, 90000);
    assert.equal(packets.length, 3);
    const d = new Vp8Depacketizer();
    const out = packets.flatMap((p) => {
      const rtp = parseRtp(p);
      assert.ok(rtp);
      return d.push(rtp.payload, rtp.sequence, rtp.timestamp, rtp.marker);
    });
    assert.equal(out.length, 1);
    assert.equal(out[0]?.key, true);
    assert.equal(hex(out[0]?.data ?? bytes()), hex(big));
    // Chromium's descriptor: X=1, I with a 15-bit PictureID, L (TL0PICIDX), T/K byte.
    const chromium = bytes(0x90, 0xe0, 0x80, 0x01, 0x05, 0x20, ...DELTA);
    const seq = (parseRtp(packets[2] as Uint8Array)?.sequence ?? 0) + 1;
    const [delta] = d.push(chromium, seq & 0xffff, 93000, true);
    assert.equal(delta?.key, false);
    assert.equal(hex(delta?.data ?? bytes()), hex(DELTA));
  });

  it('never throws on random payloads', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.uint8Array({ maxLength: 40 }), fc.boolean()), { maxLength: 30 }),
        (packets) => {
          const d = new Vp8Depacketizer();
          packets.forEach(([p, m], i) => {
            d.push(p, i, i * 100, m);
          });
        },
      ),
    );
  });
});

describe('SDP offers and answers', () => {
  const offer = (extra = '') =>
    [
      'v=0',
      'o=- 1 2 IN IP4 127.0.0.1',
      's=-',
      't=0 0',
      'a=fingerprint:sha-256 AB:CD',
      'a=ice-ufrag:abcd',
      'a=ice-pwd:abcdefghijklmnopqrstuvwx',
      'm=video 9 UDP/TLS/RTP/SAVPF 96 97 98',
      'a=mid:v',
      'a=recvonly',
      'a=rtpmap:96 VP8/90000',
      'a=rtpmap:97 H264/90000',
      'a=fmtp:97 packetization-mode=0;profile-level-id=42e01f',
      'a=rtpmap:98 H264/90000',
      'a=fmtp:98 packetization-mode=1;profile-level-id=640c1f',
      extra,
    ].join('\r\n');

  it('parses sections and picks H.264 packetization-mode 1', () => {
    const [video] = parseOffer(offer());
    assert.equal(video?.mid, 'v');
    assert.equal(video?.direction, 'recvonly');
    assert.equal(video?.codecs.length, 3);
    assert.equal(video && chooseH264(video)?.payloadType, 98);
  });

  it('refuses what we do not pass on, naming it', () => {
    assert.throws(
      () => parseOffer(offer('a=candidate:1 1 udp 1 1.2.3.4 5 typ host\r\n'.repeat(40))),
      /candidates/,
    );
    assert.throws(() => parseOffer(offer().replace('a=mid:v', '')), /without a=mid/);
    assert.throws(() => parseOffer(`x${offer()}`), /v=0/);
    assert.throws(() => parseOffer(offer('a=x:\u00ff')), /printable ASCII/);
    fc.assert(
      fc.property(fc.string({ maxLength: 300 }), (junk) => {
        try {
          parseOffer(junk);
        } catch (err) {
          assert.equal((err as { code?: string }).code, 'FW_BAD_SDP');
        }
      }),
    );
  });

  it('puts the public address first in an answer, then IPv4 before IPv6', () => {
    const answer = [
      'm=video 7483 UDP/TLS/RTP/SAVPF 96',
      'c=IN IP4 192.0.2.2',
      'a=candidate:2 1 UDP 2116026111 fd00::2 7483 typ host',
      'a=candidate:1 1 UDP 2114977791 192.0.2.2 7483 typ host',
      'a=end-of-candidates',
    ].join('\r\n');
    const lines = orderCandidates(answer, '203.0.113.7').split('\r\n');
    assert.equal(lines[1], 'c=IN IP4 203.0.113.7');
    assert.equal(lines[2], 'a=candidate:0 1 UDP 2130706431 203.0.113.7 7483 typ host');
    assert.match(lines[3] ?? '', /192\.0\.2\.2/);
    assert.match(lines[4] ?? '', /fd00::2/);
    assert.match(orderCandidates(answer, null).split('\r\n')[2] ?? '', /192\.0\.2\.2/);
  });
});
