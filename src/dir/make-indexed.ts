/**
 * Turning a full one-block linear directory into an indexed one (Linux:
 * make_indexed_dir), when the filesystem has dir_index.
 *
 * Block 0 keeps "." and ".."; the rest of it becomes the htree root
 * (dx_root_info with the superblock's default hash version, one index
 * entry). The entries after ".." move to a new block 1, which is then split
 * by hash like any full leaf (do_split) into blocks 1 and 2, the root
 * getting the second entry. The new name goes into whichever of the two its
 * hash belongs to. The directory ends with three blocks and INDEX_FL.
 */
import type { Ext4Super } from '../super/ext4-super.js';
import { assert } from '../base/assert.js';
import { EXT4_INDEX_FL } from '../format/inode.js';
import { dxRootLimit } from '../format/htree.js';
import { layoutOf, type DirChange, type Leaf } from './dir-blocks.js';
import { defaultHashVersion, nameHash, type IndexNode } from './htree-path.js';
import { hashRecords, writeIndexBlock, writeLeaf } from './htree-insert.js';
import { splitLeaf } from './leaf-split.js';
import type { LeafRecord } from './leaf-block.js';

export interface MakeIndexedPlan {
  block0: Leaf;
  hashVersion: number;
}

function isDotName(name: Uint8Array, dots: number): boolean {
  return name.length === dots && name.every((c) => c === 0x2e);
}

/**
 * Whether block 0 has the layout a root needs ("." of rec_len 12 at 0,
 * ".." right after it); undefined when it does not, and the directory
 * simply grows linearly instead.
 */
export function planMakeIndexed(fs: Ext4Super, block0: Leaf): MakeIndexedPlan | undefined {
  const [dot, dotdot] = block0.records;
  if (dot === undefined || dotdot === undefined) return undefined;
  if (dot.offset !== 0 || dot.recLen !== 12 || dot.inode === 0 || !isDotName(dot.name, 1)) return undefined;
  if (dotdot.offset !== 12 || dotdot.inode === 0 || !isDotName(dotdot.name, 2)) return undefined;
  return { block0, hashVersion: defaultHashVersion(fs) };
}

/** Blocks the conversion appends: the two leaves. */
export const MAKE_INDEXED_APPENDS = 2;

export async function applyMakeIndexed(fs: Ext4Super, change: DirChange, plan: MakeIndexedPlan, entry: LeafRecord): Promise<void> {
  const { dir } = change;
  const records = plan.block0.records;
  const [dot, dotdot] = records;
  const rest = records.slice(2);
  await change.join(0);
  const first = await change.append();
  const second = await change.append();
  assert(first.lblk === 1 && second.lblk === 2, 'a one-block directory grew to other than blocks 1 and 2');

  // From here on no await. Moving the entries to offset 0 of block 1 makes
  // the last record longer by the offset it moved from (as it reaches the
  // end of block 1 as it reached the end of block 0).
  const moved = rest.length > 0 ? rest[0].offset : 0;
  const hashed = hashRecords(fs, plan.hashVersion, rest, moved);
  const split = splitLeaf(hashed, nameHash(fs, entry.name, plan.hashVersion), entry.name.length, fs.blockSize, layoutOf(fs).end);
  const root: IndexNode = { lblk: 0, entries: [{ hash: 0, block: 1 }, { hash: split.indexHash, block: 2 }], limit: dxRootLimit(fs.blockSize, fs.metadataCsum) };
  writeIndexBlock(fs, dir, change.buffer(0).data, root, {
    dotInode: dot.inode, dotFileType: dot.fileType, dotdotInode: dotdot.inode, dotdotFileType: dotdot.fileType,
    hashVersion: plan.hashVersion, unusedFlags: 0,
  }, 0);
  writeLeaf(fs, dir, first.buf.data, split.lower, split.newGoesUpper ? undefined : entry);
  writeLeaf(fs, dir, second.buf.data, split.upper, split.newGoesUpper ? entry : undefined);
  dir.disk.flags |= EXT4_INDEX_FL;
  change.finish();
}
