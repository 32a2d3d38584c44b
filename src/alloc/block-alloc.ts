/**
 * Block allocation (Linux: fs/ext4/mballoc.c, much simplified).
 *
 * An operation first reserves the most blocks it could need (`reserve`,
 * outside any journal handle), then allocates against that reservation
 * inside its handle. Reserving first is what lets every ordinary ENOSPC
 * surface before the operation has changed anything (transaction.ts: an
 * error after a change aborts the journal); it also keeps two concurrent
 * operations from both counting on the last free blocks.
 *
 * Placement is goal-directed: a file asks for the block after its last one,
 * a new file for a block near its inode's group. The search takes the whole
 * request at the goal if it is free, else the first run in the goal's group
 * long enough for the whole request, else in the following groups (skipping
 * full ones by their descriptor counts), and if no run is long enough, the
 * longest run it saw. With flex_bg the groups of a flex group have their
 * metadata at the front of the first one, so consecutive allocations run on
 * across group boundaries and a large file ends up in few extents.
 *
 * A small part of the disk (2%, at most 4096 blocks, as Linux's
 * s_resv_clusters) is kept for metadata: a disk filled with file data can
 * still take the directory entry or extent block needed to delete a file.
 */
import type { Ext4Super } from '../super/ext4-super.js';
import type { Handle } from '../journal/transaction.js';
import { markSuperDirty } from '../super/super-write.js';
import { assert } from '../base/assert.js';
import { corrupted, FsError } from '../base/errors.js';
import { findZeroBit, zeroRunLength, setBits, clearBits, allBitsSet, allBitsClear } from './bitmap-scan.js';
import { groupRange, journalBlockBitmap, readBlockBitmap } from './group-bitmaps.js';
import { PendingFree } from './pending-free.js';
import { testBit } from '../format/bitmap.js';
import { SystemZone } from './system-zone.js';

export interface BlockRun {
  pblk: number;
  len: number;
}

/** How many groups past the goal's a search inspects for a run that satisfies the whole request. */
const MAX_GROUPS_FOR_FULL_RUN = 64;

export class BlockReservation {
  constructor(private readonly alloc: BlockAllocator, public remaining: number) {}

  /** Uses `n` reserved blocks (they are being allocated now). */
  take(n: number): void {
    assert(n <= this.remaining, () => `allocation of ${n} blocks exceeds the reservation of ${this.remaining}`);
    this.remaining -= n;
    this.alloc.unreserve(n);
  }

  /** Returns what was not used. */
  release(): void {
    this.alloc.unreserve(this.remaining);
    this.remaining = 0;
  }
}

export class BlockAllocator {
  readonly pending = new PendingFree();
  private reserved = 0;
  private readonly zone: SystemZone;
  /** Per group: no free block below this bit (a search hint, lowered on every free). */
  private readonly firstFree: Int32Array;
  /** Blocks only metadata allocations may use. */
  readonly metadataReserve: number;

  constructor(private readonly fs: Ext4Super) {
    this.zone = new SystemZone(fs);
    this.firstFree = new Int32Array(fs.groupCount);
    this.metadataReserve = Math.min(4096, Math.floor(fs.sb.blocksCount / 50));
  }

  /** Blocks a new reservation could get. */
  available(forData: boolean): number {
    const free = this.fs.sb.freeBlocksCount - this.pending.count - this.reserved;
    return Math.max(0, free - (forData ? this.metadataReserve : 0));
  }

  /** Blocks freed by transactions not yet committed (a commit makes them available). */
  get pendingCount(): number { return this.pending.count; }

  /**
   * Sets `n` blocks aside for an operation about to start. Throws ENOSPC when
   * there are not that many; the caller may commit (releasing pending frees)
   * and try again.
   */
  reserve(n: number, forData: boolean): BlockReservation {
    assert(Number.isInteger(n) && n >= 0, () => `reservation of ${n} blocks`);
    if (n > this.available(forData)) throw new FsError('ENOSPC');
    this.reserved += n;
    return new BlockReservation(this, n);
  }

  unreserve(n: number): void {
    this.reserved -= n;
    assert(this.reserved >= 0, 'block reservations went negative');
  }

  /**
   * Allocates between `min` and `len` contiguous blocks, as near `goal` as
   * it can, against reservation `r`. Joins the bitmap, descriptor and
   * superblock to the handle.
   */
  async allocate(h: Handle, r: BlockReservation, goal: number, len: number, min = 1): Promise<BlockRun> {
    const fs = this.fs;
    assert(min >= 1 && min <= len && len <= r.remaining, () => `allocation of ${min}..${len} blocks with ${r.remaining} reserved`);
    if (!(goal >= fs.sb.firstDataBlock && goal < fs.sb.blocksCount)) goal = fs.sb.firstDataBlock;
    const goalGroup = fs.groupOfBlock(goal);
    let best: BlockRun | undefined;
    for (let i = 0; i < fs.groupCount; i++) {
      const g = (goalGroup + i) % fs.groupCount;
      if (fs.groups[g].freeBlocksCount === 0) continue;
      const wantFull = i < MAX_GROUPS_FOR_FULL_RUN || best === undefined || best.len < min;
      if (!wantFull) break;
      const found = await this.searchGroup(g, i === 0 ? goal : -1, len);
      if (found !== undefined) {
        if (found.len >= len) {
          best = found;
          break;
        }
        if (best === undefined || found.len > best.len) best = found;
      }
    }
    if (best === undefined || best.len < min) {
      // The reservation promised these blocks; not finding them means the counts and bitmaps disagree.
      throw corrupted('block bitmaps', undefined, `free block counts promise ${r.remaining} blocks but no run of ${min} is free`);
    }
    const got = Math.min(best.len, len);
    await this.markInUse(h, best.pblk, got);
    r.take(got);
    return { pblk: best.pblk, len: got };
  }

  /**
   * Frees [pblk, pblk+len). Metadata blocks are also forgotten by the journal
   * (revoked, never checkpointed). The blocks become allocatable once this
   * transaction commits.
   */
  async free(h: Handle, pblk: number, len: number, metadata: boolean): Promise<void> {
    const fs = this.fs;
    if (!(pblk >= fs.sb.firstDataBlock && len >= 1 && pblk + len <= fs.sb.blocksCount) || this.zone.overlaps(pblk, len)) {
      throw corrupted('block range', pblk, `freeing ${len} blocks that are outside the filesystem or its data area`);
    }
    let blk = pblk;
    const end = pblk + len;
    while (blk < end) {
      const g = fs.groupOfBlock(blk);
      const { first, count } = groupRange(fs, g);
      const n = Math.min(end, first + count) - blk;
      const bm = await journalBlockBitmap(fs, h, g);
      if (!allBitsSet(bm.data, blk - first, n)) {
        throw corrupted('block bitmap', g, `freeing blocks ${blk}+${n} that are already free`);
      }
      clearBits(bm.data, blk - first, n);
      h.dirtyMetadata(bm);
      fs.groups[g].freeBlocksCount += n;
      fs.sb.freeBlocksCount += n;
      if ((blk - first) < this.firstFree[g]) this.firstFree[g] = blk - first;
      this.pending.add(g, blk, n);
      const start = blk;
      h.afterCommit(() => this.pending.remove(g, start, n));
      blk += n;
    }
    if (metadata) for (let b = pblk; b < end; b++) h.forget(fs.cache, b);
    await markSuperDirty(fs, h);
  }

  /** Marks a run found free as used, in one group's bitmap. */
  private async markInUse(h: Handle, pblk: number, len: number): Promise<void> {
    const fs = this.fs;
    const g = fs.groupOfBlock(pblk);
    const { first } = groupRange(fs, g);
    const bm = await journalBlockBitmap(fs, h, g);
    // Re-check under the handle: the search read the bitmap before an await.
    if (!allBitsClear(bm.data, pblk - first, len) || this.zone.overlaps(pblk, len)) {
      throw corrupted('block bitmap', g, `blocks ${pblk}+${len} chosen as free are in use or system blocks`);
    }
    setBits(bm.data, pblk - first, len);
    h.dirtyMetadata(bm);
    fs.groups[g].freeBlocksCount -= len;
    fs.sb.freeBlocksCount -= len;
    if (fs.groups[g].freeBlocksCount < 0) throw corrupted('group descriptor', g, 'free block count went negative');
    if (pblk - first === this.firstFree[g]) this.firstFree[g] += len;
    await markSuperDirty(fs, h);
  }

  /**
   * The best run in group `g`: the whole request at `goal` if free, else the
   * first run of `len`, else the longest run (clipped to `len`).
   */
  private async searchGroup(g: number, goal: number, len: number): Promise<BlockRun | undefined> {
    const fs = this.fs;
    const { first, count } = groupRange(fs, g);
    const bm = (await readBlockBitmap(fs, g)).data;
    let best: BlockRun | undefined;
    const consider = (bit: number): { run: number; next: number } => {
      const run = zeroRunLength(bm, bit, count, len);
      const clip = this.pending.clip(g, first + bit, run);
      let usable = clip.usable;
      if (usable > 0 && this.zone.overlaps(first + bit, usable)) usable = 0;
      if (usable > 0 && (best === undefined || usable > best.len)) best = { pblk: first + bit, len: usable };
      return { run: usable, next: Math.max(bit + 1, clip.skipTo - first, usable > 0 ? bit + usable : bit + 1) };
    };
    if (goal >= 0) {
      const gbit = goal - first;
      if (gbit >= 0 && gbit < count && !testBit(bm, gbit)) {
        const { run } = consider(gbit);
        if (run >= len) return best;
      }
    }
    let bit = this.firstFree[g];
    let sawFree = false;
    while (bit < count) {
      const z = findZeroBit(bm, bit, count);
      if (z < 0) break;
      if (!sawFree) {
        this.firstFree[g] = z;
        sawFree = true;
      }
      const { run, next } = consider(z);
      if (run >= len) return best;
      bit = next;
    }
    if (!sawFree) this.firstFree[g] = count;
    return best;
  }
}
