/**
 * Smoke check of the peers against real servers, printing figures (not a test; run by hand):
 *   node --import tsx bench/peers/smoke.ts [--players 1,50,500] [--seconds 6]
 * Publishes an ffmpeg test clip in real time to nginx-rtmp and node-media-server, joins N players
 * mid-GOP, and checks every player gets the sequence header, then a keyframe, then ~30 fps with rising
 * timestamps. Prints delivery latency (arrival - send, same process) and the client process's CPU.
 */
import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { FlvReader, FlvTagType } from '../../src/media/flv.js';
import {
  HttpFlvPlayer,
  type PeerServer,
  RtmpPlayer,
  RtmpPublisher,
  startNginxRtmp,
  startNodeMediaServer,
} from './index.js';

interface Frame {
  ts: number;
  body: Buffer;
}

interface PlayerStats {
  frames: number;
  sawHeader: boolean;
  firstIsKey: boolean | null;
  ordered: boolean;
  lastTs: number;
  firstTs: number;
  joinedAt: number;
  latencies: number[];
}

type Client = { close(): void };
type Connect = (
  url: string,
  onVideo: (ts: number, bytes: number, body: Uint8Array) => void,
) => Promise<Client>;

const { values: args } = parseArgs({
  options: { players: { type: 'string', default: '1,50,500' }, seconds: { type: 'string', default: '6' } },
});
const PLAYER_COUNTS = (args.players ?? '1,50,500').split(',').map(Number);
const WATCH_SECONDS = Number(args.seconds);

async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const { port } = srv.address() as net.AddressInfo;
  await new Promise((resolve) => srv.close(resolve));
  return port;
}

async function makeClip(dir: string): Promise<Frame[]> {
  const file = path.join(dir, 'clip.flv');
  execFileSync('ffmpeg', [
    ...['-loglevel', 'error', '-f', 'lavfi', '-i', 'testsrc2=size=640x480:rate=30', '-t', '5'],
    ...['-c:v', 'libx264', '-preset', 'veryfast', '-tune', 'zerolatency', '-g', '60', '-bf', '0'],
    ...['-b:v', '1M', '-f', 'flv', file],
  ]);
  const frames: Frame[] = [];
  new FlvReader().push(await readFile(file), ({ type, timestamp, data }) => {
    // Keep the sequence header and coded frames; ffmpeg ends the file with an end-of-sequence tag (type 2)
    // whose repeated timestamp would break the ordering check when the clip loops.
    if (type === FlvTagType.video && data[1] !== 2) frames.push({ ts: timestamp, body: Buffer.from(data) });
  });
  return frames;
}

/** Publishes the clip in a loop in real time, recording each frame's send time by timestamp. */
function startPublishing(
  pub: RtmpPublisher,
  clip: Frame[],
  sentAt: Map<number, number>,
): () => Promise<void> {
  const [header, ...media] = clip as [Frame, ...Frame[]];
  const loopMs = (media.at(-1)?.ts ?? 0) + 33;
  pub.sendVideo(header.body, 0);
  let running = true;
  const done = (async () => {
    const t0 = performance.now();
    for (let loop = 0; running; loop++) {
      for (const f of media) {
        const ts = f.ts + loop * loopMs;
        const wait = t0 + ts - performance.now();
        if (wait > 0) await sleep(wait);
        if (!running) break;
        sentAt.set(ts, performance.now());
        pub.sendVideo(f.body, ts);
      }
    }
  })();
  return async () => {
    running = false;
    await done;
  };
}

function newStats(): PlayerStats {
  return {
    frames: 0,
    sawHeader: false,
    firstIsKey: null,
    ordered: true,
    lastTs: -1,
    firstTs: -1,
    joinedAt: Number.POSITIVE_INFINITY,
    latencies: [],
  };
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))] ?? Number.NaN;
}

async function scenario(
  name: string,
  n: number,
  clip: Frame[],
  publishUrl: string,
  playUrl: string,
  connect: Connect,
): Promise<void> {
  const sentAt = new Map<number, number>();
  const pub = await RtmpPublisher.connect(publishUrl);
  const stopPublishing = startPublishing(pub, clip, sentAt);
  // Join mid-GOP, so nginx's wait_key and NMS's GOP cache both show in what the players see.
  await sleep(1000);
  const idle0 = process.cpuUsage();
  await sleep(1000);
  const idle = process.cpuUsage(idle0);
  const stats: PlayerStats[] = [];
  const clients: Client[] = [];
  const t0 = performance.now();
  for (let i = 0; i < n; i += 50) {
    const batch = [];
    for (let j = i; j < Math.min(n, i + 50); j++) {
      const s = newStats();
      stats.push(s);
      batch.push(
        connect(playUrl, (ts, bytes, body) => {
          if (body[1] === 0 && (body[0] as number) >> 4 === 1) {
            s.sawHeader = true;
            return;
          }
          const now = performance.now();
          if (s.firstIsKey === null) {
            s.firstIsKey = (body[0] as number) >> 4 === 1;
            s.firstTs = ts;
          }
          if (ts <= s.lastTs) s.ordered = false;
          s.lastTs = ts;
          s.frames++;
          const sent = sentAt.get(ts);
          // Frames sent before the player joined (NMS's GOP cache) are a burst, not delivery latency.
          if (sent !== undefined && sent >= s.joinedAt && bytes > 0) s.latencies.push(now - sent);
        }).then((c) => {
          s.joinedAt = performance.now();
          clients.push(c);
        }),
      );
    }
    await Promise.all(batch);
  }
  const joinMs = performance.now() - t0;
  await sleep(1500);
  const busy0 = process.cpuUsage();
  const wall0 = performance.now();
  await sleep(WATCH_SECONDS * 1000 - 1500);
  const busy = process.cpuUsage(busy0);
  const wallS = (performance.now() - wall0) / 1000;
  for (const c of clients) c.close();
  await stopPublishing();
  pub.close();

  const lat = stats.flatMap((s) => s.latencies).sort((a, b) => a - b);
  const fps = stats.map((s) => ((s.frames - 1) * 1000) / Math.max(1, s.lastTs - s.firstTs));
  const bad = stats.filter((s) => !s.sawHeader || s.firstIsKey !== true || !s.ordered || s.frames < 30);
  const cpuMs = (u: NodeJS.CpuUsage): number => (u.user + u.system) / 1000;
  const perSecond = (cpuMs(busy) - cpuMs(idle)) / wallS;
  console.log(
    `${name.padEnd(18)} players=${String(n).padStart(3)} join=${joinMs.toFixed(0)}ms ` +
      `frames/player min=${Math.min(...stats.map((s) => s.frames))} max=${Math.max(...stats.map((s) => s.frames))} ` +
      `fps min=${Math.min(...fps).toFixed(1)} ` +
      `header+key-first+ordered ok=${n - bad.length}/${n} ` +
      `latency ms p50=${percentile(lat, 50).toFixed(1)} p95=${percentile(lat, 95).toFixed(1)} ` +
      `p99=${percentile(lat, 99).toFixed(1)} max=${(lat.at(-1) ?? Number.NaN).toFixed(1)} ` +
      `client CPU=${(cpuMs(busy) / wallS / 10) | 0}% of a core (players: ${(perSecond / 10).toFixed(1)}%, ` +
      `${((perSecond * 1000) / Math.max(1, n) / 30).toFixed(1)} µs/player/frame)`,
  );
  if (bad.length > 0) {
    const s = bad[0] as PlayerStats;
    console.log(`  first bad player: ${JSON.stringify({ ...s, latencies: s.latencies.length })}`);
  }
}

async function main(): Promise<void> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'framewire-peers-smoke-'));
  const servers: PeerServer[] = [];
  try {
    const clip = await makeClip(dir);
    console.log(`clip: ${clip.length} video tags, keyframe ${clip[1]?.body.length} bytes`);

    const rtmpPort = await freePort();
    let t = performance.now();
    const nginx = await startNginxRtmp({ rtmpPort, workDir: path.join(dir, 'nginx') });
    servers.push(nginx);
    console.log(`nginx-rtmp up in ${(performance.now() - t).toFixed(0)} ms, pids ${nginx.pids.join(',')}`);
    for (const n of PLAYER_COUNTS) {
      const key = `smoke${n}`;
      await scenario(
        'nginx rtmp',
        n,
        clip,
        `rtmp://127.0.0.1:${rtmpPort}/live/${key}`,
        `rtmp://127.0.0.1:${rtmpPort}/live/${key}`,
        RtmpPlayer.connect,
      );
    }
    await nginx.stop();

    const nmsRtmp = await freePort();
    const nmsHttp = await freePort();
    t = performance.now();
    const nms = await startNodeMediaServer({ rtmpPort: nmsRtmp, httpPort: nmsHttp });
    servers.push(nms);
    console.log(
      `node-media-server up in ${(performance.now() - t).toFixed(0)} ms, pids ${nms.pids.join(',')}`,
    );
    for (const n of PLAYER_COUNTS) {
      // A fresh key per run: NMS keeps a closed publish resumable for 30 s and would shift timestamps.
      await scenario(
        'nms http-flv',
        n,
        clip,
        `rtmp://127.0.0.1:${nmsRtmp}/live/flv${n}`,
        `http://127.0.0.1:${nmsHttp}/live/flv${n}.flv`,
        HttpFlvPlayer.connect,
      );
      await scenario(
        'nms rtmp',
        n,
        clip,
        `rtmp://127.0.0.1:${nmsRtmp}/live/rtmp${n}`,
        `rtmp://127.0.0.1:${nmsRtmp}/live/rtmp${n}`,
        RtmpPlayer.connect,
      );
    }
  } finally {
    for (const s of servers) await s.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
