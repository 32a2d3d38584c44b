/**
 * The extent tree of a file whose whole mapping is known before anything
 * is written (mkfs -d): up to four extents live in the inode's i_block;
 * more are packed into full leaf blocks, and index levels are added above
 * them until the top level fits the four slots of i_block. Linux reads any
 * depth up to five; a new file of a few thousand extents needs one level.
 */
import { assert } from '../base/assert.js';
import {
  encodeExtentNode, EXT_INIT_MAX_LEN, EXT4_MAX_EXTENT_DEPTH, EXTENT_ROOT_SIZE, extentNodeCapacity, writeExtentBlockChecksum,
  type ExtentIndex, type ExtentLeaf,
} from '../format/extent.js';

/** Slots in the root node, in i_block. */
const ROOT_SLOTS = extentNodeCapacity(EXTENT_ROOT_SIZE);

/** Appends a mapping of `len` blocks at logical `lblk` to `pblk`, merging with the last extent and cutting at the longest extent. */
export function appendExtent(extents: ExtentLeaf[], lblk: number, pblk: number, len: number): void {
  while (len > 0) {
    const last = extents[extents.length - 1];
    if (last !== undefined && last.lblk + last.len === lblk && last.pblk + last.len === pblk && last.len < EXT_INIT_MAX_LEN) {
      const n = Math.min(len, EXT_INIT_MAX_LEN - last.len);
      last.len += n;
      lblk += n;
      pblk += n;
      len -= n;
      continue;
    }
    const n = Math.min(len, EXT_INIT_MAX_LEN);
    extents.push({ lblk, len: n, unwritten: false, pblk });
    lblk += n;
    pblk += n;
    len -= n;
  }
}

/** Blocks the tree for `count` extents needs besides i_block. */
export function extentTreeBlocks(count: number, blockSize: number): number {
  const cap = extentNodeCapacity(blockSize);
  let total = 0;
  let level = count;
  while (level > ROOT_SLOTS) {
    level = Math.ceil(level / cap);
    total += level;
  }
  return total;
}

export interface EncodedTree {
  /** i_block: the root node. */
  root: Uint8Array;
  /** The tree's blocks, with their contents. */
  blocks: Array<{ block: number; bytes: Uint8Array }>;
}

/**
 * Encodes the tree for `extents` (ascending, non-overlapping) into the
 * blocks `treeBlocks` (extentTreeBlocks of them: the leaves first, then
 * each index level). With `inodeSeed` (metadata_csum) each block gets its
 * checksum tail.
 */
export function encodeExtentTree(extents: readonly ExtentLeaf[], treeBlocks: readonly number[], blockSize: number, inodeSeed: number | undefined): EncodedTree {
  assert(treeBlocks.length === extentTreeBlocks(extents.length, blockSize), 'extent tree block count');
  const root = new Uint8Array(EXTENT_ROOT_SIZE);
  const header = (max: number, depth: number) => ({ magic: 0, entries: 0, max, depth, generation: 0 });
  if (extents.length <= ROOT_SLOTS) {
    encodeExtentNode({ kind: 'leaf', header: header(ROOT_SLOTS, 0), leaves: [...extents] }, root);
    return { root, blocks: [] };
  }
  const cap = extentNodeCapacity(blockSize);
  const blocks: EncodedTree['blocks'] = [];
  let next = 0;
  const node = (fill: (buf: Uint8Array) => void): number => {
    const block = treeBlocks[next++];
    const bytes = new Uint8Array(blockSize);
    fill(bytes);
    if (inodeSeed !== undefined) writeExtentBlockChecksum(inodeSeed, bytes);
    blocks.push({ block, bytes });
    return block;
  };
  let level: ExtentIndex[] = [];
  for (let i = 0; i < extents.length; i += cap) {
    const leaves = extents.slice(i, i + cap);
    level.push({ lblk: leaves[0].lblk, pblk: node((b) => encodeExtentNode({ kind: 'leaf', header: header(cap, 0), leaves }, b)) });
  }
  let depth = 1;
  while (level.length > ROOT_SLOTS) {
    const up: ExtentIndex[] = [];
    for (let i = 0; i < level.length; i += cap) {
      const indexes = level.slice(i, i + cap);
      const d = depth;
      up.push({ lblk: indexes[0].lblk, pblk: node((b) => encodeExtentNode({ kind: 'index', header: header(cap, d), indexes }, b)) });
    }
    level = up;
    depth++;
  }
  assert(depth <= EXT4_MAX_EXTENT_DEPTH, () => `extent tree of depth ${depth}`);
  encodeExtentNode({ kind: 'index', header: header(ROOT_SLOTS, depth), indexes: level }, root);
  return { root, blocks };
}
