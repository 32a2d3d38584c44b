/**
 * Writing inline data (Linux: fs/ext4/inline.c, the write, truncate and
 * conversion side). A small regular file keeps its bytes in the inode: the
 * first 60 in i_block, the rest in the value of the in-inode xattr
 * `system.data`, which every inline inode has (possibly empty). The inline
 * area only grows while the file is written; truncate shrinks it.
 *
 * A write that would not fit converts the file to an extent-mapped one
 * first: the inline bytes move to a newly allocated block 0, system.data
 * goes, EXT4_INLINE_DATA_FL gives way to EXT4_EXTENTS_FL. R4 (DESIGN.md):
 * every function here runs with the inode's rwsem held exclusively (the
 * conversion is done by whoever holds the inode lock); writeback never
 * sees an inline inode's data, since it lives in the inode, written under a
 * journal handle.
 *
 * Locks, outermost first: inode.rwsem (caller), the journal handle
 * (caller), inode.dataSem (taken here around i_block changes: i_block is
 * the file's mapping, and changing it bumps esSeq, R1).
 */
import type { Ext4Super } from '../super/ext4-super.js';
import type { Ext4Inode } from './ext4-inode.js';
import type { Handle } from '../journal/transaction.js';
import type { BlockReservation } from '../alloc/block-alloc.js';
import { assert } from '../base/assert.js';
import { FsError } from '../base/errors.js';
import { allocatorsOf } from '../alloc/allocators.js';
import { EXT4_EXTENTS_FL, EXT4_INLINE_DATA_FL } from '../format/inode.js';
import { EXT4_MIN_INLINE_DATA_SIZE, findSystemData, INLINE_DATA_NAME, INLINE_DATA_NAME_INDEX } from '../format/inline-data.js';
import { EXT4_EXT_MAGIC, EXTENT_ROOT_SIZE, extentNodeCapacity } from '../format/extent.js';
import { writeU16LE } from '../format/le.js';
import { xattrEntrySize, xattrSpaceNeeded } from '../format/xattr.js';
import { ibodyXattrs } from '../xattr/xattr-read.js';
import { entryInput } from '../xattr/xattr-plan.js';
import { ibodyCapacity, prepareIbodyXattrChange } from '../xattr/xattr-set.js';
import type { XattrKey } from '../format/xattr-name.js';
import {
  bumpEsSeq, blockChangeCredits, getOrAllocateBlocks, maxNewMetadataBlocks, type WritableMappedInode,
} from '../extent/file-blocks.js';
import { inlineData } from './inline.js';
import { journalOf, nowTimestamp, type InodeContext } from './inode-context.js';

/** The key of system.data. */
export const SYSTEM_DATA_KEY: XattrKey = { nameIndex: INLINE_DATA_NAME_INDEX, name: new TextEncoder().encode(INLINE_DATA_NAME) };

/**
 * The most bytes the inode could hold inline (Linux: ext4_get_max_inline_size):
 * 60 in i_block plus the largest system.data value the in-inode xattr area
 * leaves room for beside the other attributes. 0 when there is no room for a
 * non-empty system.data value (Linux then never keeps the data inline).
 */
export function maxInlineSize(fs: Ext4Super, inode: Ext4Inode): number {
  const capacity = ibodyCapacity(fs, inode);
  if (capacity === 0) return 0;
  const all = ibodyXattrs(fs, inode);
  const systemData = findSystemData(all);
  const others = all.filter((e) => e !== systemData).map(entryInput);
  const free = capacity - xattrSpaceNeeded(others) - xattrEntrySize(SYSTEM_DATA_KEY.name.length);
  const value = free > 0 ? free & ~3 : 0;
  return value === 0 ? 0 : EXT4_MIN_INLINE_DATA_SIZE + value;
}

/** Bytes the inline area holds now: 60 plus the system.data value (ext4's i_inline_size). */
export function inlineSize(fs: Ext4Super, inode: Ext4Inode): number {
  return EXT4_MIN_INLINE_DATA_SIZE + (findSystemData(ibodyXattrs(fs, inode))?.valueSize ?? 0);
}

/**
 * In-memory inodes that may start keeping data inline (Linux's
 * EXT4_STATE_MAY_INLINE_DATA): regular files created since they were
 * loaded. Like Linux's state bit it is not on disk, so an empty
 * extent-mapped file read back from disk never turns inline.
 */
const mayInline = new WeakSet<Ext4Inode>();

/** Marks a newly created, still empty regular file as one that may keep its data inline (ext4_new_inode). */
export function allowInlineData(fs: Ext4Super, inode: Ext4Inode): void {
  if (fs.hasInlineData && inode.isReg && inode.disk.size === 0) mayInline.add(inode);
}

/** The file's data goes to blocks from now on (Linux clears EXT4_STATE_MAY_INLINE_DATA when a write does not fit). */
export function disallowInlineData(inode: Ext4Inode): void {
  mayInline.delete(inode);
}

/**
 * Whether a write ending at byte `end` can be kept in the inode: the
 * filesystem has inline_data, the inode is a regular file that is inline
 * already or newly created, and the data fits (ext4_try_to_write_inline_data).
 */
export function canWriteInline(fs: Ext4Super, inode: Ext4Inode, end: number): boolean {
  if (!fs.hasInlineData || !inode.isReg) return false;
  if (!inode.hasInlineData && !mayInline.has(inode)) return false;
  return end <= maxInlineSize(fs, inode);
}

function checkLocked(inode: Ext4Inode): void {
  assert(inode.rwsem.writeLocked, () => `inline data change on inode ${inode.ino} without its rwsem held exclusively (R4)`);
}

/** An empty extent root: the i_block of a file with no blocks (ext4_ext_tree_init). */
export function emptyExtentRoot(): Uint8Array {
  const root = new Uint8Array(EXTENT_ROOT_SIZE);
  writeU16LE(root, 0, EXT4_EXT_MAGIC);
  writeU16LE(root, 4, extentNodeCapacity(EXTENT_ROOT_SIZE));
  return root;
}

/**
 * Replaces the inline contents with `content` (i_block gets the first 60
 * bytes, system.data the rest), creating the inline area on an empty file
 * (`inlineFlags` then says which flags the inode gets). ENOSPC, before any
 * change, when system.data does not fit. The attribute, i_block and the
 * flags change in one synchronous step under dataSem, so neither a reader
 * nor a mapping sees them disagree.
 */
export async function storeInline(fs: Ext4Super, h: Handle, inode: Ext4Inode, content: Uint8Array): Promise<void> {
  const iblock = new Uint8Array(EXT4_MIN_INLINE_DATA_SIZE);
  iblock.set(content.subarray(0, EXT4_MIN_INLINE_DATA_SIZE));
  const rest = content.slice(Math.min(content.length, EXT4_MIN_INLINE_DATA_SIZE));
  const wasInline = inode.hasInlineData;
  await inode.dataSem.withExclusive(async () => {
    const commit = await prepareIbodyXattrChange(fs, h, inode, SYSTEM_DATA_KEY, rest, wasInline ? 'replace' : 'create');
    h.changed = true;
    commit?.();
    inode.disk.block = iblock;
    if (!wasInline) inode.disk.flags = (inode.disk.flags & ~EXT4_EXTENTS_FL) | EXT4_INLINE_DATA_FL;
    inode.extentRootCache = undefined;
    bumpEsSeq(fs, inode);
  });
}

/**
 * Writes `data` at byte `pos` of an inline (or still empty) regular file
 * and extends i_size to cover it (ext4_write_inline_data and its
 * write_end). The caller checked `canWriteInline(fs, inode, pos + data.length)`
 * and writes the inode afterwards. Bytes between the old end and `pos` read
 * as zeros. Needs one inode credit (`INLINE_WRITE_CREDITS`).
 */
export async function writeInline(fs: Ext4Super, h: Handle, inode: Ext4Inode, pos: number, data: Uint8Array): Promise<void> {
  checkLocked(inode);
  const end = pos + data.length;
  assert(canWriteInline(fs, inode, end), () => `inode ${inode.ino}: a write ending at ${end} cannot be inline`);
  const current = inode.hasInlineData ? inlineData(fs, inode) : new Uint8Array(0);
  // The stored area never shrinks on a write (only truncate shrinks it).
  const stored = inode.hasInlineData ? inlineSize(fs, inode) : EXT4_MIN_INLINE_DATA_SIZE;
  const content = new Uint8Array(Math.max(stored, end));
  content.set(current);
  content.set(data, pos);
  await storeInline(fs, h, inode, content);
  if (end > inode.disk.size) inode.disk.size = end;
}

/** Journal credits of an inline write or truncate: the inode's table block. */
export const INLINE_WRITE_CREDITS = 1;

/**
 * Whether setting an inline file's size to `size` makes it extent-mapped:
 * Linux converts a file grown past the bytes its inline area holds (i_size
 * growing within them, or any shrink, keeps it inline).
 */
export function inlineTruncateConverts(fs: Ext4Super, inode: Ext4Inode, size: number): boolean {
  return size > inode.disk.size && size > inlineSize(fs, inode);
}

/**
 * Sets an inline file's size (ext4_inline_data_truncate): shrinking cuts
 * system.data to what lies past byte 60 and zeroes i_block past the new
 * end, so bytes beyond i_size are never kept; growing within the inline
 * area only moves i_size (the bytes there are zeros). Growing further is a
 * conversion first (`inlineTruncateConverts`, `convertInlineToExtents`).
 * The caller writes the inode.
 */
export async function truncateInline(fs: Ext4Super, h: Handle, inode: Ext4Inode, size: number): Promise<void> {
  checkLocked(inode);
  assert(inode.hasInlineData && inode.isReg, () => `inode ${inode.ino} is not an inline file`);
  assert(Number.isSafeInteger(size) && size >= 0 && !inlineTruncateConverts(fs, inode, size),
    () => `inline truncate of inode ${inode.ino} from ${inode.disk.size} to ${size}`);
  // An i_size beyond the stored bytes (the rest reads as zeros) shrinks without touching them.
  if (size < inode.disk.size && size < inlineSize(fs, inode)) {
    const keep = new Uint8Array(Math.max(size, EXT4_MIN_INLINE_DATA_SIZE));
    keep.set(inlineData(fs, inode).subarray(0, size));
    await storeInline(fs, h, inode, keep);
  }
  h.changed = true;
  inode.disk.size = size;
}

/**
 * A stand-in for `inode` as it will be once converted: an extent-mapped
 * inode with the tree `block`. Conversions build the new tree on it and
 * install the result in one step; reservations and credits are sized on it.
 */
export function freshExtentTree(inode: Ext4Inode, block = emptyExtentRoot()): WritableMappedInode {
  return {
    ino: inode.ino, csumSeed: inode.csumSeed, usesExtents: true, extentRootCache: undefined, esSeq: inode.esSeq,
    disk: { block, blocks: inode.disk.blocks, flags: (inode.disk.flags & ~EXT4_INLINE_DATA_FL) | EXT4_EXTENTS_FL, size: inode.disk.size, mode: inode.disk.mode },
  };
}

/** Blocks to reserve before converting an inline file: its block 0 and what a new extent tree may need. */
export function inlineConvertReserve(fs: Ext4Super, inode: Ext4Inode): number {
  return 1 + maxNewMetadataBlocks(fs, freshExtentTree(inode));
}

/** Journal credits of a conversion: the inode, and one block mapped into a new extent tree. */
export function inlineConvertCredits(fs: Ext4Super, inode: Ext4Inode): number {
  return 1 + blockChangeCredits(fs, freshExtentTree(inode));
}

/**
 * Makes an inline regular file extent-mapped (ext4_convert_inline_data):
 * its bytes go to a new block 0, written to the device before this
 * handle's transaction can commit (data=ordered); then, in one synchronous
 * step, system.data goes, i_block becomes the extent root mapping that
 * block and the flags change — a reader sees the inline file or the
 * converted one, never an empty one in between. `r` holds
 * `inlineConvertReserve` blocks, the handle `inlineConvertCredits`. The
 * caller writes the inode. An empty file gets no block. Returns the block
 * the data went to.
 */
export async function convertInlineToExtents(
  fs: Ext4Super, h: Handle, inode: Ext4Inode, r: BlockReservation,
): Promise<number | undefined> {
  checkLocked(inode);
  assert(inode.hasInlineData && inode.isReg, () => `inode ${inode.ino} is not an inline file`);
  if (!fs.hasExtents) throw fs.unsupported('converting inline data without the extent feature');
  const data = inlineData(fs, inode);
  if (data.length > 0 && r.remaining < 1) throw new FsError('ENOSPC', 'no block to convert inline data into');
  return inode.dataSem.withExclusive(async () => {
    const commit = await prepareIbodyXattrChange(fs, h, inode, SYSTEM_DATA_KEY, undefined, 'replace');
    // The new tree is built on a stand-in for the inode and installed below.
    const tree = freshExtentTree(inode);
    let pblk: number | undefined;
    if (data.length > 0) {
      const run = await getOrAllocateBlocks({ fs, h, inode: tree, r }, 0, 1);
      const block = new Uint8Array(fs.blockSize);
      block.set(data);
      await fs.device.write(run.pblk * fs.blockSize, block);
      pblk = run.pblk;
    }
    h.changed = true;
    commit?.();
    inode.disk.block = tree.disk.block;
    inode.disk.blocks = tree.disk.blocks;
    inode.disk.flags = tree.disk.flags;
    mayInline.delete(inode);
    inode.extentRootCache = undefined;
    bumpEsSeq(fs, inode);
    return pblk;
  });
}

/** A reservation of `inlineConvertReserve` blocks (ENOSPC when the disk is full; take it before the handle). */
export function reserveInlineConvert(fs: Ext4Super, inode: Ext4Inode): BlockReservation {
  return allocatorsOf(fs).blocks.reserve(inlineConvertReserve(fs, inode), true);
}

// ---------------------------------------------------------------------------
// Whole steps of the data path, each in its own handle (the caller holds
// the inode's rwsem exclusively).

/** Reserves for a conversion; a full disk whose blocks wait on a commit gets that commit first (ext4_should_retry_alloc). */
async function reserveForConversion(ctx: InodeContext, inode: Ext4Inode): Promise<BlockReservation> {
  try {
    return reserveInlineConvert(ctx.fs, inode);
  } catch (e) {
    if (!(e instanceof FsError && e.code === 'ENOSPC') || allocatorsOf(ctx.fs).blocks.pendingCount === 0) throw e;
    await journalOf(ctx).commit();
    return reserveInlineConvert(ctx.fs, inode);
  }
}

/** Converts an inline regular file to an extent-mapped one in a handle of its own. */
export async function convertInlineFile(ctx: InodeContext, inode: Ext4Inode): Promise<void> {
  checkLocked(inode);
  const r = await reserveForConversion(ctx, inode);
  try {
    await journalOf(ctx).run(inlineConvertCredits(ctx.fs, inode), async (h) => {
      await convertInlineToExtents(ctx.fs, h, inode, r);
      await ctx.inodes.writeInode(h, inode);
    });
  } finally {
    r.release();
  }
}

/**
 * The inline part of a write (Linux: ext4_try_to_write_inline_data and
 * its write_end): when the data fits the inode, it goes there (times and
 * size updated) and this returns true. Otherwise the file stops being a
 * candidate for inline data and, if it was inline, is converted; the
 * caller then writes the data to blocks.
 */
export async function writeInlineStep(ctx: InodeContext, inode: Ext4Inode, pos: number, data: Uint8Array): Promise<boolean> {
  checkLocked(inode);
  if (!inode.hasInlineData && !mayInline.has(inode)) return false;
  if (canWriteInline(ctx.fs, inode, pos + data.length)) {
    await journalOf(ctx).run(INLINE_WRITE_CREDITS, async (h) => {
      await writeInline(ctx.fs, h, inode, pos, data);
      const now = nowTimestamp(ctx);
      inode.disk.mtime = now;
      inode.disk.ctime = now;
      await ctx.inodes.writeInode(h, inode);
    });
    return true;
  }
  mayInline.delete(inode);
  if (inode.hasInlineData) await convertInlineFile(ctx, inode);
  return false;
}

/**
 * The inline part of truncate (ext4_inline_data_truncate, or the conversion
 * of ext4_setattr growing the file past its inline area): returns true when
 * the size was set here; false when the file is extent-mapped (now) and
 * the caller's block truncate applies.
 */
export async function truncateInlineStep(ctx: InodeContext, inode: Ext4Inode, size: number, touchTimes: boolean): Promise<boolean> {
  if (!inode.hasInlineData) return false;
  checkLocked(inode);
  if (inlineTruncateConverts(ctx.fs, inode, size)) {
    await convertInlineFile(ctx, inode);
    return false;
  }
  await journalOf(ctx).run(INLINE_WRITE_CREDITS, async (h) => {
    await truncateInline(ctx.fs, h, inode, size);
    if (touchTimes) {
      const now = nowTimestamp(ctx);
      inode.disk.mtime = now;
      inode.disk.ctime = now;
    }
    await ctx.inodes.writeInode(h, inode);
  });
  return true;
}
