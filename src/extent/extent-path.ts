/**
 * A path from the extent tree's root to the leaf holding a logical block
 * (Linux: struct ext4_ext_path, ext4_find_extent), with each node decoded
 * into a private, mutable copy, and the way back: writing a changed node to
 * i_block (the root) or to its block through the journal.
 *
 * Every function here assumes the caller holds the inode's dataSem
 * exclusively (file-blocks.ts), so the tree cannot change under a path
 * between two awaits.
 */
import type { Ext4Super } from '../super/ext4-super.js';
import type { Handle } from '../journal/transaction.js';
import { assert } from '../base/assert.js';
import { corrupted } from '../base/errors.js';
import {
  decodeExtentNode, encodeExtentNode, writeExtentBlockChecksum, verifyExtentBlock, extentNodeCapacity,
  EXT4_MAX_EXTENT_DEPTH, EXT4_EXT_MAGIC, type ExtentNode, type ExtentLeaf, type ExtentIndex,
} from '../format/extent.js';
import type { WritableMappedInode } from './file-blocks.js';
import { searchEntries } from './extent-tree.js';

export { searchEntries };

export interface PathLevel {
  /** Private copy of the node; change it, then `writeNode`. */
  node: ExtentNode;
  /** Block holding the node; 0 for the root in i_block. */
  pblk: number;
  /** Index of the entry followed (index nodes) or of the extent at or before the target (leaves; -1 if none). */
  at: number;
}

export type ExtentPath = PathLevel[];

function copyNode(n: ExtentNode): ExtentNode {
  return n.kind === 'leaf'
    ? { kind: 'leaf', header: { ...n.header }, leaves: n.leaves.map((e) => ({ ...e })) }
    : { kind: 'index', header: { ...n.header }, indexes: n.indexes.map((e) => ({ ...e })) };
}

/** Reads a tree block as a private copy, verified (checksum, depth). */
async function readNode(fs: Ext4Super, inode: WritableMappedInode, pblk: number, depth: number): Promise<ExtentNode> {
  fs.checkBlocks(pblk, 1, 'inode', inode.ino);
  const node = await fs.cache.readDecoded(pblk, 'extent', (data) => {
    const n = decodeExtentNode(data, { ino: inode.ino, blockNr: pblk }, EXT4_MAX_EXTENT_DEPTH);
    if (fs.metadataCsum && !verifyExtentBlock(inode.csumSeed, data)) {
      throw corrupted('extent block', pblk, `of inode ${inode.ino}: checksum does not match`);
    }
    return n;
  });
  if (node.header.depth !== depth) {
    throw corrupted('extent block', pblk, `of inode ${inode.ino} has depth ${node.header.depth}, its parent expects ${depth}`);
  }
  return copyNode(node);
}

/** The path to the leaf whose range holds `lblk` (the leftmost leaf if `lblk` precedes everything). */
export async function findExtentPath(fs: Ext4Super, inode: WritableMappedInode, lblk: number): Promise<ExtentPath> {
  const root = decodeExtentNode(inode.disk.block, { ino: inode.ino }, EXT4_MAX_EXTENT_DEPTH);
  const path: ExtentPath = [];
  let node = root;
  let pblk = 0;
  for (;;) {
    if (node.kind === 'leaf') {
      path.push({ node, pblk, at: searchEntries(node.leaves, lblk) });
      return path;
    }
    if (node.indexes.length === 0) throw corrupted('inode', inode.ino, `extent index node at depth ${node.header.depth} is empty`);
    const at = Math.max(0, searchEntries(node.indexes, lblk));
    path.push({ node, pblk, at });
    const child = node.indexes[at].pblk;
    node = await readNode(fs, inode, child, node.header.depth - 1);
    pblk = child;
  }
}

/** Writes a changed node: into i_block for the root (the caller writes the inode), else through the journal. */
export async function writeNode(fs: Ext4Super, h: Handle, inode: WritableMappedInode, level: PathLevel): Promise<void> {
  if (level.pblk === 0) {
    encodeExtentNode(level.node, inode.disk.block);
    inode.extentRootCache = undefined;
    return;
  }
  const b = await fs.cache.buffer(level.pblk);
  h.getWriteAccess(b);
  encodeExtentNode(level.node, b.data);
  if (fs.metadataCsum) writeExtentBlockChecksum(inode.csumSeed, b.data);
  h.dirtyMetadata(b);
}

/** A new, empty node for a freshly allocated block. */
export function newBlockNode(fs: Ext4Super, depth: number): ExtentNode {
  const header = { magic: EXT4_EXT_MAGIC, entries: 0, max: extentNodeCapacity(fs.blockSize), depth, generation: 0 };
  return depth === 0 ? { kind: 'leaf', header, leaves: [] } : { kind: 'index', header, indexes: [] };
}

/** Writes a node into a freshly allocated block (no read: the old contents are garbage). */
export function writeNewNode(fs: Ext4Super, h: Handle, inode: WritableMappedInode, pblk: number, node: ExtentNode): void {
  const b = fs.cache.newBuffer(pblk);
  h.getWriteAccess(b);
  encodeExtentNode(node, b.data);
  if (fs.metadataCsum) writeExtentBlockChecksum(inode.csumSeed, b.data);
  h.dirtyMetadata(b);
}

export function entryCount(node: ExtentNode): number {
  return node.kind === 'leaf' ? node.leaves.length : node.indexes.length;
}

/** First logical block a node covers (its first entry's). */
export function firstLblk(node: ExtentNode): number | undefined {
  const e: ExtentLeaf | ExtentIndex | undefined = node.kind === 'leaf' ? node.leaves[0] : node.indexes[0];
  return e?.lblk;
}

/**
 * Keeps every index entry equal to the first logical block of its child
 * (Linux: ext4_ext_correct_indexes; e2fsck checks it): after the first entry
 * of the node at `level` changed, walk up while the changed child is its
 * parent's first entry.
 */
export async function correctIndexes(fs: Ext4Super, h: Handle, inode: WritableMappedInode, path: ExtentPath, level: number): Promise<void> {
  for (let k = level; k > 0; k--) {
    const first = firstLblk(path[k].node);
    if (first === undefined) return;
    const parent = path[k - 1];
    assert(parent.node.kind === 'index', 'parent of an extent node is an index');
    const entry = parent.node.indexes[parent.at];
    if (entry.lblk === first) return;
    entry.lblk = first;
    await writeNode(fs, h, inode, parent);
    if (parent.at !== 0) return;
  }
}
