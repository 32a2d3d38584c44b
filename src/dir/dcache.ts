/**
 * The directory-entry cache (Linux: the dcache, much simplified): the full
 * name -> inode table of recently listed directories, so that the usual
 * pattern "readdir, then stat/open every child" costs one pass over the
 * directory instead of one search per child. Bounded by a total number of
 * names; least recently used directories go first.
 *
 * Keys are the raw name bytes as a latin1 string (one char per byte), so
 * names that are not valid UTF-8 are kept exactly.
 */
export interface CachedEntry {
  ino: number;
  fileType: number;
}

export class DirCache {
  private readonly dirs = new Map<number, Map<string, CachedEntry>>();
  private names = 0;

  constructor(private readonly maxNames: number) {}

  /** The cached listing of a directory, if it is complete in the cache. */
  get(dirIno: number): Map<string, CachedEntry> | undefined {
    const m = this.dirs.get(dirIno);
    if (m) {
      this.dirs.delete(dirIno);
      this.dirs.set(dirIno, m);
    }
    return m;
  }

  /** Records a complete listing (too large a directory is not cached). */
  put(dirIno: number, entries: Map<string, CachedEntry>): void {
    if (entries.size > this.maxNames / 4) return;
    this.invalidate(dirIno);
    this.dirs.set(dirIno, entries);
    this.names += entries.size;
    for (const [ino, m] of this.dirs) {
      if (this.names <= this.maxNames) break;
      this.dirs.delete(ino);
      this.names -= m.size;
    }
  }

  /** Forgets a directory whose contents changed. */
  invalidate(dirIno: number): void {
    const m = this.dirs.get(dirIno);
    if (m) {
      this.dirs.delete(dirIno);
      this.names -= m.size;
    }
  }
}
