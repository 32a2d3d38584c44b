/**
 * Changing an extent tree (Linux: fs/ext4/extents.c — ext4_ext_insert_extent,
 * ext4_ext_create_new_leaf / ext4_ext_split / ext4_ext_grow_indepth,
 * ext4_ext_remove_space).
 *
 * Insert: the new extent merges into its left or right neighbour when it
 * continues it logically and physically with the same written state;
 * otherwise it takes a slot in its leaf. A full node is split at the
 * insertion point: the entries after it move to a new block whose index
 * entry goes into the parent, so appending to a file (the common case)
 * leaves the old leaf full and starts an empty one. A full root — i_block
 * holds only 4 entries — first moves its entries into a new block and
 * becomes a one-entry index above it: the tree grows in depth at the top,
 * like a B-tree.
 *
 * Remove: from the right end of the range towards the left, trimming,
 * splitting or dropping extents and freeing their blocks; a leaf or index
 * node left empty is freed and its entry removed from the parent; a tree
 * left with nothing becomes an empty depth-0 root again.
 *
 * Index entries always equal the first logical block of their child.
 */
import type { Ext4Super } from '../super/ext4-super.js';
import type { Handle } from '../journal/transaction.js';
import type { BlockReservation } from '../alloc/block-alloc.js';
import { allocatorsOf } from '../alloc/allocators.js';
import { assert } from '../base/assert.js';
import { corrupted } from '../base/errors.js';
import { EXT4_EXT_MAGIC, EXT_INIT_MAX_LEN, EXT_UNWRITTEN_MAX_LEN, EXT4_MAX_EXTENT_DEPTH, type ExtentLeaf } from '../format/extent.js';
import {
  findExtentPath, writeNode, newBlockNode, writeNewNode, entryCount, firstLblk, correctIndexes, searchEntries,
  type ExtentPath,
} from './extent-path.js';
import { addInodeBlocks } from './inode-blocks.js';
import type { WritableMappedInode } from './file-blocks.js';

export interface ExtentChange {
  fs: Ext4Super;
  h: Handle;
  inode: WritableMappedInode;
  r: BlockReservation;
}

export function maxExtentLen(unwritten: boolean): number {
  return unwritten ? EXT_UNWRITTEN_MAX_LEN : EXT_INIT_MAX_LEN;
}

function canMerge(a: ExtentLeaf, b: ExtentLeaf): boolean {
  return a.unwritten === b.unwritten && a.lblk + a.len === b.lblk && a.pblk + a.len === b.pblk
    && a.len + b.len <= maxExtentLen(a.unwritten);
}

/** The root's depth (0 for a leaf root). */
export function treeDepth(inode: WritableMappedInode): number {
  const b = inode.disk.block;
  // i_block of an inline-data or block-mapped inode is no extent header: no tree to grow.
  if ((b[0] | (b[1] << 8)) !== EXT4_EXT_MAGIC) return 0;
  return b[6] | (b[7] << 8);
}

/** A block to put a new tree node in: near the extent the path leads to, else near the inode. */
function nodeGoal(c: ExtentChange, path: ExtentPath): number {
  const leaf = path[path.length - 1].node;
  if (leaf.kind === 'leaf' && leaf.leaves.length > 0) {
    const e = leaf.leaves[Math.max(0, path[path.length - 1].at)];
    return e.pblk + e.len;
  }
  return c.fs.inodeGoalBlock(c.inode.ino);
}

async function allocNodeBlock(c: ExtentChange, goal: number): Promise<number> {
  const run = await allocatorsOf(c.fs).blocks.allocate(c.h, c.r, goal, 1);
  addInodeBlocks(c.fs, c.inode, 1);
  return run.pblk;
}

/**
 * Inserts extent `e` (whose range must be a hole in the tree). Merges with
 * neighbours in the same leaf; splits and grows the tree as needed.
 */
export async function insertExtent(c: ExtentChange, e: ExtentLeaf): Promise<void> {
  assert(e.len >= 1 && e.len <= maxExtentLen(e.unwritten), () => `extent length ${e.len}`);
  const path = await findExtentPath(c.fs, c.inode, e.lblk);
  const leafLevel = path.length - 1;
  const leafPos = path[leafLevel];
  const leaf = leafPos.node;
  assert(leaf.kind === 'leaf', 'path ends in a leaf');
  const at = leafPos.at;
  const left = at >= 0 ? leaf.leaves[at] : undefined;
  const right = leaf.leaves[at + 1];
  if (left !== undefined) {
    assert(left.lblk + left.len <= e.lblk, () => `inode ${c.inode.ino}: extent at ${e.lblk} overlaps one at ${left.lblk}+${left.len}`);
  }
  if (right !== undefined) {
    assert(e.lblk + e.len <= right.lblk, () => `inode ${c.inode.ino}: extent at ${e.lblk}+${e.len} overlaps one at ${right.lblk}`);
  }

  if (left !== undefined && canMerge(left, e)) {
    left.len += e.len;
    if (right !== undefined && canMerge(left, right)) {
      left.len += right.len;
      leaf.leaves.splice(at + 1, 1);
    }
    await writeNode(c.fs, c.h, c.inode, leafPos);
    return;
  }
  if (right !== undefined && canMerge(e, right)) {
    right.lblk = e.lblk;
    right.pblk = e.pblk;
    right.len += e.len;
    await writeNode(c.fs, c.h, c.inode, leafPos);
    if (at + 1 === 0) await correctIndexes(c.fs, c.h, c.inode, path, leafLevel);
    return;
  }
  await insertEntry(c, path, leafLevel, at + 1, { ...e });
}

type Entry = ExtentLeaf | { lblk: number; pblk: number };

/** Puts `entry` at slot `pos` of the node at `level`, splitting upwards when the node is full. */
async function insertEntry(c: ExtentChange, path: ExtentPath, level: number, pos: number, entry: Entry): Promise<void> {
  const lv = path[level];
  const node = lv.node;
  if (entryCount(node) < node.header.max) {
    if (node.kind === 'leaf') node.leaves.splice(pos, 0, entry as ExtentLeaf);
    else node.indexes.splice(pos, 0, { lblk: entry.lblk, pblk: entry.pblk });
    await writeNode(c.fs, c.h, c.inode, lv);
    if (pos === 0) await correctIndexes(c.fs, c.h, c.inode, path, level);
    return;
  }
  if (level === 0) {
    await growDepth(c, path);
    // The root's entries now live one level down, in path[1].
    await insertEntry(c, path, 1, pos, entry);
    return;
  }
  // Split at the insertion point: entries from `pos` on move to a new
  // sibling, which starts with the new entry. Inserting at slot 0 keeps the
  // new entry alone in the old node instead, so neither node is empty.
  const sibling = newBlockNode(c.fs, node.header.depth);
  const pblk = await allocNodeBlock(c, nodeGoal(c, path));
  if (node.kind === 'leaf' && sibling.kind === 'leaf') {
    const moved = node.leaves.splice(pos);
    sibling.leaves.push(entry as ExtentLeaf, ...moved);
    if (node.leaves.length === 0) node.leaves.push(sibling.leaves.shift()!);
  } else if (node.kind === 'index' && sibling.kind === 'index') {
    const moved = node.indexes.splice(pos);
    sibling.indexes.push({ lblk: entry.lblk, pblk: entry.pblk }, ...moved);
    if (node.indexes.length === 0) node.indexes.push(sibling.indexes.shift()!);
  }
  await writeNode(c.fs, c.h, c.inode, lv);
  if (pos === 0) await correctIndexes(c.fs, c.h, c.inode, path, level);
  writeNewNode(c.fs, c.h, c.inode, pblk, sibling);
  const siblingFirst = firstLblk(sibling);
  assert(siblingFirst !== undefined, 'split sibling has entries');
  await insertEntry(c, path, level - 1, path[level - 1].at + 1, { lblk: siblingFirst, pblk });
}

/**
 * Moves the root's entries into a new block and makes the root a one-entry
 * index over it (Linux: ext4_ext_grow_indepth). `path` gains a level.
 */
async function growDepth(c: ExtentChange, path: ExtentPath): Promise<void> {
  const root = path[0];
  const depth = root.node.header.depth;
  if (depth + 1 > EXT4_MAX_EXTENT_DEPTH) throw corrupted('inode', c.inode.ino, `extent tree would exceed depth ${EXT4_MAX_EXTENT_DEPTH}`);
  const pblk = await allocNodeBlock(c, nodeGoal(c, path));
  const child = newBlockNode(c.fs, depth);
  if (child.kind === 'leaf' && root.node.kind === 'leaf') child.leaves.push(...root.node.leaves);
  else if (child.kind === 'index' && root.node.kind === 'index') child.indexes.push(...root.node.indexes);
  writeNewNode(c.fs, c.h, c.inode, pblk, child);
  const first = firstLblk(child) ?? 0;
  root.node = {
    kind: 'index',
    header: { ...root.node.header, depth: depth + 1, entries: 1 },
    indexes: [{ lblk: first, pblk }],
  };
  const childAt = root.at;
  root.at = 0;
  await writeNode(c.fs, c.h, c.inode, root);
  path.splice(1, 0, { node: child, pblk, at: childAt });
}

/**
 * What removing a mapping does with its blocks: keep them (the caller
 * re-inserts them, e.g. marked written), free them as file data, or free
 * them as metadata — directory and symlink blocks, which went through the
 * journal and must be revoked (Linux: EXT4_FREE_BLOCKS_METADATA | FORGET).
 */
export type FreeMode = 'keep' | 'data' | 'metadata';

/** Metadata blocks one call may free: each costs a revoke record, so a journal credit. */
export const METADATA_BLOCKS_PER_FREE_CALL = 64;

/**
 * Removes the mapping of [start, end), freeing its blocks as `mode` says,
 * touching at most `maxExtents` extents (and freeing at most
 * METADATA_BLOCKS_PER_FREE_CALL metadata blocks); returns whether the whole
 * range is done (the caller repeats with a new handle otherwise, which
 * bounds each handle's credits).
 */
export async function removeExtents(c: ExtentChange, start: number, end: number, mode: FreeMode, maxExtents: number): Promise<boolean> {
  const blocks = allocatorsOf(c.fs).blocks;
  let budget = maxExtents;
  let metaBudget = METADATA_BLOCKS_PER_FREE_CALL;
  while (end > start) {
    if (budget <= 0) return false;
    const path = await findExtentPath(c.fs, c.inode, end - 1);
    const leafLevel = path.length - 1;
    const lv = path[leafLevel];
    const leaf = lv.node;
    assert(leaf.kind === 'leaf', 'path ends in a leaf');
    let i = searchEntries(leaf.leaves, end - 1);
    let changed = false;
    let tail: ExtentLeaf | undefined;
    while (i >= 0 && budget > 0) {
      const e = leaf.leaves[i];
      const eEnd = e.lblk + e.len;
      if (eEnd <= start) break;
      const to = Math.min(end, eEnd);
      let from = Math.max(start, e.lblk);
      if (mode === 'metadata' && to - from > metaBudget) {
        from = to - metaBudget;
        budget = 1;
      }
      const freePblk = e.pblk + (from - e.lblk);
      if (from > e.lblk && to < eEnd) {
        // A hole inside one extent: the head stays, the tail is re-inserted below.
        tail = { lblk: to, len: eEnd - to, pblk: e.pblk + (to - e.lblk), unwritten: e.unwritten };
        e.len = from - e.lblk;
      } else if (from > e.lblk) {
        e.len = from - e.lblk;
      } else if (to < eEnd) {
        e.pblk += to - e.lblk;
        e.len = eEnd - to;
        e.lblk = to;
      } else {
        leaf.leaves.splice(i, 1);
      }
      if (mode !== 'keep') {
        await blocks.free(c.h, freePblk, to - from, mode === 'metadata');
        addInodeBlocks(c.fs, c.inode, -(to - from));
        if (mode === 'metadata') metaBudget -= to - from;
      }
      changed = true;
      budget--;
      i--;
    }
    if (!changed) break;
    await writeNode(c.fs, c.h, c.inode, lv);
    const subtreeStart = lowestOf(path, leafLevel);
    if (leaf.leaves.length === 0 && leafLevel > 0) {
      await dropEmptyNode(c, path, leafLevel);
    } else if (i < 0) {
      await correctIndexes(c.fs, c.h, c.inode, path, leafLevel);
    }
    if (tail !== undefined) await insertExtent(c, tail);
    // Continue left of what this leaf still maps in the range.
    const next = i >= 0 ? leaf.leaves[i].lblk + leaf.leaves[i].len : subtreeStart;
    if (i >= 0 && budget <= 0) return false;
    if (next <= start || (i < 0 && leafLevel === 0)) break;
    end = Math.min(end, next);
  }
  return true;
}

/** Logical start of the subtree a path level sits in (its index entry), 0 for the root. */
function lowestOf(path: ExtentPath, level: number): number {
  if (level === 0) return 0;
  const parent = path[level - 1];
  assert(parent.node.kind === 'index', 'parent is an index');
  return parent.node.indexes[parent.at]?.lblk ?? 0;
}

/** Frees an empty node and removes its entry from the parent, cascading up; an emptied root becomes an empty leaf. */
async function dropEmptyNode(c: ExtentChange, path: ExtentPath, level: number): Promise<void> {
  const blocks = allocatorsOf(c.fs).blocks;
  for (let k = level; k > 0; k--) {
    const lv = path[k];
    if (entryCount(lv.node) > 0) return;
    await blocks.free(c.h, lv.pblk, 1, true);
    addInodeBlocks(c.fs, c.inode, -1);
    const parent = path[k - 1];
    assert(parent.node.kind === 'index', 'parent is an index');
    parent.node.indexes.splice(parent.at, 1);
    if (k - 1 === 0 && parent.node.indexes.length === 0) {
      parent.node = { kind: 'leaf', header: { ...parent.node.header, depth: 0, entries: 0 }, leaves: [] };
      await writeNode(c.fs, c.h, c.inode, parent);
      return;
    }
    await writeNode(c.fs, c.h, c.inode, parent);
    if (parent.at === 0 && parent.node.indexes.length > 0) await correctIndexes(c.fs, c.h, c.inode, path, k - 1);
  }
}
