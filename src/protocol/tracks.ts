import type { StreamTracks } from './messages.js';

/** A stream's tracks for people and logs: `vp8 640x480 + opus 48 kHz stereo`. */
export function describeTracks(t: StreamTracks): string {
  const parts: string[] = [];
  if (t.video) parts.push(`${t.video.codec} ${t.video.codedWidth}x${t.video.codedHeight}`);
  if (t.audio) {
    const channels =
      t.audio.numberOfChannels === 1
        ? 'mono'
        : t.audio.numberOfChannels === 2
          ? 'stereo'
          : `${t.audio.numberOfChannels} ch`;
    parts.push(`${t.audio.codec} ${t.audio.sampleRate / 1000} kHz ${channels}`);
  }
  return parts.join(' + ');
}
