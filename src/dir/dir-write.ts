/**
 * Changing directories (the write side of Linux's fs/ext4/namei.c): add,
 * delete and re-point entries, move ".." when a directory moves, make a new
 * directory's first block, and tell whether a directory is empty. Linear
 * and indexed (htree) directories; see dir-linear.ts, htree-insert.ts and
 * make-indexed.ts for the insert itself.
 *
 * Contract for every change here:
 *  - the caller holds `dir.rwsem` exclusively (two directories of a rename:
 *    both, lower inode number first) and an open journal handle with the
 *    credits the `*Credits` functions below give; it does not hold
 *    `dir.dataSem`, which `addEntry` and `initDirBlocks` take themselves
 *    around block allocation (lock order: handle, then dataSem);
 *  - readers of the directory (lookup, readdir) hold `dir.rwsem` shared, so
 *    they never see the blocks between the plan and the change;
 *  - everything that can fail for an ordinary reason (ENOENT, EEXIST,
 *    ENAMETOOLONG, ENOSPC from a full index) is thrown before the first
 *    block joins the handle, so a failed call leaves the handle clean and
 *    the journal running;
 *  - `dir.disk` (i_size, i_flags, i_block, i_blocks) is changed in memory
 *    only; the caller updates the times (mtime/ctime), link counts and
 *    i_version, and writes the inode (InodeTable.writeInode) before its
 *    handle stops, as Linux's callers do (ext4_add_entry's caller marks
 *    the directory dirty);
 *  - the dentry caches of the filesystem (dcache.ts) are updated in the
 *    same synchronous section as the blocks.
 *
 * Inline directories (inline_data, entries inside the inode) are changed by
 * inline-dir-write.ts, called from here so that callers need not tell the
 * kinds apart: an entry that no longer fits in the inode converts the
 * directory to a one-block linear one with the entry in it (Linux:
 * ext4_try_add_inline_entry, then ext4_convert_inline_data_nolock), and a
 * new directory starts inline when the inode has room for it.
 */
import type { Ext4Super } from '../super/ext4-super.js';
import type { Ext4Inode } from '../inode/ext4-inode.js';
import type { Handle } from '../journal/transaction.js';
import type { BlockReservation } from '../alloc/block-alloc.js';
import { assert } from '../base/assert.js';
import { corrupted, FsError } from '../base/errors.js';
import { mapBlocks } from '../extent/map-blocks.js';
import { blockAllocCredits, maxNewMetadataBlocks } from '../extent/file-blocks.js';
import { EXT4_FT_DIR, EXT4_NAME_LEN } from '../format/dirent.js';
import { EXT4_INDEX_FL } from '../format/inode.js';
import { isDxNodeBlock, writeDxChecksum } from '../format/htree.js';
import { writeU32LE } from '../format/le.js';
import { inlineDir } from '../inode/inline.js';
import { inlineConvertCredits, inlineConvertReserve } from '../inode/inline-write.js';
import {
  addInlineEntry, convertInlineDir, createInlineDir, deleteInlineEntry, findInlineEntry, replaceInlineEntry,
} from './inline-dir-write.js';
import { dirCachesOf } from './dcache.js';
import { DirChange, dirBlockCount, dirBlockNr, layoutOf, readDxNode, readDxRoot, readLeaf, type Leaf } from './dir-blocks.js';
import { applyLinearInsert, linearAppends, planLinearInsert } from './dir-linear.js';
import { applyHtreeInsert, maxHtreeAppends, planHtreeInsert } from './htree-insert.js';
import { leafOf, nextLeafOfRun, probe } from './htree-path.js';
import { buildLeaf, deleteRecord, findName, repointRecord, sealLeaf, type LeafRecord } from './leaf-block.js';
import { MAKE_INDEXED_APPENDS } from './make-indexed.js';

/** Whether lookups and inserts go through the index (Linux: is_dx). */
export function isIndexed(fs: Ext4Super, dir: Ext4Inode): boolean {
  return fs.hasDirIndex && (dir.disk.flags & EXT4_INDEX_FL) !== 0;
}

function isDots(name: Uint8Array): boolean {
  return (name.length === 1 && name[0] === 0x2e) || (name.length === 2 && name[0] === 0x2e && name[1] === 0x2e);
}

/** A name a directory entry can have (what the VFS guarantees before ext4 sees it). */
function checkName(name: Uint8Array): void {
  if (name.length > EXT4_NAME_LEN) throw new FsError('ENAMETOOLONG');
  if (name.length === 0 || isDots(name) || name.includes(0x2f) || name.includes(0)) {
    throw new FsError('EINVAL', `invalid directory entry name ${JSON.stringify(Buffer.from(name).toString('latin1'))}`);
  }
}

function checkDir(dir: Ext4Inode): void {
  if (!dir.isDir) throw new FsError('ENOTDIR');
}

/** Linux's ext4_update_dx_flag: without dir_index no directory may keep INDEX_FL. */
function updateDxFlag(fs: Ext4Super, dir: Ext4Inode): void {
  if (!fs.hasDirIndex) dir.disk.flags &= ~EXT4_INDEX_FL;
}

// ---------------------------------------------------------------------------
// Reservations and credits

/** Most blocks one `addEntry` appends: a new node per index level and a leaf, or the two leaves of a conversion. */
export function maxDirAppends(fs: Ext4Super): number {
  return fs.hasDirIndex ? Math.max(maxHtreeAppends(fs), MAKE_INDEXED_APPENDS) : 1;
}

/** Blocks to reserve (BlockAllocator.reserve(n, false): directory blocks are metadata) before an `addEntry`. */
export function maxDirInsertBlocks(fs: Ext4Super, dir: Ext4Inode): number {
  if (dir.hasInlineData) return inlineConvertReserve(fs, dir);
  return maxDirAppends(fs) * (1 + maxNewMetadataBlocks(fs, dir));
}

/**
 * Journal credits of one `addEntry`: the leaf split and its new leaf, the
 * index blocks of every level and their new halves, the block allocations,
 * and the directory's inode.
 */
export function dirInsertCredits(fs: Ext4Super, dir: Ext4Inode): number {
  // An inline directory: the inode, and its conversion to one block.
  if (dir.hasInlineData) return 2 + inlineConvertCredits(fs, dir);
  const appends = maxDirAppends(fs);
  const indexBlocks = fs.hasDirIndex ? 2 * maxHtreeAppends(fs) : 0;
  return 2 + indexBlocks + appends * (1 + blockAllocCredits(fs, dir)) + 1;
}

/** Credits of `deleteEntry`, `replaceEntry` or `setDotDot`: one directory block and the inode. */
export const DIR_ENTRY_CHANGE_CREDITS = 2;

/** Blocks to reserve before `initDirBlocks`. */
export function initDirBlocksNeeded(fs: Ext4Super, dir: Ext4Inode): number {
  return 1 + maxNewMetadataBlocks(fs, dir);
}

/** Credits of `initDirBlocks`: the block, its allocation, and the inode. */
export function initDirCredits(fs: Ext4Super, dir: Ext4Inode): number {
  return 1 + blockAllocCredits(fs, dir) + 1;
}

// ---------------------------------------------------------------------------
// Changes

/** A decided insert: how many blocks it appends, and how to carry it out. */
export interface AddPlan {
  appends: number;
  apply(change: DirChange, entry: LeafRecord): Promise<void>;
}

async function planAdd(fs: Ext4Super, dir: Ext4Inode, name: Uint8Array): Promise<AddPlan> {
  checkDir(dir);
  checkName(name);
  if (dir.hasInlineData) {
    if (findInlineEntry(fs, dir, name) !== undefined) throw new FsError('EEXIST');
    return {
      appends: 0,
      apply: async (change, entry) => {
        // In the inode while it has room; else the directory becomes a one-block one holding the entry.
        const add = { name: entry.name, ino: entry.inode, fileType: entry.fileType };
        if (!(await addInlineEntry(fs, change.h, dir, add))) await convertInlineDir(fs, change.h, dir, change.reservation(), add);
        change.finish();
      },
    };
  }
  if (isIndexed(fs, dir)) {
    const plan = await planHtreeInsert(fs, dir, name);
    return { appends: plan.kind === 'split' ? plan.appends : 0, apply: (change, entry) => applyHtreeInsert(fs, change, plan, entry) };
  }
  const plan = await planLinearInsert(fs, dir, name);
  return { appends: linearAppends(plan), apply: (change, entry) => applyLinearInsert(fs, change, plan, entry) };
}

/**
 * Everything `addEntry` could refuse for an ordinary reason (ENOTDIR,
 * ENAMETOOLONG, EINVAL, EEXIST, ENOSPC from a full index or the 4 GiB
 * limit, ENOTSUP), checked without changing anything. For callers whose
 * handle changes other things before the entry goes in (a create allocates
 * the inode first): with `dir.rwsem` held throughout, the `addEntry` that
 * follows decides the same way and cannot fail for those reasons. The
 * plan it returns may be handed to that `addEntry` (the directory cannot
 * change while its rwsem is held), which then does not read and parse the
 * directory a second time.
 */
export async function checkAddEntry(fs: Ext4Super, dir: Ext4Inode, name: Uint8Array): Promise<AddPlan> {
  const plan = await planAdd(fs, dir, name);
  await checkGrowth(fs, dir, plan.appends, undefined);
  return plan;
}

/**
 * Adds `name` -> `ino` (of EXT4_FT_* type `fileType`) to `dir`. The caller
 * has checked the name is not there (an EEXIST is still thrown if the
 * blocks searched on the way hold it) and reserved `maxDirInsertBlocks`
 * blocks in `r` (what is not used stays in `r`).
 */
export async function addEntry(
  fs: Ext4Super, h: Handle, dir: Ext4Inode, name: Uint8Array, ino: number, fileType: number, r: BlockReservation,
  checked?: AddPlan,
): Promise<void> {
  assert(Number.isInteger(ino) && ino >= 1 && ino <= fs.sb.inodesCount, () => `directory entry for invalid inode ${ino}`);
  const plan = checked ?? (await planAdd(fs, dir, name));
  await checkGrowth(fs, dir, plan.appends, r);
  const change = new DirChange(fs, h, dir, r);
  change.after.push(() => {
    updateDxFlag(fs, dir);
    for (const c of dirCachesOf(fs)) c.entryAdded(dir.ino, name, { ino, fileType: fs.hasFileType ? fileType : 0 });
  });
  await plan.apply(change, { inode: ino, fileType, name });
}

/**
 * Before a directory grows by `appends` blocks: the blocks past its end must
 * be unmapped (ext4_append), the size must stay below 4 GiB without
 * large_dir (i_size_high is not read for directories then), and the
 * reservation must cover the blocks.
 */
async function checkGrowth(fs: Ext4Super, dir: Ext4Inode, appends: number, r: BlockReservation | undefined): Promise<void> {
  if (appends === 0) return;
  const blocks = dirBlockCount(fs, dir);
  if (!fs.hasLargeDir && (blocks + appends) * fs.blockSize >= 2 ** 32) {
    throw new FsError('ENOSPC', `directory ${dir.ino} would reach 4 GiB, which needs large_dir`);
  }
  assert(r === undefined || r.remaining >= appends * (1 + maxNewMetadataBlocks(fs, dir)),
    () => `addEntry needs ${appends} blocks and their tree blocks reserved, has ${r?.remaining}`);
  for (let i = 0; i < appends; i++) {
    const m = await mapBlocks(fs, dir, blocks + i);
    if (m.state !== 'hole') throw corrupted('inode', dir.ino, `directory block ${blocks + i}, past its size, is already mapped`);
  }
}

/** Where a name is: its leaf and its index among the leaf's records. */
interface Found {
  leaf: Leaf;
  index: number;
}

/** Finds `name` in a block directory, through the index when it has one (ext4_find_entry). */
async function findEntry(fs: Ext4Super, dir: Ext4Inode, name: Uint8Array): Promise<Found | undefined> {
  if (isIndexed(fs, dir)) {
    const path = await probe(fs, dir, name);
    for (let visited = 0; visited < path.dirBlocks; visited++) {
      const leaf = await readLeaf(fs, dir, leafOf(dir, path));
      const index = findName(leaf.records, name);
      if (index >= 0) return { leaf, index };
      if (!(await nextLeafOfRun(fs, dir, path))) return undefined;
    }
    throw corrupted('inode', dir.ino, 'htree lookup visited more leaves than the directory has blocks');
  }
  const blocks = dirBlockCount(fs, dir);
  for (let lblk = 0; lblk < blocks; lblk++) {
    const leaf = await readLeaf(fs, dir, lblk);
    const index = findName(leaf.records, name);
    if (index >= 0) return { leaf, index };
  }
  return undefined;
}

async function findForChange(fs: Ext4Super, dir: Ext4Inode, name: Uint8Array): Promise<Found> {
  const found = await findEntry(fs, dir, name);
  if (found === undefined) throw new FsError('ENOENT');
  return found;
}

/** Joins the block of a found entry, checking it still holds what the plan read. */
async function joinFound(change: DirChange, found: Found): Promise<Uint8Array> {
  const b = await change.join(found.leaf.lblk);
  const rec = found.leaf.records[found.index];
  assert(b.data[rec.offset + 6] === rec.nameLen && (b.data[rec.offset] | (b.data[rec.offset + 1] << 8) | (b.data[rec.offset + 2] << 16) | (b.data[rec.offset + 3] << 24)) >>> 0 === rec.inode,
    () => `directory ${change.dir.ino} block ${found.leaf.lblk} changed under a planned edit`);
  return b.data;
}

/**
 * Removes `name` from `dir` and returns the inode it named (ENOENT if it is
 * not there). The record merges into the one before it in its block;
 * indexed directories keep their index and never shrink, as in Linux.
 */
export async function deleteEntry(fs: Ext4Super, h: Handle, dir: Ext4Inode, name: Uint8Array): Promise<number> {
  checkDir(dir);
  checkName(name);
  const removed = (): void => {
    updateDxFlag(fs, dir);
    for (const c of dirCachesOf(fs)) c.entryRemoved(dir.ino, name);
  };
  if (dir.hasInlineData) {
    const ino = await deleteInlineEntry(fs, h, dir, name);
    removed();
    return ino;
  }
  const found = await findForChange(fs, dir, name);
  const change = new DirChange(fs, h, dir, undefined);
  const data = await joinFound(change, found);
  const layout = layoutOf(fs);
  deleteRecord(data, layout, found.leaf.records, found.index);
  sealLeaf(data, layout, dir.csumSeed);
  change.after.push(removed);
  change.finish();
  return found.leaf.records[found.index].inode;
}

/**
 * Points the existing entry `name` at inode `ino` of type `fileType` (a
 * rename over an existing name: ext4_setent) and returns the inode it named
 * before (ENOENT if it is not there).
 */
export async function replaceEntry(
  fs: Ext4Super, h: Handle, dir: Ext4Inode, name: Uint8Array, ino: number, fileType: number,
): Promise<number> {
  assert(Number.isInteger(ino) && ino >= 1 && ino <= fs.sb.inodesCount, () => `directory entry for invalid inode ${ino}`);
  checkDir(dir);
  checkName(name);
  const repointed = (): void => {
    for (const c of dirCachesOf(fs)) c.entryAdded(dir.ino, name, { ino, fileType: fs.hasFileType ? fileType : 0 });
  };
  if (dir.hasInlineData) {
    const old = await replaceInlineEntry(fs, h, dir, { name, ino, fileType });
    repointed();
    return old;
  }
  const found = await findForChange(fs, dir, name);
  const change = new DirChange(fs, h, dir, undefined);
  const data = await joinFound(change, found);
  const layout = layoutOf(fs);
  repointRecord(data, layout, found.leaf.records[found.index], ino, fileType);
  sealLeaf(data, layout, dir.csumSeed);
  change.after.push(repointed);
  change.finish();
  return found.leaf.records[found.index].inode;
}

/**
 * Makes `dir`'s ".." name `parentIno` (a directory moved to another parent:
 * ext4_rename_dir_finish). ".." is the second record of block 0, which in an
 * indexed directory is the htree root (checksummed as an index block). For
 * an inline directory the parent number is the first word of i_block,
 * changed in memory like the rest of `dir.disk`.
 */
export async function setDotDot(fs: Ext4Super, h: Handle, dir: Ext4Inode, parentIno: number): Promise<void> {
  checkDir(dir);
  assert(Number.isInteger(parentIno) && parentIno >= 1 && parentIno <= fs.sb.inodesCount, () => `".." of directory ${dir.ino} set to invalid inode ${parentIno}`);
  if (dir.hasInlineData) {
    writeU32LE(dir.disk.block, 0, parentIno);
    return;
  }
  const change = new DirChange(fs, h, dir, undefined);
  if (isIndexed(fs, dir)) {
    await readDxRoot(fs, dir);
    const b = await change.join(0);
    // decodeDxRoot checked "." and ".." sit at 0 and 12.
    writeU32LE(b.data, 12, parentIno);
    if (fs.metadataCsum) writeDxChecksum(dir.csumSeed, b.data);
  } else {
    const leaf = await readLeaf(fs, dir, 0);
    const [dot, dotdot] = leaf.records;
    if (dot?.nameLen !== 1 || !isDots(dot.name) || dotdot?.nameLen !== 2 || !isDots(dotdot.name) || dotdot.inode === 0) {
      throw corrupted('inode', dir.ino, 'directory block 0 does not start with "." and ".."');
    }
    const b = await change.join(0);
    writeU32LE(b.data, dotdot.offset, parentIno);
    sealLeaf(b.data, layoutOf(fs), dir.csumSeed);
  }
  change.finish();
}

/**
 * Gives a new, empty directory inode (i_size 0, no blocks) its first block:
 * "." (itself) and ".." (`parentIno`), ".." spanning the rest of the block
 * (ext4_init_new_dir). The caller sets the link count to 2 and writes the
 * inode. On an inline_data filesystem whose inodes have room, the new
 * directory is made inline instead, as Linux does (ext4_try_create_inline_dir).
 */
export async function initDirBlocks(fs: Ext4Super, h: Handle, dir: Ext4Inode, parentIno: number, r: BlockReservation): Promise<void> {
  checkDir(dir);
  assert(dir.disk.size === 0 && !dir.hasInlineData, () => `initDirBlocks on directory ${dir.ino} that already has contents`);
  if (fs.hasInlineData && (await createInlineDir(fs, h, dir, parentIno))) return;
  const change = new DirChange(fs, h, dir, r);
  const { buf } = await change.append();
  const layout = layoutOf(fs);
  const type = fs.hasFileType ? EXT4_FT_DIR : 0;
  buildLeaf(buf.data, layout, [
    { inode: dir.ino, fileType: type, name: DOT },
    { inode: parentIno, fileType: type, name: DOTDOT },
  ]);
  sealLeaf(buf.data, layout, dir.csumSeed);
  change.finish();
}
const DOT = new Uint8Array([0x2e]);
const DOTDOT = new Uint8Array([0x2e, 0x2e]);

/**
 * Whether `dir` holds nothing but "." and ".." (ext4_empty_dir). Unused
 * records and index blocks do not count; in an indexed directory a block
 * that reads as an index node holds no entries.
 */
export async function isEmptyDir(fs: Ext4Super, dir: Ext4Inode): Promise<boolean> {
  checkDir(dir);
  if (dir.hasInlineData) return inlineDir(fs, dir).entries.length === 0;
  const blocks = dirBlockCount(fs, dir);
  const indexed = isIndexed(fs, dir);
  for (let lblk = 0; lblk < blocks; lblk++) {
    if (indexed) {
      if (lblk === 0) {
        await readDxRoot(fs, dir);
        continue;
      }
      // Without metadata_csum an empty leaf looks like a node; either way it holds no entry.
      const data = await fs.cache.read(await dirBlockNr(fs, dir, lblk));
      if (isDxNodeBlock(data)) {
        if (fs.metadataCsum) await readDxNode(fs, dir, lblk);
        continue;
      }
    }
    const leaf = await readLeaf(fs, dir, lblk);
    if (lblk === 0 && !indexed && (leaf.records.length < 2 || leaf.records[0].inode !== dir.ino || leaf.records[1].inode === 0)) {
      throw corrupted('inode', dir.ino, 'directory block 0 does not start with "." and ".."');
    }
    for (let i = lblk === 0 ? 2 : 0; i < leaf.records.length; i++) {
      if (leaf.records[i].inode !== 0) return false;
    }
  }
  return true;
}
