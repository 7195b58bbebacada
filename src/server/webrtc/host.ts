import { type ChildProcess, fork } from 'node:child_process';
import dgram from 'node:dgram';
import type { Log } from '../core/log.js';
import type { ChildOptions, FromChild, ToChild } from './child-messages.js';
import { WebRtcError } from './errors.js';
import type { ChosenTrack } from './sdp-offer.js';

/** WebRTC sessions open at once, over every room: each holds a peer connection with its DTLS and SRTP state. */
export const MAX_SESSIONS = 500;
/** How long a session's answer may take (gathering on a machine with many interfaces). */
const ANSWER_TIMEOUT_MS = 5000;
/** Pause before a crashed child is started again, so a crash loop does not spin. */
const RESTART_MS = 500;

/** What a session hears from the child. */
export interface SessionEvents {
  message(m: FromChild): void;
  /** The child process ended (crashed or stopped): the session is gone. */
  lost(): void;
}

/** Where the WebRTC side listens and what it advertises. */
export interface WebRtcHostOptions {
  /** The UDP port for every session; 0 picks a free one when the child starts. */
  port: number;
  /** The server's listen address: '0.0.0.0' and '::' gather every interface. */
  host: string;
  publicIp: string | null;
}

/**
 * The server's side of the WebRTC child process (child.ts): starts it on the first session, routes its
 * messages to sessions by id, and starts it again after a crash (its sessions are told they are lost).
 */
export class WebRtcHost {
  private child: ChildProcess | null = null;
  private starting: Promise<ChildProcess> | null = null;
  private readonly sessions = new Map<string, SessionEvents>();
  private stopped = false;
  private restartAt = 0;
  /** The UDP port sessions use, once the child has started (the chosen one when `port` was 0). */
  port: number | null = null;

  constructor(
    private readonly options: WebRtcHostOptions,
    private readonly log: Log,
  ) {}

  /** The child's process id while it runs (tests end it to stand for a native crash). */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** Sessions open now. */
  get size(): number {
    return this.sessions.size;
  }

  /**
   * Opens a session in the child and resolves with its SDP answer; `events` hears the rest. Rejects with
   * {@link WebRtcError} when the server is full or the child refuses the offer.
   */
  async open(
    id: string,
    role: 'whep' | 'whip',
    offer: string,
    video: ChosenTrack | null,
    audio: ChosenTrack | null,
    events: SessionEvents,
  ): Promise<string> {
    if (this.sessions.size >= MAX_SESSIONS)
      throw new WebRtcError('FW_LIMIT', `the server has ${MAX_SESSIONS} WebRTC sessions open: try later`);
    const child = await this.ensureChild();
    return new Promise<string>((resolve, reject) => {
      const timer = setTimeout(
        () => fail(new WebRtcError('FW_TIMEOUT', 'no SDP answer in time')),
        ANSWER_TIMEOUT_MS,
      );
      let answered = false;
      const fail = (err: Error) => {
        if (answered) return;
        answered = true;
        clearTimeout(timer);
        this.sessions.delete(id);
        this.send({ type: 'close', id });
        reject(err);
      };
      this.sessions.set(id, {
        message: (m) => {
          if (answered) {
            events.message(m);
          } else if (m.type === 'answer') {
            answered = true;
            clearTimeout(timer);
            this.sessions.set(id, events);
            resolve(m.sdp);
          } else if (m.type === 'failed' || m.type === 'closed') {
            // libdatachannel refused the offer (a JavaScript error, not an abort): the offer's fault.
            const why = 'message' in m ? m.message.replace(/^Error: /, '') : m.reason;
            fail(new WebRtcError('FW_BAD_SDP', `the SDP offer was not accepted: ${why}`));
          }
        },
        lost: () => fail(new WebRtcError('FW_WEBRTC_FAILED', 'the WebRTC side restarted')),
      });
      child.send({ type: 'open', id, role, offer, video, audio } satisfies ToChild);
    });
  }

  /** Sends the child a message for a session (a frame, a keyframe request, a close); dropped when it is down. */
  send(m: ToChild): void {
    const child = this.child;
    if (child?.connected) child.send(m);
  }

  /** Forgets a session on our side (after its close was sent or the child said it closed). */
  forget(id: string): void {
    this.sessions.delete(id);
  }

  /** Stops the child; sessions are told they are lost. */
  stop(): void {
    this.stopped = true;
    this.child?.kill();
    this.child = null;
    this.loseAll();
  }

  private loseAll(): void {
    const lost = [...this.sessions.values()];
    this.sessions.clear();
    for (const s of lost) s.lost();
  }

  /** The running child, started (once, however many sessions ask at the same time) if need be. */
  private async ensureChild(): Promise<ChildProcess> {
    if (this.stopped) throw new WebRtcError('FW_WEBRTC_FAILED', 'the server is stopping');
    if (this.child?.connected) return this.child;
    this.starting ??= this.startNow().finally(() => {
      this.starting = null;
    });
    return this.starting;
  }

  private async startNow(): Promise<ChildProcess> {
    const wait = this.restartAt - Date.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    this.port ??= this.options.port === 0 ? await freeUdpPort(this.options.host) : this.options.port;
    const childOptions: ChildOptions = {
      port: this.port,
      bindAddress: this.options.host === '::' ? '0.0.0.0' : this.options.host,
      publicIp: this.options.publicIp,
    };
    const child = startChild(childOptions);
    const ready = new Promise<boolean>((resolve) => {
      child.once('exit', () => resolve(false));
      child.on('message', (m: FromChild) => m.type === 'ready' && resolve(true));
    });
    child.on('message', (m: FromChild) => {
      const session = this.sessions.get(m.id);
      if (!session) return;
      if (m.type === 'closed') this.sessions.delete(m.id);
      session.message(m);
    });
    child.on('error', (err) => this.log.error('webrtc-child-error', { error: String(err) }));
    child.once('exit', (code, signal) => {
      if (this.child === child) this.child = null;
      if (this.stopped) return;
      // A native abort (SIGABRT) lands here: the relay goes on, the sessions end, the next one restarts it.
      this.log.error('webrtc-child-exit', {
        code: code ?? undefined,
        signal: signal ?? undefined,
        sessions: this.sessions.size,
      });
      this.restartAt = Date.now() + RESTART_MS;
      this.loseAll();
    });
    if (!(await ready) || this.stopped) {
      child.kill();
      throw new WebRtcError('FW_WEBRTC_FAILED', 'the WebRTC side did not start');
    }
    this.child = child;
    this.log.info('webrtc-start', { port: this.port, pid: child.pid });
    return child;
  }
}

/**
 * Forks child.ts. Under tsx (tests run the sources) the child loads tsx too; built, it runs child.js.
 * Advanced serialization carries frames as bytes rather than JSON arrays.
 */
function startChild(options: ChildOptions): ChildProcess {
  const ts = import.meta.url.endsWith('.ts');
  const entry = new URL(ts ? './child.ts' : './child.js', import.meta.url);
  return fork(entry, [], {
    serialization: 'advanced',
    execArgv: ts ? ['--import', 'tsx'] : [],
    env: { ...process.env, FW_WEBRTC_OPTIONS: JSON.stringify(options) },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
}

/** A UDP port free now on `host` (for `--webrtc-port 0` in tests). */
function freeUdpPort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = dgram.createSocket(host.includes(':') ? 'udp6' : 'udp4');
    socket.once('error', reject);
    socket.bind(0, host === '::' ? '0.0.0.0' : host, () => {
      const { port } = socket.address();
      socket.close(() => resolve(port));
    });
  });
}
