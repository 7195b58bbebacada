// The tracks of a media file as ffprobe reads them: which codecs, and how long each track's packets span.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const exec = promisify(execFile);

/** One track of a file as ffprobe reads it: codec and the span its packets cover, in seconds. */
export interface TrackSpan {
  codec: string;
  packets: number;
  /** From the first packet's start to the last one's end. */
  seconds: number;
}

/** The video and audio tracks of `path`, from ffprobe's packet list (WebM has no per-track duration). */
export async function tracksOf(path: string): Promise<{ video?: TrackSpan; audio?: TrackSpan }> {
  const { stdout } = await exec(
    'ffprobe',
    [
      '-v',
      'error',
      '-of',
      'json',
      '-show_entries',
      'stream=index,codec_type,codec_name:packet=stream_index,pts_time,duration_time',
      path,
    ],
    { maxBuffer: 64 * 1024 * 1024, timeout: 30_000 },
  );
  const out = JSON.parse(stdout) as {
    streams: { index: number; codec_type: string; codec_name: string }[];
    packets: { stream_index: number; pts_time?: string; duration_time?: string }[];
  };
  const result: { video?: TrackSpan; audio?: TrackSpan } = {};
  for (const s of out.streams) {
    if (s.codec_type !== 'video' && s.codec_type !== 'audio') continue;
    const packets = out.packets.filter((p) => p.stream_index === s.index && p.pts_time !== undefined);
    const starts = packets.map((p) => Number(p.pts_time));
    const ends = packets.map((p) => Number(p.pts_time) + Number(p.duration_time ?? 0));
    result[s.codec_type] = {
      codec: s.codec_name,
      packets: packets.length,
      seconds: packets.length === 0 ? 0 : Math.max(...ends) - Math.min(...starts),
    };
  }
  return result;
}
