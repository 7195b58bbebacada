/** RTMP player for benchmarks: plays one stream and reports each video message. */
import { MSG, RtmpConnection } from './rtmp-connection.js';

/** Receives each complete video message: absolute timestamp, byte length, and a view of the body. */
export type VideoHandler = (timestampMs: number, bytes: number, body: Uint8Array) => void;

/** Plays one stream over RTMP; audio and data messages are ignored. */
export class RtmpPlayer {
  private constructor(private readonly conn: RtmpConnection) {}

  /** Connects, plays the URL's key, and resolves once the server says NetStream.Play.Start. */
  static async connect(url: string, onVideo: VideoHandler): Promise<RtmpPlayer> {
    const conn = await RtmpConnection.open(url);
    // Set before play: nginx and NMS send the sequence header right behind Play.Start.
    conn.onMedia = (type, timestampMs, body) => {
      if (type === MSG.video) onVideo(timestampMs, body.length, body);
    };
    try {
      const key = conn.url.key;
      await conn.withTimeout(
        `play ${url}`,
        (async () => {
          const id = await conn.createStream();
          // start -2: live if there is a live stream, as ffplay asks; both servers treat it as live.
          await conn.command('play', [key, -2], id, 'NetStream.Play.Start');
        })(),
      );
      return new RtmpPlayer(conn);
    } catch (err) {
      conn.close();
      throw err;
    }
  }

  /** Resolves when the connection has closed: with the error, or null after close(). */
  get closed(): Promise<Error | null> {
    return this.conn.closed;
  }

  /** Closes the connection at once. */
  close(): void {
    this.conn.close();
  }
}
