// Steps shared by several contenders.
import { runOk } from '../lib/proc.js';

/**
 * fsync one file with coreutils `sync FILE`. Every contender that writes an
 * image ends its timed region with this, so that all of them are timed to
 * the same point: the result is on the disk, not just in the page cache.
 * For a tool that already synced (mke2fs, dd conv=fsync) it costs next to
 * nothing; for one that did not, it adds the write-out it skipped.
 */
export async function syncFile(path: string): Promise<void> {
  await runOk('sync', [path], { timeoutMs: 600_000 });
}
