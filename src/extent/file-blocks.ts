/**
 * Changing which blocks a file owns (Linux: ext4_map_blocks with
 * EXT4_GET_BLOCKS_CREATE, ext4_truncate's block removal), whichever mapping
 * scheme the inode uses. The layers above (directories, symlinks, the data
 * path) allocate and free file blocks only through these calls.
 *
 * Contract for every function here:
 *  - the caller holds the inode's `dataSem` exclusively and an open journal
 *    handle, and has reserved (BlockAllocator.reserve) enough blocks for the
 *    data it asks for plus `maxNewMetadataBlocks(...)`;
 *  - each change of the mapping increments `inode.esSeq` exactly once (R1)
 *    and clears the decoded root (`extentRootCache`);
 *  - `inode.disk.block` and `inode.disk.blocks` (i_block, i_blocks) are
 *    changed in memory only: the caller writes the inode
 *    (InodeTable.writeInode) before its handle stops.
 */
import type { Ext4Super } from '../super/ext4-super.js';
import type { Handle } from '../journal/transaction.js';
import type { BlockReservation } from '../alloc/block-alloc.js';
import { MAX_LBLK, type MappedInode } from './mapping.js';
import { assert } from '../base/assert.js';
import { FsError } from '../base/errors.js';
import { allocatorsOf } from '../alloc/allocators.js';
import { mapExtentTree } from './extent-tree.js';
import { mapBlocks } from './map-blocks.js';
import { blockMapFreeFrom, blockMapGetOrAllocate } from './block-map-write.js';
import { insertExtent, removeExtents, maxExtentLen, treeDepth, METADATA_BLOCKS_PER_FREE_CALL, type FreeMode } from './extent-write.js';
import { S_IFDIR, S_IFLNK, S_IFMT } from '../format/inode.js';
import { addInodeBlocks } from './inode-blocks.js';

/** The i_blocks-related part of an inode the block layer maintains. */
export interface WritableMappedInode extends MappedInode {
  readonly disk: { block: Uint8Array; blocks: number; flags: number; size: number; readonly mode: number };
  esSeq: number;
}

export interface FileBlockRequest {
  fs: Ext4Super;
  h: Handle;
  inode: WritableMappedInode;
  r: BlockReservation;
}

export interface BlockRunResult {
  /** Physical block of `lblk`. */
  pblk: number;
  /** Blocks mapped contiguously from `lblk` (1..len asked). */
  len: number;
  /** The blocks were allocated by this call: their contents are garbage until written. */
  fresh: boolean;
  /** The run is an unwritten extent (reads as zeros). */
  unwritten: boolean;
}

/**
 * Records a change of the inode's block mapping (R1). The caller holds
 * dataSem exclusively, which is the only reason a plain read-modify-write
 * of esSeq is safe here: no other mapping change can interleave. The new
 * value comes from the filesystem-wide counter, so it is also above any
 * value an evicted copy of this inode handed out.
 */
export function bumpEsSeq(fs: Ext4Super, inode: WritableMappedInode): void {
  inode.esSeq = fs.nextEsSeq();
}

function requireExtents(inode: WritableMappedInode, what: string): void {
  if (!inode.usesExtents) {
    throw new FsError('ENOTSUP', `${what} is not supported for inode ${inode.ino}, which uses the ext2/ext3 block map`);
  }
}

/** Where a new block for logical block `lblk` should go: right after the block before it, else near the inode. */
async function goalFor(fs: Ext4Super, inode: WritableMappedInode, lblk: number): Promise<number> {
  if (lblk > 0) {
    const prev = await mapBlocks(fs, inode, lblk - 1);
    if (prev.state !== 'hole') return prev.pblk + 1;
  }
  return fs.inodeGoalBlock(inode.ino);
}

/**
 * Maps [lblk, lblk+len) — the part of it that is contiguous from `lblk` —
 * allocating blocks for a hole (as unwritten extents when `unwritten`).
 * `goal` is where to try first (default: after the file's block before
 * `lblk`, or near the inode).
 */
export async function getOrAllocateBlocks(
  req: FileBlockRequest, lblk: number, len: number, opts: { unwritten?: boolean; goal?: number } = {},
): Promise<BlockRunResult> {
  const { fs, inode } = req;
  assert(Number.isInteger(lblk) && lblk >= 0 && len >= 1 && lblk + len <= MAX_LBLK - 1, () => `block range ${lblk}+${len}`);
  if (!inode.usesExtents) {
    if (opts.unwritten === true) requireExtents(inode, 'preallocation (unwritten blocks)');
    const run = await blockMapGetOrAllocate(req, lblk, len, opts.goal);
    if (run.fresh) bumpEsSeq(fs, inode);
    return run;
  }
  const m = await mapExtentTree(fs, inode, lblk);
  if (m.state !== 'hole') {
    return { pblk: m.pblk, len: Math.min(len, m.len), fresh: false, unwritten: m.state === 'unwritten' };
  }
  const unwritten = opts.unwritten ?? false;
  const n = Math.min(len, m.len, maxExtentLen(unwritten), req.r.remaining);
  assert(n >= 1, 'allocation without reserved blocks');
  const goal = opts.goal ?? (await goalFor(fs, inode, lblk));
  const run = await allocatorsOf(fs).blocks.allocate(req.h, req.r, goal, n, 1);
  addInodeBlocks(fs, inode, run.len);
  await insertExtent(req, { lblk, len: run.len, pblk: run.pblk, unwritten });
  bumpEsSeq(fs, inode);
  return { pblk: run.pblk, len: run.len, fresh: true, unwritten };
}

/**
 * Marks [lblk, lblk+len), which must lie inside one unwritten extent at
 * `pblk`, as written (the data is on the device now): the extent is split
 * around the range as needed (Linux: ext4_convert_unwritten_extents).
 */
export async function convertToWritten(req: FileBlockRequest, lblk: number, len: number, pblk: number): Promise<void> {
  requireExtents(req.inode, 'unwritten extent conversion');
  const done = await removeExtents(req, lblk, lblk + len, 'keep', 1);
  assert(done, 'converting a range inside one extent touches one extent');
  await insertExtent(req, { lblk, len, pblk, unwritten: false });
  bumpEsSeq(req.fs, req.inode);
}

/** Directory and symlink blocks are metadata (journaled when written): freeing them revokes them. */
function freeModeOf(inode: WritableMappedInode): FreeMode {
  const type = inode.disk.mode & S_IFMT;
  return type === S_IFDIR || type === S_IFLNK ? 'metadata' : 'data';
}

/** Extents one call of `freeBlocksFrom` / `freeBlockRange` processes (bounds its journal credits). */
export const EXTENTS_PER_FREE_CALL = 16;

/**
 * Frees the blocks mapped at or past logical block `fromLblk` (truncate).
 * Does a bounded amount of work per call: returns false when more remains,
 * and the caller calls again in a new handle (orphan-protected, as Linux's
 * truncate restarts its handle).
 */
export async function freeBlocksFrom(req: FileBlockRequest, fromLblk: number): Promise<boolean> {
  if (!req.inode.usesExtents) {
    const done = await blockMapFreeFrom(req, fromLblk, EXTENTS_PER_FREE_CALL, freeModeOf(req.inode) === 'metadata');
    bumpEsSeq(req.fs, req.inode);
    return done;
  }
  return freeBlockRange(req, fromLblk, MAX_LBLK - fromLblk);
}

/** Frees the blocks mapped in [lblk, lblk+len) (punch hole); bounded like `freeBlocksFrom`. */
export async function freeBlockRange(req: FileBlockRequest, lblk: number, len: number): Promise<boolean> {
  requireExtents(req.inode, 'punching a hole');
  const done = await removeExtents(req, lblk, Math.min(MAX_LBLK, lblk + len), freeModeOf(req.inode), EXTENTS_PER_FREE_CALL);
  bumpEsSeq(req.fs, req.inode);
  return done;
}

/** Most new tree blocks one call above may allocate: a split at every level plus a new root level. */
export function maxNewMetadataBlocks(fs: Ext4Super, inode: WritableMappedInode): number {
  void fs;
  // A block map needs at most its three levels of indirect blocks.
  return inode.usesExtents ? treeDepth(inode) + 2 : 3;
}

/**
 * Journal credits of a call that only allocates (getOrAllocateBlocks: a
 * directory growing, a new directory's first block): the tree nodes on the
 * path and the new ones, a bitmap and descriptor block for each allocation
 * (every new tree block and the data run may come from another group), the
 * superblock and the inode. Nothing is freed, so none of the free costs of
 * `blockChangeCredits` (a bitmap and descriptor per freed extent, a revoke
 * per freed metadata block) apply; those made a directory insert ask for
 * more than a small journal's transaction may hold (a 1024-block journal
 * allows 256 blocks a transaction, as jbd2 does).
 */
export function blockAllocCredits(fs: Ext4Super, inode: WritableMappedInode): number {
  const newBlocks = maxNewMetadataBlocks(fs, inode);
  const tree = 2 * ((inode.usesExtents ? treeDepth(inode) : 1) + 2) + 1;
  return tree + 2 * (newBlocks + 1) + 2 + newBlocks;
}

/**
 * Journal credits one call above may use: every tree node on the path and
 * the new ones, a bitmap and descriptor block for each block allocated or
 * extent freed, the superblock and the inode.
 */
export function blockChangeCredits(fs: Ext4Super, inode: WritableMappedInode): number {
  const tree = 2 * ((inode.usesExtents ? treeDepth(inode) : 1) + 2) + 1;
  const groups = 2 * (EXTENTS_PER_FREE_CALL + treeDepth(inode) + 3);
  void fs;
  return tree + groups + 2 + maxNewMetadataBlocks(fs, inode);
}

/**
 * Journal credits of one `freeBlocksFrom` / `freeBlockRange` call: those of
 * any block change, plus a revoke record for each metadata block it may
 * free. Kept out of `blockChangeCredits`, which every directory insert
 * multiplies: there the revokes would only inflate handles past what a
 * small journal can hold (a 1,024-block journal takes 256 per transaction).
 */
export function blockFreeCredits(fs: Ext4Super, inode: WritableMappedInode): number {
  return blockChangeCredits(fs, inode) + (freeModeOf(inode) === 'metadata' ? METADATA_BLOCKS_PER_FREE_CALL : 0);
}
