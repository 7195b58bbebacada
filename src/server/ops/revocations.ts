import { unwatchFile, watchFile } from 'node:fs';
import { appendFile, mkdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { CLOCK_TOLERANCE_SEC } from '../core/access.js';
import type { Log } from '../core/log.js';
import { isTokenId, MAX_TOKEN_TTL_SEC } from './auth.js';

/** The revocation list's file name, in the state folder (`--state-dir`). */
export const REVOCATIONS_FILE = 'revoked-tokens.jsonl';

/**
 * Revoked tokens still unexpired, at most. Each entry is forgotten when its token expires, so only a flood
 * of revocations within tokens' lifetimes reaches this; past it a revocation is refused (never an older
 * one forgotten early), and the answer says to change the secret instead.
 */
export const MAX_REVOCATIONS = 10_000;

/** Largest revocation file read: ~60 bytes a line leaves room for the bound and for entries since expired. */
const MAX_FILE_BYTES = 4 * 1024 * 1024;

/** How often a running server looks at the file for revocations written by `framewire token --revoke`. */
const WATCH_INTERVAL_MS = 250;

/** One revoked token: its id, and when the entry may go (its token's expiry, ms since the epoch). */
export interface Revocation {
  id: string;
  expiresAt: number;
}

/** A revocation that cannot be made or read; `code` goes into the API's JSON error. */
export class RevocationError extends Error {
  override readonly name = 'RevocationError';
  constructor(
    readonly code: 'FW_LIMIT' | 'FW_BAD_REQUEST' | 'FW_BAD_CONFIG',
    message: string,
  ) {
    super(message);
  }
}

/** Where the revocation list of a server with state folder `stateDir` is kept. */
export function revocationsFile(stateDir: string): string {
  return path.join(stateDir, REVOCATIONS_FILE);
}

/**
 * How long an entry for a token known only by its id is kept: as long as any token can live, plus the
 * clock tolerance (a token is accepted that long past its expiry).
 */
export function idOnlyExpiry(now = Date.now()): number {
  return now + (MAX_TOKEN_TTL_SEC + CLOCK_TOLERANCE_SEC) * 1000;
}

/** The entry for a token that expires at `tokenExpiresAt`: kept until the server stops accepting it. */
export function entryExpiry(tokenExpiresAt: number): number {
  return tokenExpiresAt + CLOCK_TOLERANCE_SEC * 1000;
}

/** What the file holds: the entries (latest expiry per id), and how many lines it has in all. */
interface FileContents {
  entries: Map<string, number>;
  lines: number;
}

/**
 * Reads a revocation file (one JSON object a line, `{"id":…,"exp":<ms>}`); a missing file is an empty
 * list. A line that does not parse (a write cut by a crash) is skipped. Throws RevocationError
 * (FW_BAD_CONFIG) for a file past 4 MiB.
 */
async function readFileContents(file: string): Promise<FileContents> {
  let text: string;
  try {
    const { size } = await stat(file);
    if (size > MAX_FILE_BYTES) {
      throw new RevocationError(
        'FW_BAD_CONFIG',
        `revocation file ${file} is ${size} bytes, more than ${MAX_FILE_BYTES}: it is not one framewire wrote`,
      );
    }
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { entries: new Map(), lines: 0 };
    throw err;
  }
  const entries = new Map<string, number>();
  let lines = 0;
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    lines++;
    let parsed: unknown;
    try {
      parsed = JSON.parse(line);
    } catch {
      continue;
    }
    const { id, exp } = (parsed ?? {}) as { id?: unknown; exp?: unknown };
    if (typeof id !== 'string' || !isTokenId(id) || typeof exp !== 'number' || !Number.isFinite(exp))
      continue;
    entries.set(id, Math.max(exp, entries.get(id) ?? 0));
  }
  return { entries, lines };
}

/** The unexpired revocations of `file` at `now` (ms). */
export async function readRevocations(file: string, now = Date.now()): Promise<Revocation[]> {
  const { entries } = await readFileContents(file);
  return [...entries].filter(([, exp]) => exp > now).map(([id, expiresAt]) => ({ id, expiresAt }));
}

/**
 * Adds `entry` to the revocation file, creating it (and its folder) if needed: appended as one line, so a
 * server and `framewire token --revoke` writing at once lose nothing; the file is rewritten without its
 * expired entries when it has some. 'already' when the id is listed and unexpired: every entry lasts at
 * least as long as its token (one from the token's own expiry, one from an id alone the longest). Throws
 * RevocationError (FW_LIMIT) past {@link MAX_REVOCATIONS} unexpired entries.
 */
export async function addRevocation(
  file: string,
  entry: Revocation,
  now = Date.now(),
  max = MAX_REVOCATIONS,
): Promise<'added' | 'already'> {
  if (!isTokenId(entry.id)) throw new RevocationError('FW_BAD_REQUEST', `"${entry.id}" is not a token id`);
  const { entries, lines } = await readFileContents(file);
  const live = [...entries].filter(([, exp]) => exp > now);
  if ((entries.get(entry.id) ?? 0) > now) return 'already';
  if (live.length >= max) throw full(max);
  const line = (r: Revocation) => `${JSON.stringify({ id: r.id, exp: r.expiresAt })}\n`;
  await mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  if (lines > live.length) {
    // Expired or unreadable lines: write the list afresh, through a temporary file so no reader ever
    // sees half of it.
    const kept = live.filter(([id]) => id !== entry.id).map(([id, expiresAt]) => line({ id, expiresAt }));
    const tmp = `${file}.${process.pid}.tmp`;
    await writeFile(tmp, kept.join('') + line(entry), { mode: 0o600 });
    await rename(tmp, file);
  } else {
    await appendFile(file, line(entry), { mode: 0o600 });
  }
  return 'added';
}

function full(max: number): RevocationError {
  return new RevocationError(
    'FW_LIMIT',
    `${max} tokens are revoked and unexpired already: change the server's secret instead (that ends every token)`,
  );
}

/**
 * A server's revoked tokens: asked at every hello and HTTP request (in memory), kept in a file in the
 * state folder when there is one (so a restart forgets nothing), and watched there, so a revocation made
 * by `framewire token --revoke` reaches the running server within a second. Each id revoked, from here or
 * from the file, is told to the listeners once, which close what it holds open.
 */
export class RevocationList {
  private readonly entries = new Map<string, number>();
  /** Called with each newly revoked id. */
  readonly listeners = new Set<(id: string) => void>();
  private watching = false;
  private reloading: Promise<void> | null = null;
  private reloadAgain = false;
  private readonly onFileChange = () => void this.reload();

  constructor(
    /** The file, or null to keep the list in memory only (a server without a state folder). */
    readonly file: string | null,
    private readonly log: Log,
    private readonly max = MAX_REVOCATIONS,
  ) {}

  /** Reads the file (a missing one is an empty list); throws RevocationError for one too large to be ours. */
  async load(): Promise<void> {
    if (this.file === null) return;
    for (const { id, expiresAt } of await readRevocations(this.file)) this.entries.set(id, expiresAt);
  }

  /** Starts watching the file for revocations made by other processes. */
  watch(): void {
    if (this.file === null || this.watching) return;
    this.watching = true;
    // Polled, not inotify: it sees a file created later, replaced by a rename, or on any file system.
    watchFile(this.file, { interval: WATCH_INTERVAL_MS, persistent: false }, this.onFileChange);
  }

  /** Stops watching the file. */
  close(): void {
    if (this.file !== null && this.watching) unwatchFile(this.file, this.onFileChange);
    this.watching = false;
  }

  /** Whether token `id` is revoked. */
  has(id: string): boolean {
    return this.entries.has(id);
  }

  /** Unexpired revocations held now. */
  get size(): number {
    this.prune(Date.now());
    return this.entries.size;
  }

  /** Every unexpired revocation, soonest to expire first. */
  list(): Revocation[] {
    this.prune(Date.now());
    return [...this.entries]
      .map(([id, expiresAt]) => ({ id, expiresAt }))
      .sort((a, b) => a.expiresAt - b.expiresAt);
  }

  /**
   * Revokes token `id` until `expiresAt` (when its token stops being accepted): in memory at once (the
   * listeners are told before this resolves), then in the file. 'already' when it was revoked. Throws
   * RevocationError past the bound.
   */
  async revoke(id: string, expiresAt: number): Promise<'revoked' | 'already'> {
    if (!isTokenId(id)) throw new RevocationError('FW_BAD_REQUEST', `"${id}" is not a token id`);
    const now = Date.now();
    this.prune(now);
    if (this.entries.has(id)) return 'already';
    if (this.entries.size >= this.max) throw full(this.max);
    this.entries.set(id, expiresAt);
    this.tell(id);
    if (this.file !== null) await addRevocation(this.file, { id, expiresAt }, now, this.max);
    return 'revoked';
  }

  /** Takes in what the file holds now: ids new to this list are revoked (and told) at once. */
  private reload(): Promise<void> {
    if (this.reloading) {
      this.reloadAgain = true;
      return this.reloading;
    }
    this.reloading = (async () => {
      do {
        this.reloadAgain = false;
        try {
          if (this.file === null) return;
          for (const { id, expiresAt } of await readRevocations(this.file)) {
            const known = this.entries.get(id);
            if (known !== undefined && known >= expiresAt) continue;
            // From the file, the bound is not applied: whoever wrote it checked it, and forgetting a
            // revocation would be worse than holding one more.
            this.entries.set(id, expiresAt);
            if (known === undefined) this.tell(id);
          }
        } catch (err) {
          this.log.error('revocations-unreadable', { file: this.file ?? undefined, error: String(err) });
        }
      } while (this.reloadAgain);
    })().finally(() => {
      this.reloading = null;
    });
    return this.reloading;
  }

  private tell(id: string): void {
    for (const listener of this.listeners) listener(id);
  }

  /** Forgets entries whose tokens have expired: those tokens are refused for their expiry anyway. */
  private prune(now: number): void {
    for (const [id, expiresAt] of this.entries) if (expiresAt <= now) this.entries.delete(id);
  }
}
