/**
 * Changing the ext2/ext3 block map (Linux: ext4_ind_map_blocks with
 * EXT4_GET_BLOCKS_CREATE, ext4_ind_truncate), for inodes without the
 * extents flag — files of ext2/ext3 images, and new files on a filesystem
 * without the extent feature.
 *
 * Allocating: walk the path of i_block slot and indirect blocks to the
 * pointer array holding the logical block, creating missing indirect blocks
 * (zeroed) on the way, then one contiguous run of data blocks fills
 * consecutive pointers of that array. Freeing past a logical block: every
 * data pointer at or beyond it is cleared and its block freed (adjacent
 * pointers to adjacent blocks freed as one run), and an indirect block left
 * with no pointers is freed too. Work per call is bounded, as for extents.
 *
 * Indirect blocks carry no checksum; they are metadata, so they go through
 * the journal and are revoked when freed.
 */
import type { Ext4Super } from '../super/ext4-super.js';
import type { Handle } from '../journal/transaction.js';
import type { MetaBuffer } from '../cache/buffer-cache.js';
import { allocatorsOf } from '../alloc/allocators.js';
import { assert } from '../base/assert.js';
import { corrupted } from '../base/errors.js';
import { DIRECT_BLOCKS, IND_SLOT, indirectPath, maxBlockMapBlocks, readU32Array, writeU32Array } from '../format/indirect.js';
import { addInodeBlocks } from './inode-blocks.js';
import { METADATA_BLOCKS_PER_FREE_CALL } from './extent-write.js';
import type { BlockRunResult, FileBlockRequest, WritableMappedInode } from './file-blocks.js';

function slot(block: Uint8Array, i: number): number {
  return (block[i * 4] | (block[i * 4 + 1] << 8) | (block[i * 4 + 2] << 16) | (block[i * 4 + 3] << 24)) >>> 0;
}

function setSlot(block: Uint8Array, i: number, v: number): void {
  writeU32Array([v], block, i * 4);
}

async function indirectBuffer(fs: Ext4Super, inode: WritableMappedInode, pblk: number): Promise<MetaBuffer> {
  fs.checkBlocks(pblk, 1, 'inode', inode.ino);
  return fs.cache.buffer(pblk);
}

/** What one call may still free, and whether data blocks are metadata (revoked when freed). */
interface FreeState {
  budget: number;
  metadata: boolean;
}

/** Where a pointer lives: i_block (buf undefined) or an indirect block. */
interface PointerArray {
  buf: MetaBuffer | undefined;
  /** The bytes: i_block or the indirect block's data. */
  bytes: Uint8Array;
  /** Number of pointers in it. */
  count: number;
}

function rootArray(inode: WritableMappedInode): PointerArray {
  return { buf: undefined, bytes: inode.disk.block, count: DIRECT_BLOCKS };
}

/** Journals a change to a pointer array (i_block changes are written with the inode by the caller). */
function changePointer(h: Handle, arr: PointerArray, i: number, v: number): void {
  if (arr.buf !== undefined) {
    h.getWriteAccess(arr.buf);
    setSlot(arr.buf.data, i, v);
    h.dirtyMetadata(arr.buf);
  } else {
    setSlot(arr.bytes, i, v);
  }
}

/** Maps or allocates logical block `lblk` (and following ones in the same pointer array) of a block-mapped inode. */
export async function blockMapGetOrAllocate(req: FileBlockRequest, lblk: number, len: number, goalHint?: number): Promise<BlockRunResult> {
  const { fs, h, inode, r } = req;
  const apb = fs.blockSize / 4;
  if (lblk >= maxBlockMapBlocks(fs.blockSize)) throw corrupted('inode', inode.ino, `logical block ${lblk} is beyond what a block map reaches`);
  const { level, offsets } = indirectPath(lblk, apb);
  const blocks = allocatorsOf(fs).blocks;
  let goal = goalHint ?? fs.inodeGoalBlock(inode.ino);
  // Walk down, creating missing indirect blocks.
  let arr: PointerArray = { buf: undefined, bytes: inode.disk.block, count: level === 0 ? DIRECT_BLOCKS : 15 };
  for (let k = 0; k < level; k++) {
    const i = offsets[k];
    let ptr = slot(arr.bytes, i);
    if (ptr === 0) {
      const run = await blocks.allocate(h, r, goal, 1);
      ptr = run.pblk;
      goal = ptr + 1;
      addInodeBlocks(fs, inode, 1);
      const nb = fs.cache.newBuffer(ptr);
      h.getWriteAccess(nb);
      h.dirtyMetadata(nb);
      changePointer(h, arr, i, ptr);
    } else {
      goal = ptr + 1;
    }
    const buf = await indirectBuffer(fs, inode, ptr);
    arr = { buf, bytes: buf.data, count: apb };
  }
  const first = offsets[level];
  const end = level === 0 ? DIRECT_BLOCKS : apb;
  const existing = slot(arr.bytes, first);
  if (existing !== 0) {
    let n = 1;
    while (first + n < end && n < len && slot(arr.bytes, first + n) === existing + n) n++;
    fs.checkBlocks(existing, n, 'inode', inode.ino);
    return { pblk: existing, len: n, fresh: false, unwritten: false };
  }
  // The hole's extent inside this array.
  let hole = 1;
  while (first + hole < end && hole < len && slot(arr.bytes, first + hole) === 0) hole++;
  if (first > 0 && slot(arr.bytes, first - 1) !== 0) goal = slot(arr.bytes, first - 1) + 1;
  const run = await blocks.allocate(h, r, goalHint ?? goal, Math.min(hole, r.remaining), 1);
  addInodeBlocks(fs, inode, run.len);
  if (arr.buf !== undefined) h.getWriteAccess(arr.buf);
  for (let k = 0; k < run.len; k++) setSlot(arr.bytes, first + k, run.pblk + k);
  if (arr.buf !== undefined) h.dirtyMetadata(arr.buf);
  return { pblk: run.pblk, len: run.len, fresh: true, unwritten: false };
}

/**
 * Frees every data block at or past `fromLblk`, and indirect blocks left
 * empty, doing at most `budget` frees; returns whether everything is done.
 */
export async function blockMapFreeFrom(req: FileBlockRequest, fromLblk: number, budget: number, metadata: boolean): Promise<boolean> {
  const { fs, inode } = req;
  const apb = fs.blockSize / 4;
  // Freed metadata blocks are revoked one by one: count blocks, not runs, against the budget.
  const state = { budget: metadata ? Math.min(budget, METADATA_BLOCKS_PER_FREE_CALL) : budget, metadata };
  // Direct slots.
  const root = rootArray(inode);
  if (!(await freePointers(req, root, 0, Math.max(0, fromLblk), DIRECT_BLOCKS, state))) return false;
  // Indirect trees: slot 12 covers 12.., 13 and 14 the following ranges.
  let base = DIRECT_BLOCKS;
  for (let level = 1; level <= 3; level++) {
    const span = apb ** level;
    const slotIdx = IND_SLOT + level - 1;
    const ptr = slot(inode.disk.block, slotIdx);
    if (ptr !== 0 && base + span > fromLblk) {
      const emptied = await freeSubtree(req, ptr, level, base, Math.max(0, fromLblk - base), state);
      if (emptied === undefined) return false;
      if (emptied) {
        await allocatorsOf(fs).blocks.free(req.h, ptr, 1, true);
        addInodeBlocks(fs, inode, -1);
        setSlot(inode.disk.block, slotIdx, 0);
        if (--state.budget <= 0) return false;
      }
    }
    base += span;
  }
  return true;
}

/**
 * Frees the data pointers [from, to) of `arr` in runs; returns false when
 * the budget ran out first.
 */
async function freePointers(req: FileBlockRequest, arr: PointerArray, _base: number, from: number, to: number, state: FreeState): Promise<boolean> {
  const { fs, h, inode } = req;
  let i = from;
  while (i < to) {
    const p = slot(arr.bytes, i);
    if (p === 0) {
      i++;
      continue;
    }
    if (state.budget <= 0) return false;
    let n = 1;
    while (i + n < to && slot(arr.bytes, i + n) === p + n && (!state.metadata || n < state.budget)) n++;
    fs.checkBlocks(p, n, 'inode', inode.ino);
    if (arr.buf !== undefined) h.getWriteAccess(arr.buf);
    for (let k = 0; k < n; k++) setSlot(arr.bytes, i + k, 0);
    if (arr.buf !== undefined) h.dirtyMetadata(arr.buf);
    await allocatorsOf(fs).blocks.free(h, p, n, state.metadata);
    addInodeBlocks(fs, inode, -n);
    state.budget -= state.metadata ? n : 1;
    i += n;
  }
  return true;
}

/**
 * Frees what the subtree under indirect block `pblk` (of `level` levels,
 * first logical block `base`) maps at or past `base + from`. Returns whether
 * the block is now empty (the caller frees it), or undefined when the
 * budget ran out.
 */
async function freeSubtree(req: FileBlockRequest, pblk: number, level: number, base: number, from: number, state: FreeState): Promise<boolean | undefined> {
  const { fs, h, inode } = req;
  assert(level >= 1 && level <= 3, 'indirect level');
  const apb = fs.blockSize / 4;
  const buf = await indirectBuffer(fs, inode, pblk);
  const arr: PointerArray = { buf, bytes: buf.data, count: apb };
  if (level === 1) {
    if (!(await freePointers(req, arr, base, from, apb, state))) return undefined;
  } else {
    const childSpan = apb ** (level - 1);
    for (let i = Math.floor(from / childSpan); i < apb; i++) {
      const child = slot(arr.bytes, i);
      if (child === 0) continue;
      const childFrom = Math.max(0, from - i * childSpan);
      const emptied = await freeSubtree(req, child, level - 1, base + i * childSpan, childFrom, state);
      if (emptied === undefined) return undefined;
      if (emptied) {
        if (state.budget <= 0) return undefined;
        await allocatorsOf(fs).blocks.free(h, child, 1, true);
        addInodeBlocks(fs, inode, -1);
        changePointer(h, arr, i, 0);
        state.budget--;
      }
    }
  }
  return readU32Array(arr.bytes).every((v) => v === 0);
}
