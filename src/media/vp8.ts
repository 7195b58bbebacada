/** True when a VP8 frame is a keyframe: bit 0 of the frame tag is 0 for key frames (RFC 6386 §9.1). */
export function isVp8Keyframe(data: Uint8Array): boolean {
  const first = data[0];
  return first !== undefined && (first & 0x01) === 0;
}
