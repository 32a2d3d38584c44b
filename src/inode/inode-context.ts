/**
 * What the inode-level operations of a writable volume work with: the
 * mounted filesystem (with its journal), the inode cache, the orphan
 * records, and the clock that stamps ctime/mtime.
 */
import type { Ext4Super } from '../super/ext4-super.js';
import type { Journal } from '../journal/transaction.js';
import type { Clock } from '../base/clock.js';
import type { InodeTable } from './inode-table.js';
import type { Orphans } from './orphan.js';
import type { Timestamp } from '../format/inode.js';
import { assert } from '../base/assert.js';
import { FsError } from '../base/errors.js';

export interface InodeContext {
  readonly fs: Ext4Super;
  readonly inodes: InodeTable;
  readonly orphans: Orphans;
  readonly clock: Clock;
}

/** The journal of a writable volume; EROFS when there is none. */
export function journalOf(ctx: InodeContext): Journal {
  const j = ctx.fs.journal;
  if (j === undefined) throw new FsError('EROFS');
  return j;
}

/** The current time as ext4 stores it. */
export function nowTimestamp(ctx: InodeContext): Timestamp {
  const ms = ctx.clock.now();
  assert(Number.isFinite(ms), 'clock returns a time');
  const sec = Math.floor(ms / 1000);
  return { sec, nsec: Math.round((ms - sec * 1000) * 1e6) };
}
