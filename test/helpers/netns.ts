// A second machine on a network, for tests: a Linux network namespace joined to this one by a veth pair.
// What runs inside it (`exec`) reaches the root namespace only through the pair, at addresses that are not
// loopback, so a browser here sees a server there as it would a machine across the room, and `shape` can slow
// the link between them.
import { type ChildProcess, type SpawnOptions, spawn, spawnSync } from 'node:child_process';

/** A network namespace with one link to the root namespace. */
export interface NetNs {
  /** The namespace's name (for `ip netns exec`). */
  readonly name: string;
  /** The root namespace's end of the link (what the namespace sees this machine as). */
  readonly hostAddr: string;
  /** The namespace's end of the link (what this machine sees the namespace as). */
  readonly nsAddr: string;
  /** Starts `cmd args...` inside the namespace; its PID is the command's own (`ip netns exec` execs it). */
  exec(cmd: string, args: string[], options?: SpawnOptions): ChildProcess;
  /**
   * Limits the link to `rateKbit` kbit/s in both directions (a token bucket on each end's egress), as a slow
   * network would; calling it again changes the rate.
   */
  shape(rateKbit: number): void;
  /** Takes the limit off again. */
  unshape(): void;
  /** Deletes the link and the namespace; safe to call twice. End what `exec` started first. */
  close(): void;
}

/** Namespaces made by this process, closed at exit if the test did not. */
const open = new Set<NetNs>();
let made = 0;
let exitHook = false;
const NAME_PREFIX = 'fwns-';

/**
 * Makes a namespace with a veth pair on its own /30 of 10.77.0.0/16 (host .1, namespace .2, and `lo` up
 * inside). Throws, saying why, when it cannot (not root, no `ip`): a test that needs it must fail, not skip.
 */
export function createNetNs(): NetNs {
  if (process.getuid?.() !== 0) {
    throw new Error(
      'network namespaces need root (ip netns add): run this test as root, e.g. in the project container',
    );
  }
  ipOrThrow(['-V'], 'ip (iproute2) is needed for network namespaces: apt-get install iproute2');
  if (made === 0) sweepLeftovers();
  const n = made++;
  const name = `${NAME_PREFIX}${process.pid}-${n}`;
  // Interface names are at most 15 characters: the pid in base 36 keeps them short and unique per process.
  const tag = `fw${process.pid.toString(36)}${n.toString(36)}`;
  const hostIf = `${tag}h`;
  const nsIf = `${tag}n`;
  const subnet = freeSubnet(n);
  const hostAddr = `10.77.${subnet >> 6}.${(subnet & 63) * 4 + 1}`;
  const nsAddr = `10.77.${subnet >> 6}.${(subnet & 63) * 4 + 2}`;

  let closed = false;
  const ns: NetNs = {
    name,
    hostAddr,
    nsAddr,
    exec: (cmd, args, options = {}) => spawn('ip', ['netns', 'exec', name, cmd, ...args], options),
    shape: (rateKbit) => {
      if (!Number.isFinite(rateKbit) || rateKbit <= 0) throw new Error(`shape: bad rate ${rateKbit} kbit/s`);
      runOrThrow('tc', ['-V'], 'tc (iproute2) is needed to shape the link: apt-get install iproute2');
      const bucket = tbfArgs(rateKbit);
      tcOrThrow(['qdisc', 'replace', 'dev', hostIf, 'root', ...bucket]);
      tcOrThrow(['qdisc', 'replace', 'dev', nsIf, 'root', ...bucket], name);
    },
    unshape: () => {
      // "No such qdisc" when unshaped already: nothing to undo.
      spawnSync('tc', ['qdisc', 'del', 'dev', hostIf, 'root'], { stdio: 'ignore' });
      spawnSync('ip', ['netns', 'exec', name, 'tc', 'qdisc', 'del', 'dev', nsIf, 'root'], {
        stdio: 'ignore',
      });
    },
    close: () => {
      if (closed) return;
      closed = true;
      open.delete(ns);
      removeLink(hostIf);
      spawnSync('ip', ['netns', 'delete', name], { stdio: 'ignore' });
    },
  };

  ipOrThrow(['netns', 'add', name], `cannot make network namespace ${name}`);
  open.add(ns);
  if (!exitHook) {
    exitHook = true;
    process.on('exit', () => {
      for (const left of [...open]) left.close();
    });
  }
  try {
    ipOrThrow(['link', 'add', hostIf, 'type', 'veth', 'peer', 'name', nsIf], 'cannot make a veth pair');
    ipOrThrow(['link', 'set', nsIf, 'netns', name], 'cannot move the veth into the namespace');
    // No IPv6 link-local address: it would appear a moment after the link comes up, and Chromium aborts
    // what it has in flight on any address change (net::ERR_NETWORK_CHANGED).
    ipOrThrow(['link', 'set', hostIf, 'addrgenmode', 'none'], 'cannot configure the veth');
    ipOrThrow(['addr', 'add', `${hostAddr}/30`, 'dev', hostIf], 'cannot address the veth');
    ipOrThrow(['link', 'set', hostIf, 'up'], 'cannot bring the veth up');
    ipOrThrow(['-n', name, 'link', 'set', nsIf, 'addrgenmode', 'none'], 'cannot configure the veth');
    ipOrThrow(['-n', name, 'addr', 'add', `${nsAddr}/30`, 'dev', nsIf], 'cannot address the veth');
    ipOrThrow(['-n', name, 'link', 'set', nsIf, 'up'], 'cannot bring the veth up');
    // Servers in the namespace may also listen on or talk to 127.0.0.1 there.
    ipOrThrow(['-n', name, 'link', 'set', 'lo', 'up'], 'cannot bring lo up');
  } catch (err) {
    ns.close();
    throw err;
  }
  return ns;
}

/**
 * A token bucket filter at `rateKbit`: a burst of ~20 ms of traffic (at least two full packets) and at most
 * 100 ms of queue, past which packets drop, so TCP sees a slow link rather than an ever longer one.
 */
function tbfArgs(rateKbit: number): string[] {
  const burstBytes = Math.max(3200, Math.round(((rateKbit * 1000) / 8) * 0.02));
  return ['tbf', 'rate', `${rateKbit}kbit`, 'burst', String(burstBytes), 'latency', '100ms'];
}

/**
 * The index (0..16383) of a /30 in 10.77.0.0/16 for this process's `n`th namespace: derived from the pid,
 * so that test files running side by side pick different ones, and moved on past any /30 already addressed
 * on this machine (a leftover, or the rare pid that lands on the same index).
 */
function freeSubnet(n: number): number {
  const used = new Set<number>();
  const out = spawnSync('ip', ['-o', '-4', 'addr', 'show'], { encoding: 'utf8' }).stdout ?? '';
  for (const m of out.matchAll(/inet 10\.77\.(\d+)\.(\d+)\//g))
    used.add(Number(m[1]) * 64 + (Number(m[2]) >> 2));
  const start = (process.pid * 8 + n) % 16384;
  for (let i = 0; i < 16384; i++) {
    const index = (start + i) % 16384;
    if (!used.has(index)) return index;
  }
  throw new Error('no free /30 left in 10.77.0.0/16 for a test network namespace');
}

/** Deletes namespaces (and their links) made by processes that are gone: a killed test run leaves them. */
function sweepLeftovers(): void {
  const list = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout ?? '';
  for (const m of list.matchAll(/^fwns-(\d+)-(\d+)/gm)) {
    const pid = Number(m[1]);
    if (pid === process.pid || alive(pid)) continue;
    removeLink(`fw${pid.toString(36)}${Number(m[2]).toString(36)}h`);
    spawnSync('ip', ['netns', 'delete', m[0]], { stdio: 'ignore' });
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Deletes a veth by its root-side name, which takes its peer with it; nothing if it is gone. */
function removeLink(ifName: string): void {
  spawnSync('ip', ['link', 'delete', ifName], { stdio: 'ignore' });
}

/** Runs `ip args...`, throwing `what` with ip's own words when it fails. */
function ipOrThrow(args: string[], what: string): void {
  runOrThrow('ip', args, what);
}

/** Runs `tool args...`, throwing `what` with the tool's own words when it fails. */
function runOrThrow(tool: string, args: string[], what: string): void {
  const r = spawnSync(tool, args, { encoding: 'utf8' });
  if (r.error) {
    const missing = (r.error as NodeJS.ErrnoException).code === 'ENOENT';
    throw new Error(missing ? `${tool} not found: ${what}` : `${what}: ${r.error.message}`);
  }
  if (r.status !== 0) throw new Error(`${what}: ${tool} ${args.join(' ')} said: ${r.stderr.trim()}`);
}

/** Runs `tc args...` in the root namespace, or inside `ns`. */
function tcOrThrow(args: string[], ns?: string): void {
  if (ns) ipOrThrow(['netns', 'exec', ns, 'tc', ...args], 'cannot shape the link');
  else runOrThrow('tc', args, 'cannot shape the link');
}
