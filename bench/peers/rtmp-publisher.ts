/** RTMP publisher for benchmarks: one stream, video only, FLV tag bodies in. */
import { CSID, MSG, RtmpConnection } from './rtmp-connection.js';

/** Publishes one stream over RTMP; the caller sends FLV video tag bodies. */
export class RtmpPublisher {
  private constructor(
    private readonly conn: RtmpConnection,
    private readonly streamId: number,
  ) {}

  /** Connects to rtmp://host:port/app/key and resolves once the server says NetStream.Publish.Start. */
  static async connect(url: string): Promise<RtmpPublisher> {
    const conn = await RtmpConnection.open(url);
    try {
      const key = conn.url.key;
      const streamId = await conn.withTimeout(
        `publish ${url}`,
        (async () => {
          const id = await conn.createStream();
          await conn.command('publish', [key, 'live'], id, 'NetStream.Publish.Start');
          return id;
        })(),
      );
      return new RtmpPublisher(conn, streamId);
    } catch (err) {
      conn.close();
      throw err;
    }
  }

  /** Sends one FLV video tag body (sequence header first) as an RTMP video message; never copies it. */
  sendVideo(tagBody: Uint8Array, timestampMs: number): void {
    this.conn.send(CSID.video, MSG.video, this.streamId, timestampMs, tagBody);
  }

  /** Bytes queued in the socket and not yet handed to the kernel. */
  get bufferedBytes(): number {
    return this.conn.socket.writableLength;
  }

  /** Resolves when the connection has closed: with the error, or null after close(). */
  get closed(): Promise<Error | null> {
    return this.conn.closed;
  }

  /** Closes the connection at once; the server ends the publish. */
  close(): void {
    this.conn.close();
  }
}
