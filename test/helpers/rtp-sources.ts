import { type ChildProcess, spawn } from 'node:child_process';
import dgram from 'node:dgram';

/** One RTP packet as a source hands it on: header fields it chose, and the payload. */
export interface SourcePacket {
  sequenceNumber: number;
  timestamp: number;
  marker: boolean;
  payload: Buffer;
}

/** Largest VP8 payload per packet (descriptor included): well under a 1500-byte MTU after SRTP. */
const MAX_PAYLOAD = 1100;
/** Bound on the bytes held while an IVF frame is incomplete (a 320x240 keyframe is a few KB). */
const MAX_PENDING = 4 * 1024 * 1024;

/**
 * Cuts one VP8 frame into RTP payloads per RFC 7741 §4.2, written here from the RFC (not the server's
 * packetizer): X=1 with a 15-bit PictureID (I=1, M=1), S=1 on the first packet, partition index 0.
 */
export function packetizeVp8(frame: Buffer, pictureId: number): Buffer[] {
  const out: Buffer[] = [];
  const room = MAX_PAYLOAD - 4;
  for (let at = 0; at < frame.length; at += room) {
    const chunk = frame.subarray(at, at + room);
    const descriptor = Buffer.from([
      0x80 | (at === 0 ? 0x10 : 0), // X, S; N=0, PID=0
      0x80, // I: a PictureID follows
      0x80 | ((pictureId >> 8) & 0x7f), // M: 15-bit PictureID
      pictureId & 0xff,
    ]);
    out.push(Buffer.concat([descriptor, chunk]));
  }
  return out;
}

/**
 * A VP8 camera: ffmpeg's moving test pattern encoded by libvpx in real time (`-re`), read as IVF from its
 * stdout, packetized into RTP at 30 fps (timestamps from our own frame count, so they run on across
 * encoder restarts). Keyframes come every `gop` frames, and at once when {@link requestKeyframe} is
 * called: the encoder is restarted (its first frame is a keyframe), which is how a client without an
 * encoder API answers a PLI.
 */
export class Vp8RtpCamera {
  frames = 0;
  keyframes = 0;
  restarts = 0;
  /** Why the camera stopped on its own (ffmpeg wrote something that is not IVF), or null. */
  failure: Error | null = null;
  private sequence = Math.floor(Math.random() * 0x10000);
  private readonly timestampBase = Math.floor(Math.random() * 0x7fffffff);
  private child: ChildProcess | null = null;
  private stopped = false;
  private lastRestart = 0;

  constructor(
    private readonly onPacket: (p: SourcePacket) => void,
    private readonly gop = 600,
  ) {}

  /** Starts the encoder. */
  start(): void {
    const args = ['-hide_banner', '-loglevel', 'error', '-re'];
    args.push('-f', 'lavfi', '-i', 'testsrc2=size=320x240:rate=30');
    args.push('-c:v', 'libvpx', '-deadline', 'realtime', '-cpu-used', '8', '-b:v', '400k');
    args.push('-g', String(this.gop), '-keyint_min', String(this.gop), '-f', 'ivf', 'pipe:1');
    const child = spawn('ffmpeg', args, { stdio: ['ignore', 'pipe', 'inherit'] });
    this.child = child;
    let pending = Buffer.alloc(0);
    let headerRead = false;
    child.stdout?.on('data', (chunk: Buffer) => {
      // Output of an encoder we have replaced is ignored: its frames would interleave with the new one's.
      if (this.child !== child || this.stopped) return;
      pending = Buffer.concat([pending, chunk]);
      const fail = (why: string): void => {
        this.failure = new Error(why);
        this.stop();
      };
      if (pending.length > MAX_PENDING) return fail('an IVF frame over 4 MiB');
      if (!headerRead) {
        if (pending.length < 32) return;
        if (pending.toString('latin1', 0, 4) !== 'DKIF') return fail('ffmpeg wrote no IVF header');
        pending = pending.subarray(pending.readUInt16LE(6));
        headerRead = true;
      }
      // Each IVF frame: 4-byte LE size, 8-byte pts, then the frame.
      while (pending.length >= 12) {
        const size = pending.readUInt32LE(0);
        if (pending.length < 12 + size) break;
        this.sendFrame(Buffer.from(pending.subarray(12, 12 + size)));
        pending = pending.subarray(12 + size);
      }
    });
    child.on('error', () => {});
  }

  /** Answers a keyframe request by restarting the encoder; at most one restart per 500 ms. */
  requestKeyframe(): void {
    if (this.stopped || performance.now() - this.lastRestart < 500) return;
    this.lastRestart = performance.now();
    this.restarts++;
    this.child?.kill('SIGKILL');
    this.start();
  }

  /** Stops the encoder (this process's own child, by its handle). */
  stop(): void {
    this.stopped = true;
    this.child?.kill('SIGKILL');
  }

  private sendFrame(frame: Buffer): void {
    // RFC 6386 §9.1: bit 0 of the first byte is 0 for a keyframe.
    if (((frame[0] ?? 1) & 0x01) === 0) this.keyframes++;
    const timestamp = (this.timestampBase + this.frames * 3000) >>> 0;
    const payloads = packetizeVp8(frame, this.frames & 0x7fff);
    this.frames++;
    payloads.forEach((payload, i) => {
      this.sequence = (this.sequence + 1) & 0xffff;
      this.onPacket({ sequenceNumber: this.sequence, timestamp, marker: i === payloads.length - 1, payload });
    });
  }
}

/**
 * A microphone: ffmpeg's 440 Hz tone encoded as Opus (20 ms frames) and sent in real time by ffmpeg's own
 * RTP muxer to a UDP socket on 127.0.0.1 that we read; its RTCP (sent to the same port) is dropped.
 */
export class OpusRtpMicrophone {
  packets = 0;
  private child: ChildProcess | null = null;
  private readonly socket = dgram.createSocket('udp4');

  constructor(private readonly onPacket: (p: SourcePacket) => void) {}

  /** Binds the socket and starts ffmpeg. */
  async start(): Promise<void> {
    await new Promise<void>((resolve) => this.socket.bind(0, '127.0.0.1', resolve));
    this.socket.on('message', (msg) => {
      // RTCP packet types 200–204 read as 72–76 once the marker bit is masked off.
      const pt = (msg[1] ?? 0) & 0x7f;
      if (msg.length < 12 || (msg[0] ?? 0) >> 6 !== 2 || (pt >= 72 && pt <= 76)) return;
      const cc = (msg[0] ?? 0) & 0x0f;
      let offset = 12 + cc * 4;
      if ((msg[0] ?? 0) & 0x10) offset += 4 + msg.readUInt16BE(offset + 2) * 4;
      if (offset >= msg.length) return;
      this.packets++;
      this.onPacket({
        sequenceNumber: msg.readUInt16BE(2),
        timestamp: msg.readUInt32BE(4),
        marker: ((msg[1] ?? 0) & 0x80) !== 0,
        payload: Buffer.from(msg.subarray(offset)),
      });
    });
    const port = this.socket.address().port;
    const args = ['-hide_banner', '-loglevel', 'error', '-re'];
    args.push('-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000');
    args.push('-c:a', 'libopus', '-b:a', '48k', '-ac', '2', '-f', 'rtp');
    args.push(`rtp://127.0.0.1:${port}?rtcpport=${port}&pkt_size=1200`);
    this.child = spawn('ffmpeg', args, { stdio: ['ignore', 'ignore', 'inherit'] });
    this.child.on('error', () => {});
  }

  /** Stops ffmpeg and closes the socket. */
  stop(): void {
    this.child?.kill('SIGKILL');
    this.socket.close();
  }
}
