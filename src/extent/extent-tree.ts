/**
 * Lookups in the on-disk extent tree (Linux: `ext4_ext_map_blocks` for an
 * existing mapping, `ext4_find_extent`).
 *
 * The tree's root is the inode's i_block; each index entry points to a block
 * one level down; leaves hold extents. The walk is a loop bounded by the
 * root's depth (at most 5), and each child must claim exactly one level less
 * than its parent, so a crafted tree cannot make it recurse or cycle.
 */
import type { Ext4Super } from '../super/ext4-super.js';
import { corrupted } from '../base/errors.js';
import { assert } from '../base/assert.js';
import { decodeExtentNode, verifyExtentBlock, EXT4_MAX_EXTENT_DEPTH, type ExtentNode } from '../format/extent.js';
import { MAX_LBLK, type BlockMapping, type MappedInode } from './mapping.js';

/** The root node in i_block (no checksum: the inode's covers it), decoded once per inode. */
export function extentRoot(inode: MappedInode): ExtentNode {
  if (inode.extentRootCache !== undefined) return inode.extentRootCache as ExtentNode;
  const root = decodeExtentNode(inode.disk.block, { ino: inode.ino }, EXT4_MAX_EXTENT_DEPTH);
  inode.extentRootCache = root;
  return root;
}

/** Checks an extent tree block read from disk: its structure, the depth its parent expects, and its checksum. */
function extentBlockDecoder(fs: Ext4Super, inode: MappedInode, pblk: number, depth: number): (data: Uint8Array) => ExtentNode {
  return (data) => {
    const node = decodeExtentNode(data, { ino: inode.ino, blockNr: pblk }, EXT4_MAX_EXTENT_DEPTH);
    if (node.header.depth !== depth) {
      throw corrupted('extent block', pblk, `of inode ${inode.ino} has depth ${node.header.depth}, its parent expects ${depth}`);
    }
    if (fs.metadataCsum && !verifyExtentBlock(inode.csumSeed, data)) {
      throw corrupted('extent block', pblk, `of inode ${inode.ino}: checksum does not match`);
    }
    return node;
  };
}

/** Binary search in entries sorted by start: the last one starting at or before `lblk`, or -1. */
export function searchEntries(entries: ReadonlyArray<{ lblk: number }>, lblk: number): number {
  let lo = 0;
  let hi = entries.length - 1;
  let found = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (entries[mid].lblk <= lblk) {
      found = mid;
      lo = mid + 1;
    } else {
      hi = mid - 1;
    }
  }
  return found;
}

/** Where a lookup stands between two levels of the tree. */
interface Descent {
  lblk: number;
  node: ExtentNode;
  /** Start of the current subtree's range, from its parent's index entry. */
  floor: number;
  /** End (exclusive) of the logical range the current subtree may cover. */
  limit: number;
}

/**
 * One level of a lookup: the answer when `d.node` is a leaf (or the block is
 * before every index entry), else the index entry's child block to read next
 * (`d` is updated to the child's range).
 */
function step(fs: Ext4Super, inode: MappedInode, d: Descent): BlockMapping | number {
  const { lblk, node, floor, limit } = d;
  if (node.kind === 'leaf') {
    const leaves = node.leaves;
    const found = searchEntries(leaves, lblk);
    if (leaves.length > 0 && (leaves[0].lblk < floor || leaves[leaves.length - 1].lblk + leaves[leaves.length - 1].len > limit)) {
      throw corrupted('inode', inode.ino, `extent leaf covers blocks outside its index range ${floor}..${limit - 1}`);
    }
    if (found >= 0) {
      const e = leaves[found];
      if (lblk < e.lblk + e.len) {
        fs.checkBlocks(e.pblk, e.len, 'inode', inode.ino);
        const skip = lblk - e.lblk;
        return { lblk, len: e.len - skip, pblk: e.pblk + skip, state: e.unwritten ? 'unwritten' : 'written' };
      }
    }
    const next = found + 1 < leaves.length ? leaves[found + 1].lblk : limit;
    return { lblk, len: next - lblk, pblk: 0, state: 'hole' };
  }
  const indexes = node.indexes;
  if (indexes.length === 0) {
    throw corrupted('inode', inode.ino, `extent index node at depth ${node.header.depth} has no entries`);
  }
  const found = searchEntries(indexes, lblk);
  if (found < 0) {
    // Before the first index entry: nothing maps there.
    return { lblk, len: indexes[0].lblk - lblk, pblk: 0, state: 'hole' };
  }
  const entry = indexes[found];
  if (entry.lblk < floor) throw corrupted('inode', inode.ino, `extent index entry starts at ${entry.lblk}, before its parent's range ${floor}`);
  d.floor = entry.lblk;
  if (found + 1 < indexes.length) d.limit = indexes[found + 1].lblk;
  fs.checkBlocks(entry.pblk, 1, 'inode', inode.ino);
  return entry.pblk;
}

function descent(inode: MappedInode, lblk: number): Descent {
  assert(Number.isInteger(lblk) && lblk >= 0 && lblk < MAX_LBLK, () => `logical block ${lblk} out of range`);
  return { lblk, node: extentRoot(inode), floor: 0, limit: MAX_LBLK };
}

/**
 * The mapping that contains logical block `lblk`: the extent covering it, or
 * the hole from `lblk` up to the next extent (or to the end of the 32-bit
 * logical space).
 */
export async function mapExtentTree(fs: Ext4Super, inode: MappedInode, lblk: number): Promise<BlockMapping> {
  const d = descent(inode, lblk);
  for (;;) {
    const next = step(fs, inode, d);
    if (typeof next !== 'number') return next;
    d.node = await fs.cache.readDecoded(next, 'extent', extentBlockDecoder(fs, inode, next, d.node.header.depth - 1));
  }
}

/**
 * `mapExtentTree` without waiting; undefined when an index or leaf block it
 * needs cannot be read synchronously (see BufferCache.readSync).
 */
export function mapExtentTreeSync(fs: Ext4Super, inode: MappedInode, lblk: number): BlockMapping | undefined {
  const d = descent(inode, lblk);
  for (;;) {
    const next = step(fs, inode, d);
    if (typeof next !== 'number') return next;
    const child = fs.cache.readDecodedSync(next, 'extent', extentBlockDecoder(fs, inode, next, d.node.header.depth - 1));
    if (child === undefined) return undefined;
    d.node = child;
  }
}
