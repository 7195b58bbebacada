import type { InputTrack } from 'mediabunny';

/**
 * mediabunny's demuxers remember positions in what they have read, for random access, in lists that live as
 * long as the Input and never shrink. For a file that is a bounded, useful index; for a pushed stream that
 * never ends it grows with every frame, and a demuxer worker grew with it:
 * - MPEG-TS `elementaryStream.referencePesPackets`: a seek point every 256 TS packets (48 KB of input), and
 *   each keeps the whole PES packet it was made from, frame data included (at 1 Mbit/s 30 fps, a 4 KB frame
 *   every 11 frames: with the objects around it ~450 bytes a frame, 0.8 MB a minute, most of it ArrayBuffers,
 *   which the worker's heap limit does not count);
 * - MPEG-TS `demuxer.sectionEndPositions`: where every section ended (one number a frame, plus PAT/PMT);
 * - Matroska `internalTrack.clusterPositionCache`: one entry a cluster, for each track it holds.
 * mediabunny (1.61) has no option to bound them, and its public API does not reach them, so they are
 * trimmed here through its internals, by the property names above. Nothing is lost by it: the seek lists
 * serve `getPacket(timestamp)` and `getKeyPacket`, which a live ingest never calls (it reads forward with
 * `packets()`, which does not consult them), and a section end only saves a scan when a reader goes back
 * over bytes it has read, which it can only do within the source's cache. If an upgrade renames these,
 * `recognised` turns false (the server logs `ingest-unbounded-demuxer`) and
 * test/integration/ingest-memory.test.ts fails: look here first.
 */

/** How a list is trimmed: seek lists keep their newest entry; read aids keep what the source can still read. */
type Policy = 'newest' | 'readable';

interface IndexList {
  entries: unknown[];
  /** The input byte position an entry refers to. */
  position: (entry: unknown) => number;
  policy: Policy;
}

/** The lists of mediabunny's demuxer indexes behind some tracks, kept bounded as the input is read. */
export class DemuxIndexes {
  private readonly lists: IndexList[] = [];
  private allFound = true;
  private trimmedAt = 0;

  /**
   * `readableBytes`: how far behind the furthest byte requested the source may still serve a read (its
   * cache, with a margin); section ends older than that can never be looked up again.
   */
  constructor(
    tracks: readonly InputTrack[],
    private readonly readableBytes: number,
  ) {
    const seen = new Set<unknown[]>();
    /** Adds a list (once: the MPEG-TS section ends are shared by the tracks); false if it is not one. */
    const add = (entries: unknown, position: IndexList['position'], policy: Policy): boolean => {
      if (!Array.isArray(entries)) return false;
      if (seen.has(entries)) return true;
      seen.add(entries);
      this.lists.push({ entries, position, policy });
      return true;
    };
    for (const track of tracks) {
      const backing = (track as unknown as { _backing?: Record<string, unknown> })._backing;
      const ts = backing?.elementaryStream as Record<string, unknown> | undefined;
      const mkv = backing?.internalTrack as Record<string, unknown> | undefined;
      let found = false;
      if (ts) {
        const demuxer = ts.demuxer as Record<string, unknown> | undefined;
        found =
          add(ts.referencePesPackets, (e) => (e as { sectionStartPos: number }).sectionStartPos, 'newest') &&
          add(demuxer?.sectionEndPositions, (e) => e as number, 'readable');
      } else if (mkv) {
        // Every track of the segment: reading a cluster indexes it for each track it holds, relayed or not
        // (a sound track of a codec we do not relay, subtitles).
        const segment = mkv.segment as { tracks?: unknown } | undefined;
        const all = Array.isArray(segment?.tracks) ? (segment.tracks as Record<string, unknown>[]) : [mkv];
        found = all.includes(mkv);
        for (const t of all) {
          const added = add(
            t.clusterPositionCache,
            (e) => (e as { elementStartPos: number }).elementStartPos,
            'newest',
          );
          if (t === mkv) found &&= added;
        }
      }
      this.allFound &&= found;
    }
  }

  /** True when every list of every track was found (false: mediabunny changed, something is not trimmed). */
  get recognised(): boolean {
    return this.allFound && this.lists.length > 0;
  }

  /**
   * Trims the lists once the input has moved on by a quarter of `readableBytes` since the last trim: a
   * list gains at most a few dozen entries between two, and the cost per frame is one comparison.
   */
  trim(furthestRead: number): void {
    if (furthestRead - this.trimmedAt < this.readableBytes / 4) return;
    this.trimmedAt = furthestRead;
    const cutoff = furthestRead - this.readableBytes;
    for (const { entries, position, policy } of this.lists) {
      if (policy === 'newest') {
        // Sorted by position (MPEG-TS) or by time (Matroska); the last is the newest either way, and the
        // one an insertion is compared against.
        if (entries.length > 1) entries.splice(0, entries.length - 1);
        continue;
      }
      let stale = 0;
      while (stale < entries.length && position(entries[stale]) < cutoff) stale++;
      if (stale > 0) entries.splice(0, stale);
    }
  }
}
