/**
 * Writing file data straight to the device (the write path before the page
 * cache exists; Linux's closest relative is ext4's direct I/O path).
 *
 * Each step maps the next part of the range in one journal handle: an
 * existing extent is overwritten in place; a hole gets new blocks (one
 * extent, as long as the allocator finds); an unwritten extent is filled
 * and then marked written. The data goes to the device inside the handle
 * that made it reachable, so it is there before that transaction can
 * commit (data=ordered): after a crash a file never shows blocks that were
 * never written (R5).
 *
 * New or unwritten blocks hold garbage or must read as zeros, so partially
 * written edge blocks of those are zero-filled around the data; edge blocks
 * of written extents are read, patched and written back.
 *
 * The caller holds the inode's rwsem exclusively, so no reader can see a
 * freshly mapped block before its data is written, and no other writer can
 * change the mapping in between (the mapping itself is changed under
 * dataSem, as R1 requires).
 */
import type { Ext4Inode } from '../inode/ext4-inode.js';
import { journalOf, nowTimestamp, type InodeContext } from '../inode/inode-context.js';
import { zeroBlockTail } from '../inode/truncate.js';
import { writeInlineStep } from '../inode/inline-write.js';
import { allocatorsOf } from '../alloc/allocators.js';
import type { BlockReservation } from '../alloc/block-alloc.js';
import {
  blockChangeCredits, convertToWritten, getOrAllocateBlocks, maxNewMetadataBlocks, type BlockRunResult,
} from '../extent/file-blocks.js';
import { mapBlocks } from '../extent/map-blocks.js';
import { MAX_LBLK } from '../extent/mapping.js';
import { EXT_INIT_MAX_LEN } from '../format/extent.js';
import { FsError } from '../base/errors.js';
import { assert } from '../base/assert.js';

/** Largest file an extent-mapped inode can have: 2^32 - 1 blocks (Linux: ext4_max_size). */
export function maxFileBytes(blockSize: number): number {
  return (MAX_LBLK - 1) * blockSize;
}

/**
 * Writes `data` at byte `pos` of `inode`; returns the bytes written (short
 * only when the disk filled up after some were written: the next write then
 * fails with ENOSPC, as write(2) does).
 */
export async function writeData(ctx: InodeContext, inode: Ext4Inode, pos: number, data: Uint8Array): Promise<number> {
  const fs = ctx.fs;
  const bs = fs.blockSize;
  if (data.length === 0) return 0;
  if (pos + data.length > maxFileBytes(bs)) throw new FsError('EFBIG');
  // Data that fits stays in the inode; a file outgrowing it is converted first (R4: under the rwsem we hold).
  if (await writeInlineStep(ctx, inode, pos, data)) return data.length;
  const end = pos + data.length;
  let p = pos;
  while (p < end) {
    const lblk = Math.floor(p / bs);
    const wantBlocks = Math.min(Math.floor((end - 1) / bs) - lblk + 1, EXT_INIT_MAX_LEN);
    const m = await mapBlocks(fs, inode, lblk);
    const isHole = m.state === 'hole';
    const n = Math.min(wantBlocks, m.len);
    let r: BlockReservation;
    try {
      r = await reserve(ctx, (isHole ? n : 0) + maxNewMetadataBlocks(fs, inode));
    } catch (e) {
      if (e instanceof FsError && e.code === 'ENOSPC' && p > pos) return p - pos;
      throw e;
    }
    try {
      p = await journalOf(ctx).run(blockChangeCredits(fs, inode) + 2, async (h) => {
        const oldSize = inode.size;
        if (p > oldSize) await zeroBlockTail(ctx, inode, oldSize);
        const run = await inode.dataSem.withExclusive(() => getOrAllocateBlocks({ fs, h, inode, r }, lblk, n));
        const runEnd = (lblk + run.len) * bs;
        const to = Math.min(end, runEnd);
        await writeRun(ctx, run, lblk, p, to, data.subarray(p - pos, to - pos));
        if (run.unwritten) {
          const first = Math.floor(p / bs);
          const count = Math.floor((to - 1) / bs) - first + 1;
          await inode.dataSem.withExclusive(() =>
            convertToWritten({ fs, h, inode, r }, first, count, run.pblk + (first - lblk)));
        }
        if (to > inode.disk.size) inode.disk.size = to;
        const now = nowTimestamp(ctx);
        inode.disk.mtime = now;
        inode.disk.ctime = now;
        await ctx.inodes.writeInode(h, inode);
        return to;
      });
    } finally {
      r.release();
    }
  }
  return end - pos;
}

/**
 * Reserves blocks for one step; when the disk looks full but blocks freed by
 * an uncommitted transaction would do, commits first (Linux:
 * ext4_should_retry_alloc). No handle is open here.
 */
export async function reserve(ctx: InodeContext, n: number): Promise<BlockReservation> {
  const blocks = allocatorsOf(ctx.fs).blocks;
  try {
    return blocks.reserve(n, true);
  } catch (e) {
    if (!(e instanceof FsError && e.code === 'ENOSPC') || blocks.pendingCount === 0) throw e;
    await journalOf(ctx).commit();
    return blocks.reserve(n, true);
  }
}

/** Writes bytes [from, to) of the file, which lie in `run` (starting at logical block `lblk`). */
async function writeRun(ctx: InodeContext, run: BlockRunResult, lblk: number, from: number, to: number, bytes: Uint8Array): Promise<void> {
  const bs = ctx.fs.blockSize;
  const dev = ctx.fs.device;
  const zeroFill = run.fresh || run.unwritten;
  const addrOf = (filePos: number): number => (run.pblk + (Math.floor(filePos / bs) - lblk)) * bs;
  assert(to > from && Math.floor((to - 1) / bs) < lblk + run.len, 'write lies inside its run');
  /** Writes one partial block: zeros or its old bytes, with [a, b) of the file replaced. */
  const partial = async (a: number, b: number): Promise<void> => {
    const blockStart = Math.floor(a / bs) * bs;
    const block = new Uint8Array(bs);
    if (!zeroFill) await dev.readInto(addrOf(a), block);
    block.set(bytes.subarray(a - from, b - from), a - blockStart);
    await dev.write(addrOf(a), block);
  };
  const firstFull = Math.ceil(from / bs) * bs;
  const lastFull = Math.floor(to / bs) * bs;
  if (firstFull >= lastFull && Math.floor(from / bs) === Math.floor((to - 1) / bs) && (from % bs !== 0 || to % bs !== 0)) {
    await partial(from, to);
    return;
  }
  if (from < firstFull) await partial(from, firstFull);
  if (firstFull < lastFull) await dev.write(addrOf(firstFull), bytes.subarray(firstFull - from, lastFull - from));
  if (lastFull < to && lastFull >= firstFull) await partial(lastFull, to);
}
