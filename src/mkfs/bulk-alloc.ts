/**
 * Block allocation for mkfs -d's bulk builder: one cursor that only moves
 * forward through the filesystem, handing out the first free blocks at or
 * after it. Everything the tree needs is allocated in walk order (a
 * directory's blocks, then its files' data, each file's extent blocks right
 * after its data), so the image's data area fills from the front with no
 * gaps and a file is one extent unless metadata (a backup superblock, the
 * journal) lies in its way. The cursor never goes back below the start of
 * the flex group holding the inode it allocates for, as ext2fs's goal for a
 * new file's first block is the start of its inode's flex group.
 */
import { FsError } from '../base/errors.js';
import type { BlockMap } from './block-map.js';
import { groupOfInode, groupStart, type Geometry } from './geometry.js';

/** A run of physical blocks. */
export interface Run {
  start: number;
  len: number;
}

export class BulkAllocator {
  private cursor: number;
  /** Blocks handed out. */
  allocated = 0;

  constructor(private readonly g: Geometry, private readonly map: BlockMap) {
    this.cursor = g.firstDataBlock;
  }

  /** Moves the cursor up to the start of `ino`'s flex group when it is still below it. */
  near(ino: number): void {
    let group = groupOfInode(this.g, ino);
    if (this.g.sb.logGroupsPerFlex > 0) group &= ~((1 << this.g.sb.logGroupsPerFlex) - 1);
    this.cursor = Math.max(this.cursor, groupStart(this.g, group));
  }

  /** `n` blocks as few runs as the free space allows, in ascending order from the cursor. */
  take(n: number): Run[] {
    const runs: Run[] = [];
    let left = n;
    while (left > 0) {
      let run: Run;
      try {
        run = this.map.newRange(this.cursor, left);
      } catch (e) {
        if (e instanceof FsError && e.code === 'ENOSPC') throw new FsError('ENOSPC', 'the tree does not fit in the filesystem');
        throw e;
      }
      this.map.markRange(run.start, run.len);
      this.allocated += run.len;
      const last = runs[runs.length - 1];
      if (last !== undefined && last.start + last.len === run.start) last.len += run.len;
      else runs.push(run);
      left -= run.len;
      this.cursor = run.start + run.len;
      if (this.cursor >= this.g.blocksCount) this.cursor = this.g.firstDataBlock;
    }
    return runs;
  }

  /** One block. */
  takeOne(): number {
    return this.take(1)[0].start;
  }
}
