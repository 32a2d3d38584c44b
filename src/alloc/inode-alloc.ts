/**
 * Inode allocation (Linux: fs/ext4/ialloc.c).
 *
 * Where a new inode goes decides how well the files of a tree stay together:
 *  - a top-level directory (one created in the root) is spread out: the
 *    group with the fewest directories among those with at least the
 *    average share of free inodes and free blocks (Orlov's rule), so
 *    independent trees start in different parts of the disk;
 *  - any other directory stays in its parent's group while that group has
 *    an average share of free inodes and blocks, else moves to the next
 *    group that does;
 *  - a file goes into its parent's group, else the first group after it
 *    (quadratic probing, then a linear sweep) with a free inode.
 * Files then ask for data blocks in their inode's group (block-alloc.ts),
 * so a directory's files, their inodes and their data sit close together.
 *
 * With group checksums, bg_itable_unused counts the never-used inodes at the
 * end of a group's table (e2fsck and Linux skip them): taking one of them
 * shrinks it. Taking an inode in a group whose block bitmap is still
 * BLOCK_UNINIT initialises that bitmap, as Linux does.
 */
import type { Ext4Super } from '../super/ext4-super.js';
import type { Handle } from '../journal/transaction.js';
import { markSuperDirty, markGroupDirty } from '../super/super-write.js';
import { assert } from '../base/assert.js';
import { corrupted, FsError } from '../base/errors.js';
import { BG_BLOCK_UNINIT } from '../format/group-desc.js';
import { firstInoOf } from '../format/superblock.js';
import { ROOT_INO } from '../format/inode.js';
import { findZeroBit } from './bitmap-scan.js';
import { clearBit, setBit, testBit } from '../format/bitmap.js';
import { journalBlockBitmap, journalInodeBitmap, readInodeBitmap } from './group-bitmaps.js';

export class InodeAllocator {
  private reserved = 0;

  constructor(private readonly fs: Ext4Super) {}

  /** Sets one inode aside for an operation about to create a file; ENOSPC when none is free. */
  reserve(): { release(): void; take(): void } {
    if (this.fs.sb.freeInodesCount - this.reserved < 1) throw new FsError('ENOSPC');
    this.reserved++;
    let held = true;
    const drop = (): void => {
      if (held) {
        held = false;
        this.reserved--;
      }
    };
    return { release: drop, take: drop };
  }

  /** Allocates an inode for a new file of the given kind under directory `parentIno`; returns its number. */
  async allocate(h: Handle, parentIno: number, isDir: boolean): Promise<number> {
    const fs = this.fs;
    const parentGroup = fs.groupOfInode(parentIno);
    const order = isDir ? this.directoryGroups(parentIno, parentGroup) : this.fileGroups(parentGroup);
    for (const g of order) {
      if (fs.groups[g].freeInodesCount === 0) continue;
      const ino = await this.takeInGroup(h, g, isDir);
      if (ino !== undefined) return ino;
    }
    throw corrupted('inode bitmaps', undefined, `the free inode count is ${fs.sb.freeInodesCount} but no group has a free inode`);
  }

  /** Frees inode `ino` (its table entry is written by the caller). */
  async free(h: Handle, ino: number, wasDir: boolean): Promise<void> {
    const fs = this.fs;
    assert(ino >= firstInoOf(fs.sb) && ino <= fs.sb.inodesCount, () => `freeing reserved or invalid inode ${ino}`);
    const g = fs.groupOfInode(ino);
    const bit = (ino - 1) % fs.inodesPerGroup;
    const bm = await journalInodeBitmap(fs, h, g);
    if (!testBit(bm.data, bit)) throw corrupted('inode bitmap', g, `freeing inode ${ino} that is already free`);
    clearBit(bm.data, bit);
    h.dirtyMetadata(bm);
    const gd = fs.groups[g];
    gd.freeInodesCount++;
    fs.sb.freeInodesCount++;
    if (wasDir) gd.usedDirsCount = Math.max(0, gd.usedDirsCount - 1);
    await markSuperDirty(fs, h);
  }

  private async takeInGroup(h: Handle, g: number, isDir: boolean): Promise<number | undefined> {
    const fs = this.fs;
    const ipg = fs.inodesPerGroup;
    const firstIno = firstInoOf(fs.sb);
    // Group 0's first inodes are reserved (root, journal, ...): never hand them out.
    const startBit = g === 0 ? firstIno - 1 : 0;
    const probe = (await readInodeBitmap(fs, g)).data;
    const bit = findZeroBit(probe, startBit, ipg);
    if (bit < 0) return undefined;
    const bm = await journalInodeBitmap(fs, h, g);
    if (testBit(bm.data, bit)) return undefined;
    setBit(bm.data, bit);
    h.dirtyMetadata(bm);
    const gd = fs.groups[g];
    if (fs.groupChecksums) {
      if (bit >= ipg - gd.itableUnused) gd.itableUnused = ipg - bit - 1;
      if ((gd.flags & BG_BLOCK_UNINIT) !== 0) {
        const bb = await journalBlockBitmap(fs, h, g);
        h.dirtyMetadata(bb);
      }
    }
    gd.freeInodesCount--;
    if (gd.freeInodesCount < 0) throw corrupted('group descriptor', g, 'free inode count went negative');
    if (isDir) gd.usedDirsCount++;
    fs.sb.freeInodesCount--;
    await markGroupDirty(fs, h, g);
    await markSuperDirty(fs, h);
    return g * ipg + bit + 1;
  }

  /** Groups to try for a file: the parent's, then quadratic probing, then every group. */
  private *fileGroups(parentGroup: number): Generator<number> {
    const n = this.fs.groupCount;
    yield parentGroup;
    for (let step = 1; step < n; step <<= 1) yield (parentGroup + step) % n;
    for (let i = 1; i < n; i++) yield (parentGroup + i) % n;
  }

  /** Groups to try for a directory (Orlov for top-level ones), then every group. */
  private *directoryGroups(parentIno: number, parentGroup: number): Generator<number> {
    const fs = this.fs;
    const n = fs.groupCount;
    const avgFreeInodes = Math.floor(fs.sb.freeInodesCount / n);
    const avgFreeBlocks = Math.floor(fs.sb.freeBlocksCount / n);
    const roomy = (g: number): boolean =>
      fs.groups[g].freeInodesCount >= Math.max(1, avgFreeInodes) && fs.groups[g].freeBlocksCount >= avgFreeBlocks;
    if (parentIno === ROOT_INO) {
      let best = -1;
      for (let g = 0; g < n; g++) {
        if (roomy(g) && (best < 0 || fs.groups[g].usedDirsCount < fs.groups[best].usedDirsCount)) best = g;
      }
      if (best >= 0) yield best;
    } else {
      for (let i = 0; i < n; i++) {
        const g = (parentGroup + i) % n;
        if (roomy(g)) {
          yield g;
          break;
        }
      }
    }
    for (let i = 0; i < n; i++) yield (parentGroup + i) % n;
  }
}
