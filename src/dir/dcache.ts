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
}
