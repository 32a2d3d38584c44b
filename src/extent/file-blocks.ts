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
import type { MappedInode } from './mapping.js';

/** The i_blocks-related part of an inode the block layer maintains. */
export interface WritableMappedInode extends MappedInode {
  readonly disk: { block: Uint8Array; blocks: number; flags: number; size: number };
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
 * Maps [lblk, lblk+len) — the part of it that is contiguous from `lblk` —
 * allocating blocks for a hole (as unwritten extents when `unwritten`).
 * `goal` is where to try first (default: after the file's block before
 * `lblk`, or near the inode).
 */
export async function getOrAllocateBlocks(
  req: FileBlockRequest, lblk: number, len: number, opts: { unwritten?: boolean; goal?: number } = {},
): Promise<BlockRunResult> {
  void req; void lblk; void len; void opts;
  throw new Error('getOrAllocateBlocks: being written by the lead (extent-write.ts)');
}

/** Frees every block mapped at or past logical block `fromLblk` (truncate). */
export async function freeBlocksFrom(req: FileBlockRequest, fromLblk: number): Promise<void> {
  void req; void fromLblk;
  throw new Error('freeBlocksFrom: being written by the lead (extent-write.ts)');
}

/** Frees the blocks mapped in [lblk, lblk+len) (punch hole). */
export async function freeBlockRange(req: FileBlockRequest, lblk: number, len: number): Promise<void> {
  void req; void lblk; void len;
  throw new Error('freeBlockRange: being written by the lead (extent-write.ts)');
}

/** Most new tree blocks (extent index/leaf or indirect blocks) one call above may allocate: reserve this many besides the data. */
export function maxNewMetadataBlocks(fs: Ext4Super, inode: WritableMappedInode): number {
  void fs; void inode;
  return 8;
}

/** Journal credits one call above may use (tree blocks, bitmaps, descriptors, superblock). */
export function blockChangeCredits(fs: Ext4Super, inode: WritableMappedInode): number {
  void fs; void inode;
  return 24;
}
