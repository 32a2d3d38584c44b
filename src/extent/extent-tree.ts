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

/**
 * Reads and verifies an extent tree block: checksum (metadata_csum), header,
 * and the depth its parent says it must have.
 */
async function readExtentBlock(fs: Ext4Super, inode: MappedInode, pblk: number, depth: number): Promise<ExtentNode> {
  fs.checkBlocks(pblk, 1, 'inode', inode.ino);
  return fs.cache.readDecoded(pblk, 'extent', (data) => {
    const node = decodeExtentNode(data, { ino: inode.ino, blockNr: pblk }, EXT4_MAX_EXTENT_DEPTH);
    if (node.header.depth !== depth) {
      throw corrupted('extent block', pblk, `of inode ${inode.ino} has depth ${node.header.depth}, its parent expects ${depth}`);
    }
    if (fs.metadataCsum && !verifyExtentBlock(inode.csumSeed, data)) {
      throw corrupted('extent block', pblk, `of inode ${inode.ino}: checksum does not match`);
    }
    return node;
  });
}

/**
 * The mapping that contains logical block `lblk`: the extent covering it, or
 * the hole from `lblk` up to the next extent (or to the end of the 32-bit
 * logical space).
 */
export async function mapExtentTree(fs: Ext4Super, inode: MappedInode, lblk: number): Promise<BlockMapping> {
  assert(Number.isInteger(lblk) && lblk >= 0 && lblk < MAX_LBLK, () => `logical block ${lblk} out of range`);
  let node = extentRoot(inode);
  /** End (exclusive) of the logical range the current subtree may cover. */
  let limit = MAX_LBLK;
  /** Start of the current subtree's range, from its parent's index entry. */
  let floor = 0;
  for (;;) {
    if (node.kind === 'leaf') {
      const leaves = node.leaves;
      // Binary search: last extent starting at or before lblk.
      let lo = 0;
      let hi = leaves.length - 1;
      let found = -1;
      while (lo <= hi) {
        const mid = (lo + hi) >> 1;
        if (leaves[mid].lblk <= lblk) {
          found = mid;
          lo = mid + 1;
        } else {
          hi = mid - 1;
        }
      }
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
    let lo = 0;
    let hi = indexes.length - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (indexes[mid].lblk <= lblk) {
        found = mid;
        lo = mid + 1;
      } else {
        hi = mid - 1;
      }
    }
    if (found < 0) {
      // Before the first index entry: nothing maps there.
      return { lblk, len: indexes[0].lblk - lblk, pblk: 0, state: 'hole' };
    }
    const entry = indexes[found];
    if (entry.lblk < floor) throw corrupted('inode', inode.ino, `extent index entry starts at ${entry.lblk}, before its parent's range ${floor}`);
    floor = entry.lblk;
    if (found + 1 < indexes.length) limit = indexes[found + 1].lblk;
    node = await readExtentBlock(fs, inode, entry.pblk, node.header.depth - 1);
  }
}
