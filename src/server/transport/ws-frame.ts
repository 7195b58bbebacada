/**
 * A server-to-client WebSocket frame (RFC 6455 §5.2): one final, unmasked binary frame holding `body`.
 *
 * Servers never mask, so the frame is the same bytes for every viewer. Building it once per relayed
 * message, instead of letting `ws` add a header per viewer on each send, makes a WebSocket viewer cost
 * one socket write per frame, as a TCP viewer does. (`ws` builds the same bytes in its `Sender.frame`,
 * which is undocumented and untyped; the test checks ours against it.)
 */
export function wsBinaryFrame(body: Uint8Array): Uint8Array {
  const n = body.length;
  const headerBytes = n < 126 ? 2 : n < 0x10000 ? 4 : 10;
  const frame = new Uint8Array(headerBytes + n);
  frame[0] = 0x82; // FIN + opcode 2 (binary)
  const view = new DataView(frame.buffer);
  if (headerBytes === 2) {
    frame[1] = n;
  } else if (headerBytes === 4) {
    frame[1] = 126;
    view.setUint16(2, n);
  } else {
    frame[1] = 127;
    view.setBigUint64(2, BigInt(n));
  }
  frame.set(body, headerBytes);
  return frame;
}
