import assert from 'node:assert/strict';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { connect } from '../../src/client/index.js';
import { startServer } from '../../src/server/index.js';
import { mintToken } from '../../src/server/ops/auth.js';
import { ensureBuilt, exited, poll, serve, tempDirForFile } from '../helpers/cli.js';
import { ffprobe, type LivePublisher, startLivePublisher } from '../helpers/live-publisher.js';

const FPS = 15;
const tmpDir = tempDirForFile('framewire-rec-');

/** The fields of the first log line of `event` whose fields include all of `match`. */
function logLine(
  lines: string[],
  event: string,
  match: Record<string, string>,
): Record<string, string> | undefined {
  for (const line of lines) {
    const m = / (?:info|warn|error) (\S+)(.*)$/.exec(line);
    if (m?.[1] !== event) continue;
    const fields: Record<string, string> = {};
    for (const [, k, v] of (m[2] ?? '').matchAll(/ (\w+)=("(?:[^"\\]|\\.)*"|\S+)/g)) {
      fields[k as string] = (v as string).startsWith('"')
        ? (JSON.parse(v as string) as string)
        : (v as string);
    }
    if (Object.entries(match).every(([k, v]) => fields[k] === v)) return fields;
  }
  return undefined;
}

/** Calls the recording API of `server` for room/name with `method`; the JSON answer and status. */
async function recordingApi(
  httpPort: number,
  method: string,
  room: string,
  name: string,
  token?: string,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const headers: Record<string, string> = token ? { authorization: `Bearer ${token}` } : {};
  const res = await fetch(`http://127.0.0.1:${httpPort}/api/rooms/${room}/streams/${name}/recording`, {
    method,
    headers,
  });
  const text = await res.text();
  return { status: res.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
}

/** Resolves once the server's recording of room/name has written at least `frames` frames. */
function recordedFrames(httpPort: number, room: string, name: string, frames: number): Promise<string> {
  return poll(
    async () => {
      const { body } = await recordingApi(httpPort, 'GET', room, name);
      return body.recording === true && (body.frames as number) >= frames && (body.file as string);
    },
    15_000,
    `${frames} frames recorded of ${room}/${name}`,
  );
}

describe('recording (serve --record DIR)', { timeout: 120_000 }, () => {
  for (const { codec, ext, probeCodec, format } of [
    { codec: 'h264', ext: 'mp4', probeCodec: 'h264', format: /mp4/ },
    { codec: 'vp8', ext: 'webm', probeCodec: 'vp8', format: /webm/ },
  ] as const) {
    it(`records a live ${codec} stream to .${ext}: every frame, and ffprobe's duration is the time recorded`, async (t) => {
      const dir = join(tmpDir(), `auto-${codec}`);
      const lines: string[] = [];
      const server = await startServer({
        tcpPort: 0,
        httpPort: 0,
        recordDir: dir,
        log: (l) => lines.push(l),
      });
      let pub: LivePublisher | null = null;
      try {
        pub = await startLivePublisher(server.tcpPort, 'lab', 'cam', { codec, fps: FPS });
        const started = logLine(lines, 'record-start', { name: 'cam' });
        assert.ok(started, 'record-start logged when the stream opened');
        // Four seconds of stream: two keyframe intervals, so the file holds more than one GOP.
        const wanted = 4 * FPS + 1;
        await poll(() => (pub as LivePublisher).sent.frames >= wanted, 15_000, `${wanted} frames sent`);
        await pub.stop();
        const sent = { ...pub.sent };
        pub = null;
        const ended = await poll(() => logLine(lines, 'record-end', { name: 'cam' }), 10_000, 'record-end');
        const file = ended.file as string;
        assert.equal(file, started.file);
        assert.match(
          file,
          new RegExp(`^${dir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}/lab/cam-\\d{8}T\\d{6}Z\\.${ext}$`),
        );
        assert.equal(ended.reason, 'disconnected');
        assert.equal(ended.dropped, '0');
        assert.equal(Number(ended.frames), sent.frames, 'the recording wrote every frame the publisher sent');

        const probed = await ffprobe(file);
        assert.match(probed.format, format);
        assert.equal(probed.codec, probeCodec);
        assert.equal(`${probed.width}x${probed.height}`, '320x240');
        assert.equal(probed.errors, '', 'ffprobe decodes the file without an error');
        assert.equal(probed.frames, sent.frames, 'ffprobe decodes every frame sent');
        const mediaSeconds = (sent.lastTimestamp - sent.firstTimestamp) / 1e6;
        const wallSeconds = (sent.lastCapture - sent.firstCapture) / 1e6;
        t.diagnostic(
          `${codec}: ${sent.frames} frames sent over ${wallSeconds.toFixed(3)} s wall, ` +
            `${mediaSeconds.toFixed(3)} s media; log seconds=${ended.seconds}; ffprobe ${probed.duration.toFixed(3)} s, ${probed.frames} frames`,
        );
        // The file spans the media time from the first frame to the last, plus at most the last frame's
        // own duration (1/fps) depending on the container, plus 1 ms of timecode rounding (WebM is in ms).
        const frame = 1 / FPS;
        assert.ok(
          probed.duration >= mediaSeconds - 0.002 && probed.duration <= mediaSeconds + frame + 0.002,
          `ffprobe duration ${probed.duration} s vs ${mediaSeconds} s of media recorded`,
        );
        // ffmpeg's test pattern runs in real time (-re), so media time tracks the wall clock at which
        // frames came out of ffmpeg. Unloaded they agree within ~50 ms; on 2 cores shared with other
        // tests, reads of ffmpeg's pipe can stall and bunch a few frames, hence 0.25 s (~4 frames, 6 %).
        assert.ok(
          Math.abs(probed.duration - wallSeconds) <= 0.25,
          `ffprobe duration ${probed.duration} s vs ${wallSeconds} s of wall clock recorded`,
        );
      } finally {
        await pub?.stop();
        await server.close();
      }
    });
  }

  it('framewire serve --record DIR finalises the file on SIGTERM while the stream is live', async (t) => {
    ensureBuilt();
    const dir = join(tmpDir(), 'sigterm');
    const served = await serve({ tcp: 0, http: 0 }, process.env, ['--record', dir]);
    let stderr = '';
    served.child.stderr?.on('data', (s: string) => {
      stderr += s;
    });
    // WebM is the harder case: unlike fragmented MP4 it needs its sizes and cues written at the end.
    const pub = await startLivePublisher(served.port, 'lab', 'cam', { codec: 'vp8', fps: FPS });
    try {
      const file = await recordedFrames(served.httpPort, 'lab', 'cam', 2 * FPS);
      served.child.kill('SIGTERM');
      assert.equal(await exited(served.child), 0, `serve exit code (stderr:\n${stderr})`);
      const ended = logLine(stderr.split('\n'), 'record-end', { name: 'cam' });
      assert.ok(ended, `record-end logged before exit:\n${stderr}`);
      assert.equal(ended.reason, 'shutdown');
      assert.equal(ended.file, file);
      // Read at once after exit: serve returned only once the file was finalised.
      const probed = await ffprobe(file);
      assert.equal(probed.codec, 'vp8');
      assert.equal(probed.errors, '');
      assert.equal(probed.frames, Number(ended.frames));
      assert.ok(probed.frames >= 2 * FPS, `${probed.frames} frames`);
      assert.ok(
        Math.abs(probed.duration - Number(ended.seconds)) <= 1 / FPS + 0.002,
        `ffprobe ${probed.duration} s vs ${ended.seconds} s logged`,
      );
      t.diagnostic(
        `SIGTERM: ${probed.frames} frames, ffprobe ${probed.duration} s, logged ${ended.seconds} s`,
      );
    } finally {
      await pub.stop();
    }
  });

  it('starts and stops a recording through the API; close() finalises the one in progress', async (t) => {
    const dir = join(tmpDir(), 'api');
    const lines: string[] = [];
    const server = await startServer({ tcpPort: 0, httpPort: 0, recordDir: dir, log: (l) => lines.push(l) });
    const port = server.httpPort;
    let closed = false;
    const pub = await startLivePublisher(server.tcpPort, 'lab', 'cam', { codec: 'h264', fps: FPS });
    try {
      // Recording from the start (recordDir), so a second start is a conflict.
      const first = await recordedFrames(port, 'lab', 'cam', 5);
      const again = await recordingApi(port, 'POST', 'lab', 'cam');
      assert.equal(again.status, 409);
      assert.equal((again.body.error as { code: string }).code, 'FW_ALREADY_RECORDING');
      const stats = (await (await fetch(`http://127.0.0.1:${port}/api/rooms/lab`)).json()) as {
        streams: { recording: string | null }[];
      };
      assert.equal(stats.streams[0]?.recording, first);

      // DELETE answers once the file is finalised: ffprobe reads it straight away.
      const stopped = await recordingApi(port, 'DELETE', 'lab', 'cam');
      assert.equal(stopped.status, 200);
      assert.equal(stopped.body.file, first);
      const firstProbe = await ffprobe(first);
      assert.equal(firstProbe.errors, '');
      assert.equal(firstProbe.frames, stopped.body.frames);
      assert.ok(Math.abs(firstProbe.duration - (stopped.body.seconds as number)) <= 1 / FPS + 0.002);
      assert.deepEqual((await recordingApi(port, 'GET', 'lab', 'cam')).body, { recording: false });
      const notRecording = await recordingApi(port, 'DELETE', 'lab', 'cam');
      assert.equal(notRecording.status, 409);
      assert.equal((notRecording.body.error as { code: string }).code, 'FW_NOT_RECORDING');

      // A new recording starts mid-stream on the cached GOP, so its first frame is a keyframe.
      const restarted = await recordingApi(port, 'POST', 'lab', 'cam');
      assert.equal(restarted.status, 201);
      const second = restarted.body.file as string;
      assert.notEqual(second, first);
      assert.ok(existsSync(second));
      await recordedFrames(port, 'lab', 'cam', FPS);
      const stopped2 = await recordingApi(port, 'DELETE', 'lab', 'cam');
      assert.equal(stopped2.status, 200);
      const secondProbe = await ffprobe(second);
      assert.equal(secondProbe.errors, '', 'a recording started mid-stream decodes from its first frame');
      assert.equal(secondProbe.frames, stopped2.body.frames);
      t.diagnostic(
        `API: first ${firstProbe.frames} frames / ${firstProbe.duration} s (said ${stopped.body.seconds} s); ` +
          `second ${secondProbe.frames} frames / ${secondProbe.duration} s (said ${stopped2.body.seconds} s)`,
      );

      // A third, left running: close() resolves only once it is finalised.
      const third = (await recordingApi(port, 'POST', 'lab', 'cam')).body.file as string;
      await recordedFrames(port, 'lab', 'cam', FPS);
      await server.close();
      closed = true;
      const thirdProbe = await ffprobe(third);
      assert.equal(thirdProbe.errors, '');
      const ended = logLine(lines, 'record-end', { file: third });
      assert.equal(ended?.reason, 'shutdown');
      assert.equal(thirdProbe.frames, Number(ended?.frames));
    } finally {
      await pub.stop();
      if (!closed) await server.close();
    }
  });

  it('answers 404 for a missing stream, 405 for other methods, and refuses to start without --record', async () => {
    const server = await startServer({ tcpPort: 0, httpPort: 0, log: () => {} });
    const pub = await startLivePublisher(server.tcpPort, 'lab', 'cam', { codec: 'vp8', fps: FPS });
    try {
      const missing = await recordingApi(server.httpPort, 'POST', 'lab', 'nope');
      assert.equal(missing.status, 404);
      assert.equal((missing.body.error as { code: string }).code, 'FW_NOT_FOUND');
      assert.equal((await recordingApi(server.httpPort, 'PUT', 'lab', 'cam')).status, 405);
      const off = await recordingApi(server.httpPort, 'POST', 'lab', 'cam');
      assert.equal(off.status, 409);
      const error = off.body.error as { code: string; message: string };
      assert.equal(error.code, 'FW_RECORDING_OFF');
      assert.match(error.message, /--record DIR/);
      assert.deepEqual((await recordingApi(server.httpPort, 'GET', 'lab', 'cam')).body, { recording: false });
    } finally {
      await pub.stop();
      await server.close();
    }
  });

  it('does not record a stream whose codec no container here holds, and says so in the log', async () => {
    const dir = join(tmpDir(), 'hevc');
    const lines: string[] = [];
    const server = await startServer({ tcpPort: 0, httpPort: 0, recordDir: dir, log: (l) => lines.push(l) });
    const client = await connect({
      host: '127.0.0.1',
      port: server.tcpPort,
      role: 'publisher',
      agent: 'test',
    });
    try {
      await client.publish('lab', 'hevc', {
        video: { codec: 'hvc1.1.6.L93.B0', codedWidth: 320, codedHeight: 240 },
      });
      const skipped = logLine(lines, 'record-skipped', { name: 'hevc' });
      assert.equal(skipped?.code, 'FW_UNSUPPORTED_CODEC');
      assert.match(lines.find((l) => l.includes('record-skipped')) ?? '', / warn /);
      assert.equal(logLine(lines, 'record-start', { name: 'hevc' }), undefined);
      const api = await recordingApi(server.httpPort, 'POST', 'lab', 'hevc');
      assert.equal(api.status, 415);
      assert.deepEqual(readdirSync(dir), []);
    } finally {
      await client.close();
      await server.close();
    }
  });

  it('a file that cannot be opened: an error line, a 500 from the API, and the stream goes on', async () => {
    const dir = join(tmpDir(), 'blocked');
    const lines: string[] = [];
    const server = await startServer({ tcpPort: 0, httpPort: 0, recordDir: dir, log: (l) => lines.push(l) });
    // A file where the room's folder should be.
    writeFileSync(join(dir, 'lab'), 'in the way');
    const pub = await startLivePublisher(server.tcpPort, 'lab', 'cam', { codec: 'vp8', fps: FPS });
    try {
      const failed = await poll(() => logLine(lines, 'record-end', { name: 'cam' }), 10_000, 'record-end');
      assert.equal(failed.reason, 'open-failed');
      assert.match(failed.error ?? '', /ENOTDIR/);
      assert.match(lines.find((l) => l.includes(' record-end ')) ?? '', / error record-end /);
      const api = await recordingApi(server.httpPort, 'POST', 'lab', 'cam');
      assert.equal(api.status, 500);
      assert.equal((api.body.error as { code: string }).code, 'FW_RECORDING_FAILED');
      const before = server.relay.findStream('lab', 'cam')?.framesIn ?? 0;
      await poll(
        () => (server.relay.findStream('lab', 'cam')?.framesIn ?? 0) > before + 5,
        5000,
        'more frames',
      );
    } finally {
      await pub.stop();
      await server.close();
    }
  });

  it('in token mode, starting and stopping need an admin token', async () => {
    const secret = 'a-test-secret-that-is-long-enough-for-hs256!';
    const token = (publish: boolean, view: boolean, room = 'lab') =>
      mintToken(secret, { room, publish, view, ttlSec: 60 });
    const server = await startServer({
      tcpPort: 0,
      httpPort: 0,
      secret,
      recordDir: join(tmpDir(), 'tokens'),
      log: () => {},
    });
    const pubToken = await token(true, false);
    const pub = await startLivePublisher(server.tcpPort, 'lab', 'cam', {
      codec: 'vp8',
      fps: FPS,
      token: pubToken,
    });
    try {
      const port = server.httpPort;
      const admin = await mintToken(secret, {
        room: '',
        prefix: true,
        publish: false,
        view: true,
        admin: true,
        ttlSec: 60,
      });
      assert.equal((await recordingApi(port, 'DELETE', 'lab', 'cam')).status, 401);
      assert.equal((await recordingApi(port, 'DELETE', 'lab', 'cam', await token(false, true))).status, 403);
      assert.equal(
        (await recordingApi(port, 'DELETE', 'lab', 'cam', await token(true, true, 'other'))).status,
        403,
      );
      assert.equal((await recordingApi(port, 'DELETE', 'lab', 'cam', pubToken)).status, 403);
      assert.equal((await recordingApi(port, 'DELETE', 'lab', 'cam', admin)).status, 200);
      assert.equal((await recordingApi(port, 'POST', 'lab', 'cam')).status, 401);
      assert.equal((await recordingApi(port, 'POST', 'lab', 'cam', pubToken)).status, 403);
      assert.equal((await recordingApi(port, 'POST', 'lab', 'cam', admin)).status, 201);
    } finally {
      await pub.stop();
      await server.close();
    }
  });
});
