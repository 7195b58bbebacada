/** Payload bytes per RTP packet: below a 1200-byte path MTU with room for SRTP and the headers. */
export const RTP_PAYLOAD_BYTES = 1100;

/**
 * Cuts VP8 frames into RTP packets (RFC 7741) with a one-byte payload descriptor (S on the first packet,
 * partition 0), since node-datachannel has no VP8 packetizer. Writes whole RTP packets: sequence numbers,
 * timestamp and marker are ours.
 */
export class Vp8Packetizer {
  private sequence = Math.floor(Math.random() * 0x10000);

  constructor(
    private readonly ssrc: number,
    private readonly payloadType: number,
  ) {}

  /** The RTP packets of one frame at RTP time `rtpTimestamp` (90 kHz). */
  packetize(frame: Uint8Array, rtpTimestamp: number): Uint8Array[] {
    const packets: Uint8Array[] = [];
    for (let offset = 0; offset < frame.length || offset === 0; offset += RTP_PAYLOAD_BYTES) {
      const chunk = frame.subarray(offset, offset + RTP_PAYLOAD_BYTES);
      const last = offset + RTP_PAYLOAD_BYTES >= frame.length;
      const packet = new Uint8Array(12 + 1 + chunk.length);
      const view = new DataView(packet.buffer);
      packet[0] = 0x80;
      packet[1] = (last ? 0x80 : 0) | this.payloadType;
      view.setUint16(2, this.sequence);
      view.setUint32(4, rtpTimestamp >>> 0);
      view.setUint32(8, this.ssrc);
      packet[12] = offset === 0 ? 0x10 : 0;
      packet.set(chunk, 13);
      this.sequence = (this.sequence + 1) & 0xffff;
      packets.push(packet);
      if (frame.length === 0) break;
    }
    return packets;
  }
}
