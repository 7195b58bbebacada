import { ByteQueue } from './byte-queue.js';
import { MediaError } from './errors.js';

/** Bytes of an Ogg page header before its segment table (RFC 3533, section 6). */
const PAGE_HEADER_BYTES = 27;
/** Header type flag: the page's first packet continues one from the previous page. */
const FLAG_CONTINUED = 0x01;
/** Header type flag: the last page of the logical stream. */
const FLAG_EOS = 0x04;
/**
 * Largest packet accepted: an Opus packet is at most 1275 bytes per frame and 120 ms, so anything near
 * this bound means a broken stream, and memory stays bounded.
 */
export const DEFAULT_MAX_OGG_PACKET_BYTES = 256 * 1024;

/** One whole Ogg packet and where it ended. */
export interface OggPacket {
  data: Uint8Array;
  /**
   * The granule position of the page on which this packet ends, when it is the last packet ending
   * there; -1 for earlier packets of the page (RFC 3533: a page's granule describes its last packet).
   */
  granule: number;
  /** Index of the packet within the pages that ended it: 0 for the first packet completed on a page. */
  indexOnPage: number;
  /** Packets completed on the same page (so `indexOnPage === onPage - 1` carries the granule). */
  onPage: number;
  /** Logical bitstream serial number. */
  serial: number;
  /** The page is the stream's last (its granule may then end before the last packet does: end trim). */
  eos: boolean;
}

/**
 * Streaming Ogg reader (RFC 3533): feed chunks with any boundaries; calls back once per complete
 * packet, in order, joining packets that span pages. Ignores the CRC (the bytes come from a local pipe).
 */
export class OggReader {
  private readonly queue = new ByteQueue();
  /** Pieces of a packet continued onto the next page. */
  private partial: Uint8Array[] = [];
  private partialBytes = 0;

  constructor(private readonly maxPacketBytes = DEFAULT_MAX_OGG_PACKET_BYTES) {}

  /** Feeds a chunk. Throws MediaError FW_FFMPEG_FAILED on a stream that is not Ogg. */
  push(chunk: Uint8Array, onPacket: (packet: OggPacket) => void): void {
    this.queue.push(chunk);
    for (;;) {
      const head = this.queue.peek(PAGE_HEADER_BYTES);
      if (head === null) return;
      if (head[0] !== 0x4f || head[1] !== 0x67 || head[2] !== 0x67 || head[3] !== 0x53) {
        throw new MediaError('FW_FFMPEG_FAILED', 'expected an Ogg stream (OggS page) from ffmpeg');
      }
      const segments = head[26] as number;
      const withTable = this.queue.peek(PAGE_HEADER_BYTES + segments);
      if (withTable === null) return;
      const table = withTable.subarray(PAGE_HEADER_BYTES);
      let bodyBytes = 0;
      for (const lacing of table) bodyBytes += lacing;
      if (this.queue.length < PAGE_HEADER_BYTES + segments + bodyBytes) return;
      const view = new DataView(head.buffer, head.byteOffset, head.byteLength);
      const flags = head[5] as number;
      // The granule is a signed 64-bit number; -1 means "no packet ends here". Below 2^53 it is exact.
      const granule = Number(view.getBigInt64(6, true));
      const serial = view.getUint32(14, true);
      // Copies: the table and header may be views of a chunk that skip() below releases.
      const lacings = Uint8Array.from(table);
      this.queue.skip(PAGE_HEADER_BYTES + segments);
      const body = this.queue.take(bodyBytes) as Uint8Array;
      if (!(flags & FLAG_CONTINUED) && this.partialBytes > 0) this.resetPartial();
      this.readPage(lacings, body, granule, serial, (flags & FLAG_EOS) !== 0, onPacket);
    }
  }

  private readPage(
    lacings: Uint8Array,
    body: Uint8Array,
    granule: number,
    serial: number,
    eos: boolean,
    onPacket: (packet: OggPacket) => void,
  ): void {
    // Packet boundaries first: a lacing value below 255 ends a packet.
    const ends: number[] = [];
    let offset = 0;
    for (const lacing of lacings) {
      offset += lacing;
      if (lacing < 255) ends.push(offset);
    }
    let start = 0;
    ends.forEach((end, i) => {
      let data = body.subarray(start, end);
      if (this.partialBytes > 0) {
        data = this.join(data);
      }
      start = end;
      if (data.length > this.maxPacketBytes) throw tooLarge(data.length, this.maxPacketBytes);
      onPacket({
        data,
        granule: i === ends.length - 1 ? granule : -1,
        indexOnPage: i,
        onPage: ends.length,
        serial,
        eos,
      });
    });
    if (start < body.length) {
      // The last packet goes on in the next page.
      const rest = body.slice(start);
      this.partial.push(rest);
      this.partialBytes += rest.length;
      if (this.partialBytes > this.maxPacketBytes) throw tooLarge(this.partialBytes, this.maxPacketBytes);
    }
  }

  private join(last: Uint8Array): Uint8Array {
    const out = new Uint8Array(this.partialBytes + last.length);
    let at = 0;
    for (const piece of this.partial) {
      out.set(piece, at);
      at += piece.length;
    }
    out.set(last, at);
    this.resetPartial();
    return out;
  }

  private resetPartial(): void {
    this.partial = [];
    this.partialBytes = 0;
  }
}

function tooLarge(bytes: number, limit: number): MediaError {
  return new MediaError('FW_FFMPEG_FAILED', `Ogg packet of ${bytes} bytes exceeds ${limit}`);
}
