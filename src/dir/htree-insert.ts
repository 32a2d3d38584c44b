/**
 * Adding an entry to an indexed directory (Linux: ext4_dx_add_entry,
 * do_split, dx_insert_block), and the index writes shared with the
 * conversion of a linear directory (make-indexed.ts).
 *
 * The entry goes into the leaf its hash leads to. A full leaf is split
 * (leaf-split.ts) into itself and a new block, and the new block's starting
 * hash is inserted into the bottom index node right after the entry that led
 * to the leaf. A full index node is split in half first, its upper half
 * going to a new node whose starting hash goes into the parent, and so on
 * up; a full root cannot split, so its entries move to a new node below it
 * and the tree grows a level (indirect_levels + 1). That cannot happen when
 * the tree already has as many levels as allowed (2, or 3 with large_dir):
 * then the directory is full and the add fails with ENOSPC, as in Linux.
 *
 * Linux does the index splits top down, restarting its probe after each;
 * splitting bottom up along the one probed path gives the same nodes, since
 * every split node is one the path goes through. New blocks are appended
 * in Linux's order: the node that takes the root's entries, then split nodes
 * from the top down, then the new leaf.
 */
import type { Ext4Super } from '../super/ext4-super.js';
import type { Ext4Inode } from '../inode/ext4-inode.js';
import { FsError } from '../base/errors.js';
import { assert } from '../base/assert.js';
import { dxNodeLimit, encodeDxNode, encodeDxRoot, writeDxChecksum, type DxRoot } from '../format/htree.js';
import { dirBlockCount, insertIntoLeaf, readLeaf, layoutOf, type DirChange, type Leaf } from './dir-blocks.js';
import { htreeMaxLevels, leafOf, nameHash, ownEntries, probe, type HtreePath, type IndexNode, type PathLevel } from './htree-path.js';
import { buildLeaf, findName, findSlot, sealLeaf, type LeafRecord } from './leaf-block.js';
import { splitLeaf, type HashedRecord } from './leaf-split.js';

/** The decided insert: into a leaf with room, or by splitting (and maybe growing the index). */
export type HtreeInsertPlan =
  | { kind: 'fits'; leaf: Leaf; slot: number }
  | { kind: 'split'; path: HtreePath; leaf: Leaf; appends: number };

/** Plans adding `name` to indexed directory `dir`; throws ENOSPC when the index is full. Changes nothing. */
export async function planHtreeInsert(fs: Ext4Super, dir: Ext4Inode, name: Uint8Array): Promise<HtreeInsertPlan> {
  const path = await probe(fs, dir, name);
  const leaf = await readLeaf(fs, dir, leafOf(dir, path));
  if (findName(leaf.records, name) >= 0) throw new FsError('EEXIST');
  const slot = findSlot(leaf.records, name.length);
  if (slot >= 0) return { kind: 'fits', leaf, slot };
  const full = fullLevelsFromBottom(path.levels);
  if (full === path.levels.length && path.levels.length >= htreeMaxLevels(fs)) {
    throw new FsError('ENOSPC', `directory index full (inode ${dir.ino}, ${path.levels.length} levels${fs.hasLargeDir ? '' : '; large_dir would allow 3'})`);
  }
  // A new block per split node, one for the node that takes the root's
  // entries when the root is full, and one for the new leaf.
  return { kind: 'split', path, leaf, appends: full + 1 };
}

/** Index levels, counted from the bottom, that are full. */
function fullLevelsFromBottom(levels: readonly PathLevel[]): number {
  let n = 0;
  for (let l = levels.length - 1; l >= 0 && levels[l].node.entries.length >= levels[l].node.limit; l--) n++;
  return n;
}

/** Hashes of a leaf's live entries, for splitting it. */
export function hashRecords(fs: Ext4Super, hashVersion: number, records: Leaf['records'], lastRecLenExtra = 0): HashedRecord[] {
  const live = records.filter((r) => r.inode !== 0 && r.nameLen > 0);
  const last = records[records.length - 1];
  return live.map((r) => ({
    inode: r.inode, fileType: r.fileType, name: r.name,
    hash: nameHash(fs, r.name, hashVersion),
    recLen: r.recLen + (r === last ? lastRecLenExtra : 0),
  }));
}

/** Writes a leaf's new contents: `records` packed, plus `added` at the end when given. */
export function writeLeaf(fs: Ext4Super, dir: Ext4Inode, data: Uint8Array, records: readonly LeafRecord[], added?: LeafRecord): void {
  const layout = layoutOf(fs);
  buildLeaf(data, layout, added === undefined ? records : [...records, added]);
  sealLeaf(data, layout, dir.csumSeed);
}

/** What a root keeps besides its entries: "." and "..", and dx_root_info. */
export type RootHeader = Pick<DxRoot, 'dotInode' | 'dotFileType' | 'dotdotInode' | 'dotdotFileType' | 'hashVersion' | 'unusedFlags'>;

/**
 * Rewrites an index block from scratch: a node, or the root when `root`
 * gives its header; then its checksum. Slots past the live entries are
 * zeroed (Linux leaves stale entries there; nothing reads them).
 */
export function writeIndexBlock(fs: Ext4Super, dir: Ext4Inode, data: Uint8Array, node: IndexNode, root: RootHeader | undefined, indirectLevels: number): void {
  const hasTail = fs.metadataCsum;
  data.fill(0);
  if (root !== undefined) {
    encodeDxRoot({ ...root, indirectLevels, entries: node.entries, limit: node.limit }, data, { hasTail });
  } else {
    encodeDxNode({ entries: node.entries, limit: node.limit }, data, { hasTail });
  }
  if (hasTail) writeDxChecksum(dir.csumSeed, data);
}

/** Inserts `{hash, block}` after the entry a path level follows (dx_insert_block). */
function insertAfter(level: PathLevel, hash: number, block: number): void {
  const n = level.node;
  assert(n.entries.length < n.limit, () => `index block ${n.lblk} is full`);
  n.entries.splice(level.at + 1, 0, { hash: hash >>> 0, block });
}

/**
 * Carries out a plan. `change` holds the handle; every block changed is
 * joined (or appended) first, then all are rewritten in one synchronous
 * section.
 */
export async function applyHtreeInsert(fs: Ext4Super, change: DirChange, plan: HtreeInsertPlan, entry: LeafRecord): Promise<void> {
  const { dir } = change;
  if (plan.kind === 'fits') {
    await insertIntoLeaf(change, plan.leaf, plan.slot, entry);
    return;
  }
  const { path, leaf } = plan;
  const levels = path.levels.slice();
  const root = path.root;
  let indirectLevels = root.indirectLevels;
  const touched = new Set<IndexNode>();
  const nodeLimit = dxNodeLimit(fs.blockSize, fs.metadataCsum);
  const firstBlocks = dirBlockCount(fs, dir);

  // Join every existing block that changes first (the bottom node, the
  // split ones and their parent), then append the new ones in order.
  for (const l of levels.slice(Math.max(0, levels.length - 1 - fullLevelsFromBottom(levels)))) await change.join(l.node.lblk);
  await change.join(leaf.lblk);
  const fresh: number[] = [];
  for (let i = 0; i < plan.appends; i++) fresh.push((await change.append()).lblk);
  assert(fresh[0] === firstBlocks, 'directory blocks appended out of order');

  // From here on no await: the index, the leaves and i_size change together.
  ownEntries(path);
  let next = 0;
  let full = fullLevelsFromBottom(levels);
  if (full === levels.length) {
    // The root is full: its entries move to a new node below it.
    const moved: IndexNode = { lblk: fresh[next++], entries: levels[0].node.entries, limit: nodeLimit };
    const rootNode: IndexNode = { lblk: 0, entries: [{ hash: 0, block: moved.lblk }], limit: levels[0].node.limit };
    levels.splice(0, 1, { node: rootNode, at: 0 }, { node: moved, at: levels[0].at });
    indirectLevels++;
    touched.add(rootNode).add(moved);
    full--;
  }
  // Split the full nodes, top down; each parent has room by now.
  for (let l = levels.length - full; l < levels.length; l++) {
    const lv = levels[l];
    const parent = levels[l - 1];
    const half = Math.floor(lv.node.entries.length / 2);
    const upper: IndexNode = { lblk: fresh[next++], entries: lv.node.entries.splice(half), limit: nodeLimit };
    insertAfter(parent, upper.entries[0].hash, upper.lblk);
    touched.add(parent.node).add(lv.node).add(upper);
    if (lv.at >= half) {
      levels[l] = { node: upper, at: lv.at - half };
      parent.at++;
    }
  }
  // Split the leaf and index the new one.
  const newLeaf = fresh[next++];
  assert(next === fresh.length, 'appended blocks left unused');
  const split = splitLeaf(hashRecords(fs, root.hashVersion, leaf.records), path.hash, entry.name.length, fs.blockSize, layoutOf(fs).end);
  const bottom = levels[levels.length - 1];
  insertAfter(bottom, split.indexHash, newLeaf);
  touched.add(bottom.node);
  writeLeaf(fs, dir, change.buffer(leaf.lblk).data, split.lower, split.newGoesUpper ? undefined : entry);
  writeLeaf(fs, dir, change.buffer(newLeaf).data, split.upper, split.newGoesUpper ? entry : undefined);
  for (const n of touched) {
    writeIndexBlock(fs, dir, change.buffer(n.lblk).data, n, n.lblk === 0 ? root : undefined, indirectLevels);
  }
  change.finish();
}

/** Worst-case blocks one add appends to an indexed directory: a new node per level, and the new leaf. */
export function maxHtreeAppends(fs: Ext4Super): number {
  return htreeMaxLevels(fs) + 1;
}
