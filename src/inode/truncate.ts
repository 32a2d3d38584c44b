/**
 * Truncate and eviction (Linux: ext4_truncate, ext4_evict_inode).
 *
 * Freeing a large file's blocks takes many journal handles (each frees a
 * bounded number of extents, see extent/file-blocks.ts), so the inode is
 * put on the orphan list in the first handle, together with its new i_size,
 * and taken off in the last: if the machine crashes half way, the next
 * writable open finds it there and finishes the job. An inode with no links
 * left is freed the same way once nothing holds it: blocks, xattr block,
 * then the inode itself (bitmap, counts, i_dtime) in the final handle.
 *
 * The caller holds the inode's rwsem exclusively.
 */
import type { Ext4Inode } from './ext4-inode.js';
import { journalOf, nowTimestamp, type InodeContext } from './inode-context.js';
import { ORPHAN_CREDITS } from './orphan.js';
import { allocatorsOf } from '../alloc/allocators.js';
import { blockFreeCredits, freeBlocksFrom, maxNewMetadataBlocks } from '../extent/file-blocks.js';
import { mapBlocks } from '../extent/map-blocks.js';
import { releaseXattrBlock, XATTR_RELEASE_CREDITS } from '../xattr/xattr-block-write.js';
import { truncateInlineStep } from './inline-write.js';
import { assert } from '../base/assert.js';
import { isDir } from '../format/inode.js';

/** Journal credits of the handle that starts a truncate: inode, orphan record, tail block zeroing is data. */
const TRUNCATE_START_CREDITS = 2 + ORPHAN_CREDITS;

/**
 * Zeroes [from, end of its block) on disk if that block is written: the
 * bytes past EOF in the last block must read as zeros when the file grows
 * again (Linux: ext4_block_truncate_page).
 */
export async function zeroBlockTail(ctx: InodeContext, inode: Ext4Inode, from: number): Promise<void> {
  const bs = ctx.fs.blockSize;
  const off = from % bs;
  if (off === 0 || inode.hasInlineData) return;
  const m = await mapBlocks(ctx.fs, inode, Math.floor(from / bs));
  if (m.state !== 'written') return;
  const block = new Uint8Array(bs);
  await ctx.fs.device.readInto(m.pblk * bs, block);
  block.fill(0, off);
  await ctx.fs.device.write(m.pblk * bs, block);
}

/**
 * Sets i_size to `size`, freeing the blocks past it when it shrinks. Takes
 * several handles for a large file; `inode` is an orphan in between.
 *
 * The bytes past the new end in its last block are zeroed on disk (ext4
 * keeps them zero, and Linux relies on it when it extends a file), but only
 * once the new size is committed: zeroing them earlier would destroy
 * committed data if the machine crashed before the truncate's transaction
 * reached the log (R5). Growing needs no such wait: the bytes zeroed past
 * the old end are not part of the file until the new size commits.
 */
export async function truncateInode(ctx: InodeContext, inode: Ext4Inode, size: number, touchTimes = true): Promise<void> {
  const journal = journalOf(ctx);
  if (await truncateInlineStep(ctx, inode, size, touchTimes)) return;
  const oldSize = inode.size;
  const shrinking = size < oldSize;
  await journal.run(TRUNCATE_START_CREDITS, async (h) => {
    if (!shrinking) await zeroBlockTail(ctx, inode, oldSize);
    if (shrinking) await ctx.orphans.add(h, inode);
    inode.disk.size = size;
    if (touchTimes) {
      const now = nowTimestamp(ctx);
      inode.disk.mtime = now;
      inode.disk.ctime = now;
    }
    await ctx.inodes.writeInode(h, inode);
  });
  if (!shrinking) return;
  if (size % ctx.fs.blockSize !== 0) {
    await journal.commit();
    await zeroBlockTail(ctx, inode, size);
  }
  await finishTruncate(ctx, inode);
}

/**
 * The rest of a truncate whose new i_size is recorded (and the inode an
 * orphan): free the blocks past i_size, then leave the orphan list — unless
 * the inode has no links and is still open, when it stays an orphan until
 * it is freed. Also what a writable open runs for a truncate a crash cut
 * short.
 */
export async function finishTruncate(ctx: InodeContext, inode: Ext4Inode): Promise<void> {
  await freeBlocksPast(ctx, inode, inode.size);
  await journalOf(ctx).run(ORPHAN_CREDITS + 1, async (h) => {
    if (inode.refCount > 0 && inode.disk.linksCount === 0) return;
    await ctx.orphans.remove(h, inode);
    await ctx.inodes.writeInode(h, inode);
  });
}

/** Frees every block past byte `size`, a bounded batch per handle. */
async function freeBlocksPast(ctx: InodeContext, inode: Ext4Inode, size: number): Promise<void> {
  const journal = journalOf(ctx);
  const fs = ctx.fs;
  const first = Math.ceil(size / fs.blockSize);
  if (!inode.usesExtents && inode.isSymlink && inode.disk.blocks === 0) return;
  let done = false;
  while (!done) {
    const r = allocatorsOf(fs).blocks.reserve(0, false);
    try {
      // Lock order (DESIGN.md §3): the journal handle, then dataSem.
      await journal.run(blockFreeCredits(fs, inode) + maxNewMetadataBlocks(fs, inode) + 1, async (h) => {
        done = await inode.dataSem.withExclusive(() => freeBlocksFrom({ fs, h, inode, r }, first));
        await ctx.inodes.writeInode(h, inode);
      });
    } finally {
      r.release();
    }
  }
}

/**
 * Frees an inode that has no links and no references left (Linux:
 * ext4_evict_inode): its blocks, its xattr block, then the inode.
 */
export async function evictInode(ctx: InodeContext, inode: Ext4Inode): Promise<void> {
  assert(inode.disk.linksCount === 0 && inode.refCount === 0, () => `evicting inode ${inode.ino} that is still linked or open`);
  const journal = journalOf(ctx);
  const fs = ctx.fs;
  // It must be an orphan while its blocks go, so a crash finishes the job.
  await journal.run(ORPHAN_CREDITS + 1, async (h) => {
    await ctx.orphans.add(h, inode);
    await ctx.inodes.writeInode(h, inode);
  });
  if (hasDataBlocks(inode, fs.blockSize)) await freeBlocksPast(ctx, inode, 0);
  await journal.run(XATTR_RELEASE_CREDITS + ORPHAN_CREDITS + 8, async (h) => {
    await releaseXattrBlock(fs, h, inode);
    await ctx.orphans.remove(h, inode);
    inode.disk.dtime = Math.max(1, Math.floor(ctx.clock.now() / 1000)) >>> 0;
    inode.disk.size = 0;
    await ctx.inodes.writeInode(h, inode);
    await allocatorsOf(fs).inodes.free(h, inode.ino, isDir(inode.mode));
  });
  ctx.inodes.drop(inode.ino);
}

/**
 * Whether i_block maps data blocks: not for inline data, device nodes,
 * fifos, sockets, or a fast symlink (whose i_block holds the target: it
 * owns no block but perhaps its xattr block).
 */
function hasDataBlocks(inode: Ext4Inode, blockSize: number): boolean {
  if (inode.hasInlineData) return false;
  if (inode.isReg || inode.isDir) return true;
  if (!inode.isSymlink) return false;
  if (inode.usesExtents) return true;
  const own = inode.disk.blocks - (inode.disk.fileAcl !== 0 ? blockSize / 512 : 0);
  return own > 0;
}
