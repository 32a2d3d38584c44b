/**
 * Adding an entry to a linear (unindexed) directory (Linux: the linear part
 * of ext4_add_entry): the first block, in block order, with a record that
 * has room takes it; when none has, a one-block directory on a dir_index
 * filesystem becomes indexed (make-indexed.ts), and any other directory
 * grows by a block holding just the new entry.
 */
import type { Ext4Super } from '../super/ext4-super.js';
import type { Ext4Inode } from '../inode/ext4-inode.js';
import { FsError } from '../base/errors.js';
import { dirBlockCount, insertIntoLeaf, layoutOf, readLeaf, type DirChange, type Leaf } from './dir-blocks.js';
import { buildLeaf, findName, findSlot, sealLeaf, type LeafRecord } from './leaf-block.js';
import { applyMakeIndexed, planMakeIndexed, MAKE_INDEXED_APPENDS, type MakeIndexedPlan } from './make-indexed.js';

export type LinearInsertPlan =
  | { kind: 'fits'; leaf: Leaf; slot: number }
  | { kind: 'index'; plan: MakeIndexedPlan }
  | { kind: 'append' };

/** Blocks a plan appends. */
export function linearAppends(plan: LinearInsertPlan): number {
  return plan.kind === 'fits' ? 0 : plan.kind === 'index' ? MAKE_INDEXED_APPENDS : 1;
}

/** Decides where `name` goes; EEXIST if a block scanned on the way holds it. Changes nothing. */
export async function planLinearInsert(fs: Ext4Super, dir: Ext4Inode, name: Uint8Array): Promise<LinearInsertPlan> {
  const blocks = dirBlockCount(fs, dir);
  let first: Leaf | undefined;
  for (let lblk = 0; lblk < blocks; lblk++) {
    const leaf = await readLeaf(fs, dir, lblk);
    if (lblk === 0) first = leaf;
    if (findName(leaf.records, name) >= 0) throw new FsError('EEXIST');
    const slot = findSlot(leaf.records, name.length);
    if (slot >= 0) return { kind: 'fits', leaf, slot };
  }
  if (blocks === 1 && fs.hasDirIndex && first !== undefined) {
    const plan = planMakeIndexed(fs, first);
    if (plan !== undefined) return { kind: 'index', plan };
  }
  return { kind: 'append' };
}

export async function applyLinearInsert(fs: Ext4Super, change: DirChange, plan: LinearInsertPlan, entry: LeafRecord): Promise<void> {
  const layout = layoutOf(fs);
  switch (plan.kind) {
    case 'fits':
      await insertIntoLeaf(change, plan.leaf, plan.slot, entry);
      return;
    case 'index':
      await applyMakeIndexed(fs, change, plan.plan, entry);
      return;
    case 'append': {
      const { buf } = await change.append();
      buildLeaf(buf.data, layout, [entry]);
      sealLeaf(buf.data, layout, change.dir.csumSeed);
      change.finish();
      return;
    }
  }
}
