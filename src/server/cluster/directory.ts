import type { KV, KvEntry } from '@nats-io/kv';
import {
  decodeMessage,
  encodeMessage,
  type StreamAddedMessage,
  type StreamTracks,
} from '../../protocol/index.js';

/** Name of the JetStream KV bucket that maps each published stream to its origin node. */
export const DIRECTORY_BUCKET = 'framewire-streams';

/** One stream of the cluster as the directory holds it: where it comes from and what it carries. */
export interface DirectoryEntry {
  room: string;
  name: string;
  /** The origin node's name. */
  node: string;
  /** `host:port` where the origin takes node links. */
  advertise: string;
  /** The stream's id on its origin (what a link subscribes to and asks keyframes for). */
  streamId: number;
  tracks: StreamTracks;
}

/** A change seen in the directory: an entry put (new or updated), or a key removed. */
export type DirectoryChange =
  | { op: 'put'; key: string; revision: number; entry: DirectoryEntry }
  | { op: 'del'; key: string; revision: number };

/**
 * The directory key of a stream: `room.name`, with the dots names may hold written `=2E` (a dot splits
 * a NATS subject, and `=` is allowed in keys but never in names), so the mapping is one to one.
 */
export function directoryKey(room: string, name: string): string {
  return `${escapeToken(room)}.${escapeToken(name)}`;
}

function escapeToken(s: string): string {
  return s.replaceAll('.', '=2E');
}

/**
 * Writes an entry as JSON; the tracks travel as the protocol's own stream-added bytes (base64), so decoder
 * descriptions and every field the codec knows come through exactly, with no second encoding to keep.
 */
export function encodeEntry(e: DirectoryEntry): string {
  const added = encodeMessage({
    type: 'stream-added',
    streamId: e.streamId,
    room: e.room,
    name: e.name,
    ...e.tracks,
  });
  return JSON.stringify({
    node: e.node,
    advertise: e.advertise,
    added: Buffer.from(added).toString('base64'),
  });
}

/** Reads an entry written by {@link encodeEntry}; null for anything else (a bucket shared by mistake). */
export function decodeEntry(bytes: Uint8Array): DirectoryEntry | null {
  try {
    const v = JSON.parse(new TextDecoder().decode(bytes)) as Record<string, unknown>;
    if (typeof v.node !== 'string' || typeof v.advertise !== 'string' || typeof v.added !== 'string')
      return null;
    const m = decodeMessage(new Uint8Array(Buffer.from(v.added, 'base64')));
    if (m.type !== 'stream-added') return null;
    const { streamId, room, name, video, audio, screen } = m as StreamAddedMessage;
    const tracks: StreamTracks = { video, audio, ...(screen ? { screen: true } : {}) };
    return { room, name, node: v.node, advertise: v.advertise, streamId, tracks };
  } catch {
    return null;
  }
}

/** The directory bucket: claim a name cluster-wide, update or withdraw it, watch everyone's. */
export class Directory {
  constructor(private readonly kv: KV) {}

  /**
   * Claims `room.name` for this node with a compare-and-set create: resolves with the entry's revision,
   * or null when another node holds the name. Other failures (NATS unreachable) reject.
   */
  async claim(entry: DirectoryEntry): Promise<number | null> {
    try {
      return await this.kv.create(directoryKey(entry.room, entry.name), encodeEntry(entry));
    } catch (err) {
      if (isWrongSequence(err)) return null;
      throw err;
    }
  }

  /** Replaces the tracks of a claimed entry (revision `revision`); resolves with the new revision. */
  update(entry: DirectoryEntry, revision: number): Promise<number> {
    return this.kv.update(directoryKey(entry.room, entry.name), encodeEntry(entry), revision);
  }

  /**
   * Withdraws `key` if it is still at `revision` (only its writer's entry: a name claimed again since is
   * left alone); false when it was not.
   */
  async withdraw(key: string, revision: number): Promise<boolean> {
    try {
      await this.kv.delete(key, { previousSeq: revision });
      return true;
    } catch (err) {
      if (isWrongSequence(err)) return false;
      throw err;
    }
  }

  /** The entry under `key` now, with its revision; null when there is none. */
  async get(key: string): Promise<{ entry: DirectoryEntry; revision: number } | null> {
    const e = await this.kv.get(key);
    if (e === null || e.operation !== 'PUT') return null;
    const entry = decodeEntry(e.value);
    return entry === null ? null : { entry, revision: e.revision };
  }

  /** Calls `onChange` for every entry now in the bucket, then for each change, until the returned stop. */
  async watch(onChange: (change: DirectoryChange) => void): Promise<() => void> {
    const iter = await this.kv.watch();
    (async () => {
      for await (const e of iter) onChange(toChange(e));
    })().catch(() => {});
    return () => iter.stop();
  }
}

function toChange(e: KvEntry): DirectoryChange {
  if (e.operation !== 'PUT') return { op: 'del', key: e.key, revision: e.revision };
  const entry = decodeEntry(e.value);
  if (entry === null) return { op: 'del', key: e.key, revision: e.revision };
  return { op: 'put', key: e.key, revision: e.revision, entry };
}

/** JetStream's answer to a compare-and-set that found another revision (API error 10071). */
function isWrongSequence(err: unknown): boolean {
  const e = err as { code?: unknown; message?: unknown };
  return e?.code === 10071 || (typeof e?.message === 'string' && e.message.includes('wrong last sequence'));
}
