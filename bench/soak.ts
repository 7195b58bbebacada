// Soak: 10 minutes of churn against one server, to see that memory levels off and nothing leaks.
// 5 publishers come and go (each lives 30–90 s), 100 viewers join and leave (each watches 5–40 s).
// Every 10 s it prints the server's RSS, open file descriptors and the frames delivered; at the end it
// says whether RSS grew over the second half, and whether any viewer missed more than the drop policy
// allows (a gap in a stream's sequence not followed by a keyframe). Writes bench/results/soak.json.
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { FwLink } from './framewire/link.js';
import { startFramewire } from './framewire/server.js';
import { ensureClip, loadClip } from './lib/clip.js';
import { rssKb } from './lib/proc.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const RESULTS = path.join(ROOT, 'bench', 'results');
const ROOM = 'soak';
const { values } = parseArgs({
  options: {
    minutes: { type: 'string', default: '10' },
    publishers: { type: 'string', default: '5' },
    viewers: { type: 'string', default: '100' },
  },
});
const MINUTES = Number(values.minutes);
const PUBLISHERS = Number(values.publishers);
const VIEWERS = Number(values.viewers);
const CONNECT_TIMEOUT_MS = 10_000;

const rand = (lo: number, hi: number) => lo + Math.random() * (hi - lo);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Sample {
  t: number;
  rssMb: number;
  fds: number;
  framesDelivered: number;
  viewersOnline: number;
  publishersOnline: number;
}

const totals = {
  framesDelivered: 0,
  gapsToKeyframe: 0,
  policyViolations: 0,
  viewerSessions: 0,
  publisherSessions: 0,
  errors: 0,
};
let viewersOnline = 0;
let publishersOnline = 0;

async function publisherSlot(
  k: number,
  port: number,
  until: number,
  clip: ReturnType<typeof loadClip>,
): Promise<void> {
  for (let gen = 0; Date.now() < until; gen++) {
    const link = await FwLink.connect('tcp', port, 'publisher', CONNECT_TIMEOUT_MS).catch(() => null);
    if (!link) {
      totals.errors++;
      await sleep(1000);
      continue;
    }
    totals.publisherSessions++;
    publishersOnline++;
    try {
      const id = await link.publish(ROOM, `cam-${k}-${gen}`, clip.config, CONNECT_TIMEOUT_MS);
      const end = Math.min(until, Date.now() + rand(30_000, 90_000));
      const start = performance.now();
      // Frames on a drift-free 30 fps schedule; the clip loops from a keyframe.
      for (let i = 0; Date.now() < end; i++) {
        const frame = clip.frames[i % clip.frames.length];
        if (!frame) break;
        link.sendFrame(id, i, frame.key, i * 33_333, frame.annexB);
        const due = start + (i + 1) * (1000 / 30);
        await sleep(Math.max(0, due - performance.now()));
      }
    } catch {
      totals.errors++;
    } finally {
      publishersOnline--;
      link.close();
    }
    await sleep(rand(2000, 5000));
  }
}

async function viewerSlot(port: number, until: number): Promise<void> {
  while (Date.now() < until) {
    const link = await FwLink.connect('tcp', port, 'viewer', CONNECT_TIMEOUT_MS).catch(() => null);
    if (!link) {
      totals.errors++;
      await sleep(1000);
      continue;
    }
    totals.viewerSessions++;
    viewersOnline++;
    const lastSeq = new Map<number, number>();
    link.onFrame = (streamId, seq, key) => {
      totals.framesDelivered++;
      const last = lastSeq.get(streamId);
      if (last !== undefined && seq !== last + 1) {
        // The relay may drop, but only whole runs up to a keyframe: a gap must end on one.
        if (key) totals.gapsToKeyframe++;
        else totals.policyViolations++;
      }
      lastSeq.set(streamId, seq);
    };
    // Subscribe to the whole room; it may hold no stream at this moment, so expect none.
    await link.subscribe(ROOM, '', 0, CONNECT_TIMEOUT_MS).catch(() => totals.errors++);
    await sleep(Math.min(rand(5000, 40_000), Math.max(0, until - Date.now())));
    viewersOnline--;
    link.close();
    await sleep(rand(0, 2000));
  }
}

async function main(): Promise<void> {
  const clip = loadClip(ensureClip());
  mkdirSync(RESULTS, { recursive: true });
  const server = await startFramewire({
    repo: ROOT,
    workDir: path.join(RESULTS, 'soak-work'),
    logFile: path.join(RESULTS, 'soak-server.log'),
    profileDir: null,
    timeoutMs: 15_000,
  });
  const started = Date.now();
  const until = started + MINUTES * 60_000;
  console.log(
    `soak: ${MINUTES} min, ${PUBLISHERS} publishers and ${VIEWERS} viewers churning, server pid ${server.pid}`,
  );
  console.log('   t s   RSS MB   fds   viewers  publishers   frames/10 s   gaps→key   violations');
  const samples: Sample[] = [];
  let lastDelivered = 0;
  const sampler = setInterval(() => {
    const fds = readdirSync(`/proc/${server.pid}/fd`).length;
    const s: Sample = {
      t: Math.round((Date.now() - started) / 1000),
      rssMb: Math.round((rssKb(server.pid) ?? 0) / 102.4) / 10,
      fds,
      framesDelivered: totals.framesDelivered - lastDelivered,
      viewersOnline,
      publishersOnline,
    };
    lastDelivered = totals.framesDelivered;
    samples.push(s);
    console.log(
      `${String(s.t).padStart(6)} ${s.rssMb.toFixed(1).padStart(8)} ${String(fds).padStart(5)} ${String(viewersOnline).padStart(9)} ${String(publishersOnline).padStart(11)} ${String(s.framesDelivered).padStart(13)} ${String(totals.gapsToKeyframe).padStart(10)} ${String(totals.policyViolations).padStart(12)}`,
    );
  }, 10_000);
  await Promise.all([
    ...Array.from({ length: PUBLISHERS }, (_, k) =>
      sleep(k * 500).then(() => publisherSlot(k, server.tcpPort, until, clip)),
    ),
    ...Array.from({ length: VIEWERS }, (_, k) => sleep(k * 50).then(() => viewerSlot(server.tcpPort, until))),
  ]);
  clearInterval(sampler);
  // After everyone left: what the server still holds.
  await sleep(3000);
  const idle = {
    rssMb: Math.round((rssKb(server.pid) ?? 0) / 102.4) / 10,
    fds: readdirSync(`/proc/${server.pid}/fd`).length,
  };
  await server.stop();

  const second = samples.slice(Math.floor(samples.length / 2));
  const first = second[0];
  const last = second[second.length - 1];
  const growthMb = first && last ? Math.round((last.rssMb - first.rssMb) * 10) / 10 : 0;
  const maxMb = Math.max(...second.map((s) => s.rssMb));
  const verdict = {
    rssSecondHalfStartMb: first?.rssMb ?? null,
    rssSecondHalfEndMb: last?.rssMb ?? null,
    rssSecondHalfMaxMb: maxMb,
    rssGrowthSecondHalfMb: growthMb,
    afterEveryoneLeft: idle,
    ...totals,
  };
  console.log(
    `RSS over the second half: ${first?.rssMb} → ${last?.rssMb} MB (max ${maxMb}); after everyone left: ${idle.rssMb} MB, ${idle.fds} fds`,
  );
  console.log(
    `${totals.viewerSessions} viewer and ${totals.publisherSessions} publisher sessions, ${totals.framesDelivered} frames delivered, ${totals.gapsToKeyframe} skips to a keyframe, ${totals.policyViolations} gaps not ending on a keyframe, ${totals.errors} errors`,
  );
  writeFileSync(
    path.join(RESULTS, 'soak.json'),
    `${JSON.stringify({ minutes: MINUTES, publishers: PUBLISHERS, viewers: VIEWERS, samples, verdict }, null, 2)}\n`,
  );
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
