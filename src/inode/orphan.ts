/**
 * Orphan inodes (Linux: fs/ext4/orphan.c): inodes that must be finished off
 * if the machine crashes — an inode whose last name is gone while a file
 * handle still holds it (freed when the handle closes), and an inode being
 * truncated over several transactions (the blocks past i_size are freed
 * when the truncate, or the recovery after a crash, completes).
 *
 * Two on-disk forms:
 *  - the orphan file (orphan_file feature): slots of inode numbers in the
 *    blocks of a special inode. Adding or removing an orphan touches one
 *    block; RO_COMPAT_ORPHAN_PRESENT in the superblock says slots may be in
 *    use (set while the volume is writable, cleared at a clean close);
 *  - the old list: s_last_orphan names the newest orphan and each orphan's
 *    i_dtime names the next. Removing one from the middle rewrites the
 *    inode before it, which is why the list is mirrored in memory.
 *
 * Both are changed inside the caller's journal handle, in the same
 * transaction as the change that makes the inode an orphan, so after a
 * crash the orphan record and the unlink (or the truncate's new i_size)
 * are either both there or both absent.
 */
import type { Ext4Super } from '../super/ext4-super.js';
import type { Handle } from '../journal/transaction.js';
import type { Ext4Inode } from './ext4-inode.js';
import type { InodeTable } from './inode-table.js';
import { markSuperDirty } from '../super/super-write.js';
import { mapBlocks } from '../extent/map-blocks.js';
import { assert } from '../base/assert.js';
import { corrupted } from '../base/errors.js';
import { COMPAT_ORPHAN_FILE, RO_COMPAT_ORPHAN_PRESENT } from '../format/features.js';
import {
  orphanBlockMagicOk, orphanSlot, inodesPerOrphanBlock, setOrphanSlot, verifyOrphanBlock, writeOrphanBlockTail,
} from '../format/orphan-file.js';

interface OrphanFileBlock {
  pblk: number;
  free: number;
}

/** Journal credits of one add or remove: an orphan block or the previous orphan's inode, the superblock, the inode. */
export const ORPHAN_CREDITS = 3;

export class Orphans {
  private fileBlocks: OrphanFileBlock[] | undefined;
  private fileSeed: number | undefined;
  private readonly slotOf = new Map<number, { block: number; slot: number }>();
  /** The old list, newest first (s_last_orphan is list[0]). */
  private readonly list: number[] = [];
  /** Orphans found on disk when the volume was opened, still to be processed. */
  readonly found: number[] = [];

  private constructor(private readonly fs: Ext4Super, private readonly inodes: InodeTable) {}

  /** Reads the orphan file (if any) and the old list, verifying both, for a writable volume. */
  static async load(fs: Ext4Super, inodes: InodeTable): Promise<Orphans> {
    const o = new Orphans(fs, inodes);
    const sb = fs.sb;
    if ((sb.featureCompat & COMPAT_ORPHAN_FILE) !== 0 && sb.orphanFileInum !== 0) {
      const inode = await inodes.get(sb.orphanFileInum);
      inode.refCount++;
      const bs = fs.blockSize;
      const nblocks = Math.floor(inode.size / bs);
      if (nblocks < 1 || nblocks > 512 || !inode.isReg) {
        throw corrupted('orphan file inode', inode.ino, `is not a regular file of 1..512 blocks (size ${inode.size})`);
      }
      o.fileSeed = fs.metadataCsum ? inode.csumSeed : undefined;
      o.fileBlocks = [];
      const per = inodesPerOrphanBlock(bs);
      for (let i = 0; i < nblocks; i++) {
        const m = await mapBlocks(fs, inode, i);
        if (m.state !== 'written') throw corrupted('orphan file inode', inode.ino, `block ${i} is not allocated`);
        const data = await fs.cache.read(m.pblk);
        if (!orphanBlockMagicOk(data) || (o.fileSeed !== undefined && !verifyOrphanBlock(o.fileSeed, m.pblk, data))) {
          throw corrupted('orphan file block', m.pblk, 'bad magic or checksum');
        }
        let free = 0;
        for (let s = 0; s < per; s++) {
          const ino = orphanSlot(data, s);
          if (ino === 0) free++;
          else {
            o.found.push(ino);
            o.slotOf.set(ino, { block: i, slot: s });
          }
        }
        o.fileBlocks.push({ pblk: m.pblk, free });
      }
    }
    // The old list may be in use even with an orphan file (older kernels, full orphan file).
    let ino = sb.lastOrphan;
    const seen = new Set<number>();
    while (ino !== 0) {
      if (seen.has(ino) || ino > sb.inodesCount || seen.size > sb.inodesCount) {
        throw corrupted('orphan list', ino, 'loops or names an invalid inode');
      }
      seen.add(ino);
      o.list.push(ino);
      o.found.push(ino);
      const inode = await inodes.getOrphan(ino);
      ino = inode.disk.dtime;
    }
    return o;
  }

  has(ino: number): boolean {
    return this.slotOf.has(ino) || this.list.includes(ino);
  }

  /**
   * Records `inode` as an orphan in handle `h` (the caller writes the inode
   * afterwards). Several operations may add and remove orphans at once:
   * every decision is made, and every in-memory record changed, in one
   * synchronous stretch after the last await, so no two of them can act on
   * the same stale view (the slot chosen, the list's head).
   */
  async add(h: Handle, inode: Ext4Inode): Promise<void> {
    if (this.has(inode.ino)) return;
    const fs = this.fs;
    if (this.fileBlocks !== undefined) {
      const i = this.fileBlocks.findIndex((b) => b.free > 0);
      if (i >= 0) {
        const fb = this.fileBlocks[i];
        // Taken now, so a concurrent add looks for room elsewhere if this was the last slot.
        fb.free--;
        const b = await fs.cache.buffer(fb.pblk);
        if (fs.sb.featureRoCompat !== (fs.sb.featureRoCompat | RO_COMPAT_ORPHAN_PRESENT)) await markSuperDirty(fs, h);
        const per = inodesPerOrphanBlock(fs.blockSize);
        let slot = 0;
        while (slot < per && orphanSlot(b.data, slot) !== 0) slot++;
        assert(slot < per, 'orphan block free count matches its slots');
        h.getWriteAccess(b);
        setOrphanSlot(b.data, slot, inode.ino);
        writeOrphanBlockTail(b.data, fb.pblk, this.fileSeed);
        h.dirtyMetadata(b);
        this.slotOf.set(inode.ino, { block: i, slot });
        fs.sb.featureRoCompat |= RO_COMPAT_ORPHAN_PRESENT;
        return;
      }
    }
    // The old list: push at the head.
    await markSuperDirty(fs, h);
    inode.disk.dtime = fs.sb.lastOrphan;
    fs.sb.lastOrphan = inode.ino;
    this.list.unshift(inode.ino);
  }

  /** Removes `inode` from the orphans in handle `h` (the caller writes the inode afterwards). */
  async remove(h: Handle, inode: Ext4Inode): Promise<void> {
    const fs = this.fs;
    const at = this.slotOf.get(inode.ino);
    if (at !== undefined) {
      const fb = this.fileBlocks![at.block];
      const b = await fs.cache.buffer(fb.pblk);
      h.getWriteAccess(b);
      setOrphanSlot(b.data, at.slot, 0);
      writeOrphanBlockTail(b.data, fb.pblk, this.fileSeed);
      h.dirtyMetadata(b);
      fb.free++;
      this.slotOf.delete(inode.ino);
      return;
    }
    if (!this.list.includes(inode.ino)) return;
    await markSuperDirty(fs, h);
    // The inode before this one may change while we read it: read, then look again.
    for (;;) {
      const i = this.list.indexOf(inode.ino);
      if (i < 0) return;
      const prevIno = i > 0 ? this.list[i - 1] : undefined;
      const prev = prevIno === undefined ? undefined : await this.inodes.getOrphan(prevIno);
      const j = this.list.indexOf(inode.ino);
      if (j !== i || (j > 0 ? this.list[j - 1] : undefined) !== prevIno) continue;
      const next = this.list[i + 1] ?? 0;
      if (prev === undefined) fs.sb.lastOrphan = next;
      else prev.disk.dtime = next;
      this.list.splice(i, 1);
      inode.disk.dtime = 0;
      if (prev !== undefined) await this.inodes.writeInode(h, prev);
      return;
    }
  }

  /** Whether no inode is recorded (a clean close may then clear RO_COMPAT_ORPHAN_PRESENT). */
  get empty(): boolean {
    return this.slotOf.size === 0 && this.list.length === 0;
  }
}
