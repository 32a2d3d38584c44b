/**
 * The directory-entry cache (Linux: the dcache, much simplified): the full
 * name -> inode table of recently listed directories, so that the usual
 * pattern "readdir, then stat/open every child" costs one pass over the
 * directory instead of one search per child. Bounded by a total number of
 * names (CLOCK replacement).
 *
 * Keys are names as JavaScript strings, which is how paths arrive. Only
 * names that are valid UTF-8 are entered: a string path always encodes to
 * valid UTF-8, so it can never name the others, and decoding them would
 * alias distinct byte strings to one key.
 *
 * Coherence with writes: every cache is registered with the filesystem it
 * caches (`registerDirCache`), and the directory write path
 * (dir-write.ts) updates every registered cache in the same synchronous
 * section as the block change, so a cached listing never differs from the
 * blocks. A listing is only complete if nothing changed the directory
 * while it was being read: readers list and look up under the directory's
 * rwsem held shared, writers change it under the rwsem held exclusively.
 */
import { ClockCache } from '../cache/clock-cache.js';

export interface CachedEntry {
  ino: number;
  fileType: number;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** The name as a string if its bytes are valid UTF-8, else undefined. */
export function nameKey(name: Uint8Array): string | undefined {
  try {
    return utf8.decode(name);
  } catch {
    return undefined;
  }
}

export class DirCache {
  private readonly dirs: ClockCache<number, Map<string, CachedEntry>>;

  constructor(private readonly maxNames: number) {
    this.dirs = new ClockCache(maxNames);
  }

  /** The cached listing of a directory, if it is complete in the cache. */
  get(dirIno: number): Map<string, CachedEntry> | undefined {
    return this.dirs.get(dirIno);
  }

  /** Records a complete listing (too large a directory is not cached). */
  put(dirIno: number, entries: Map<string, CachedEntry>): void {
    if (entries.size > this.maxNames / 4) return;
    this.dirs.set(dirIno, entries, Math.max(1, entries.size));
  }

  /** Forgets a directory whose contents changed. */
  invalidate(dirIno: number): void {
    this.dirs.delete(dirIno);
  }

  /** A name was added to (or re-pointed in) a directory: keep a cached listing complete. */
  entryAdded(dirIno: number, name: Uint8Array, entry: CachedEntry): void {
    const listing = this.dirs.peek(dirIno);
    if (listing === undefined) return;
    const key = nameKey(name);
    if (key === undefined) return;
    listing.set(key, { ino: entry.ino, fileType: entry.fileType });
    // Re-entered so its weight follows its size; a listing grown past what
    // `put` accepts is dropped rather than kept over budget.
    if (listing.size > this.maxNames / 4) this.dirs.delete(dirIno);
    else this.dirs.set(dirIno, listing, Math.max(1, listing.size));
  }

  /** A name was removed from a directory. */
  entryRemoved(dirIno: number, name: Uint8Array): void {
    const listing = this.dirs.peek(dirIno);
    if (listing === undefined) return;
    const key = nameKey(name);
    if (key !== undefined) listing.delete(key);
  }
}

/** Every dentry cache over one filesystem (keyed by the mounted filesystem object). */
const cachesByFs = new WeakMap<object, Set<DirCache>>();

/** Makes `cache` receive the changes the write path makes to `fs`'s directories. */
export function registerDirCache(fs: object, cache: DirCache): void {
  let set = cachesByFs.get(fs);
  if (set === undefined) {
    set = new Set();
    cachesByFs.set(fs, set);
  }
  set.add(cache);
}

/** The caches registered for `fs` (empty when none). */
export function dirCachesOf(fs: object): ReadonlySet<DirCache> {
  return cachesByFs.get(fs) ?? EMPTY;
}
const EMPTY: ReadonlySet<DirCache> = new Set();
