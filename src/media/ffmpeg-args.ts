/** Where the pictures come from: a synthetic test pattern, a V4L2 camera or a file. */
export type SourceInput =
  | { kind: 'test-pattern' }
  | { kind: 'camera'; device: string }
  | { kind: 'file'; path: string; loop?: boolean };

/** What ffmpeg should produce; the fields of SourceOptions that shape its command line. */
export interface EncodeArgsOptions {
  input: SourceInput;
  codec: 'vp8' | 'h264';
  width?: number;
  height?: number;
  fps: number;
  bitrate: number;
  keyframeIntervalSec?: number;
  durationSec?: number;
  /** Draw a wall clock on the test pattern (turned off only when drawtext cannot start). */
  clock?: boolean;
}

/** Default picture size for camera and test-pattern inputs. */
export const DEFAULT_WIDTH = 640;
export const DEFAULT_HEIGHT = 480;
/** Default keyframe interval: short enough for a late viewer, long enough to keep the bitrate steady. */
export const DEFAULT_KEYFRAME_INTERVAL_SEC = 2;

/** The ffmpeg argument list (without the program name) that encodes `opts` to stdout as IVF (VP8) or FLV (H.264). */
export function buildEncodeArgs(opts: EncodeArgsOptions): string[] {
  const args = ['-hide_banner', '-loglevel', 'error', '-nostdin'];
  const fps = String(opts.fps);
  const { input } = opts;
  // Filters applied to the picture before it is stamped and encoded.
  const filters: string[] = [];
  if (input.kind === 'test-pattern') {
    const w = opts.width ?? DEFAULT_WIDTH;
    const h = opts.height ?? DEFAULT_HEIGHT;
    args.push('-f', 'lavfi', '-i', `testsrc2=size=${w}x${h}:rate=${fps}`);
    // realtime rather than -re: it releases each picture at its scheduled time, so the stamp below is
    // that time (ffmpeg 5's -re paces the reading of packets, one step before the filters run).
    filters.push('realtime');
    if (opts.clock !== false) {
      const size = Math.max(12, Math.round(h / 12));
      const margin = Math.round(size / 2);
      // The clock makes end-to-end latency visible: compare it with the wall clock next to the viewer. At
      // the bottom left: testsrc2 draws its own media timestamp at the top left. Drawn after realtime, so
      // it shows the same moment as the capture stamp.
      filters.push(
        `drawtext=text='%{localtime\\:%T}':fontsize=${size}:fontcolor=white` +
          `:box=1:boxcolor=black@0.5:x=${margin}:y=h-th-${margin}`,
      );
    }
  } else if (input.kind === 'camera') {
    const size = `${opts.width ?? DEFAULT_WIDTH}x${opts.height ?? DEFAULT_HEIGHT}`;
    args.push('-f', 'v4l2', '-framerate', fps, '-video_size', size, '-i', input.device);
  } else {
    if (input.loop) args.push('-stream_loop', '-1');
    args.push('-i', input.path);
    if (opts.width !== undefined || opts.height !== undefined) {
      filters.push(`scale=${opts.width ?? -2}:${opts.height ?? -2}`);
    }
    // The caller's fps sets the keyframe interval in frames, so the file is resampled to it; realtime
    // plays it at its own pace (as -re would) and releases each picture at its scheduled time.
    filters.push(`fps=${fps}`, 'realtime');
  }
  // Each picture's pts becomes a wall clock (µs), which the parsers read back as the frame's capture time,
  // so a viewer's latency covers encoding too, as it does for a browser publisher. A camera's picture is
  // stamped when ffmpeg takes it from the driver; a test pattern's or a file's with the moment it is due
  // (the first one's moment plus its media time), so the stamps stay as even as the frame rate even when
  // ffmpeg runs late, and lateness shows as latency.
  const stamp = input.kind === 'camera' ? 'RTCTIME' : 'RTCSTART+PTS-STARTPTS';
  filters.push('settb=AVTB', `setpts=${stamp}`);
  args.push('-vf', filters.join(','));
  args.push('-map', '0:v:0', '-an', '-sn', '-dn');
  // -copyts keeps those stamps; passthrough keeps ffmpeg from dropping or duplicating frames to fit a
  // constant rate; the encoder's µs time base keeps them exact (by default it rounds to 1/fps).
  args.push('-copyts', '-fps_mode', 'passthrough', '-enc_time_base:v', '1:1000000');
  // A frame count, not -t: with -copyts an output -t would count from time 0, decades ago.
  if (opts.durationSec !== undefined)
    args.push('-frames:v', String(Math.max(1, Math.round(opts.durationSec * opts.fps))));
  const keyint = String(
    Math.max(1, Math.round(opts.fps * (opts.keyframeIntervalSec ?? DEFAULT_KEYFRAME_INTERVAL_SEC))),
  );
  const bitrate = String(Math.round(opts.bitrate));
  if (opts.codec === 'vp8') {
    args.push(
      ...['-c:v', 'libvpx', '-pix_fmt', 'yuv420p', '-deadline', 'realtime', '-cpu-used', '8'],
      ...['-lag-in-frames', '0', '-auto-alt-ref', '0', '-error-resilient', '1'],
      ...['-g', keyint, '-b:v', bitrate, '-f', 'ivf', '-flush_packets', '1', 'pipe:1'],
    );
  } else {
    // FLV rather than raw Annex B: every tag carries its size, so a frame is complete when read,
    // whereas an Annex B reader only knows a frame ended when the next one starts.
    args.push(
      ...['-c:v', 'libx264', '-preset', 'ultrafast', '-tune', 'zerolatency', '-profile:v', 'baseline'],
      ...['-pix_fmt', 'yuv420p', '-g', keyint, '-bf', '0', '-b:v', bitrate],
      ...['-f', 'flv', '-flush_packets', '1', 'pipe:1'],
    );
  }
  return args;
}
