/**
 * Changing inline directories (Linux: the directory half of
 * fs/ext4/inline.c). A small directory on an inline_data filesystem lives
 * in its inode: i_block starts with the parent's inode number (there are no
 * "." and ".." records), then records tile the other 56 bytes; when those
 * are full, the directory grows once into the value of the in-inode xattr
 * system.data (as large as the inode allows), whose records tile the whole
 * value. When that is full too, the directory becomes an ordinary
 * one-block directory: ".", "..", then the inline records, the last one
 * stretched to the end of the block (and a checksum tail with metadata_csum).
 *
 * Contract (the one src/dir's block-directory changes keep): the caller
 * holds `dir.rwsem` exclusively and an open journal handle; readers hold
 * the rwsem shared. Every ordinary failure (ENOENT, EEXIST, ENOSPC) is
 * thrown before anything changes. `dir.disk` (i_block, i_size, flags,
 * i_blocks) changes in memory only: the caller updates times and link
 * counts and writes the inode before its handle stops. Dentry caches over
 * the directory are the caller's to update.
 */
import type { Ext4Super } from '../super/ext4-super.js';
import type { Ext4Inode } from '../inode/ext4-inode.js';
import type { Handle } from '../journal/transaction.js';
import type { BlockReservation } from '../alloc/block-alloc.js';
import { assert } from '../base/assert.js';
import { corrupted, FsError } from '../base/errors.js';
import {
  DIR_TAIL_SIZE, dirEntrySize, encodeDirEntry, EXT4_FT_DIR, parseDirRegion, recLenToDisk, writeDirBlockChecksum, type DirEntry,
} from '../format/dirent.js';
import { EXT4_EXTENTS_FL, EXT4_INLINE_DATA_FL } from '../format/inode.js';
import { EXT4_INLINE_DOTDOT_SIZE, EXT4_MIN_INLINE_DATA_SIZE, findSystemData } from '../format/inline-data.js';
import { readU32LE, writeU16LE, writeU32LE } from '../format/le.js';
import { ibodyXattrs, inlineDataXattr } from '../xattr/xattr-read.js';
import { prepareIbodyXattrChange } from '../xattr/xattr-set.js';
import { bumpEsSeq, getOrAllocateBlocks } from '../extent/file-blocks.js';
import { insertIntoRecord, leafLayout } from './leaf-block.js';
import { emptyExtentRoot, freshExtentTree, maxInlineSize, SYSTEM_DATA_KEY } from '../inode/inline-write.js';

/** A directory entry to add or point elsewhere. */
export interface NewDirEntry {
  name: Uint8Array;
  ino: number;
  /** EXT4_FT_*; stored as 0 without the filetype feature. */
  fileType: number;
}

/** One of the two record areas of an inline directory: i_block after the parent number, or the system.data value. */
interface Region {
  buf: Uint8Array;
  start: number;
  end: number;
  kind: 'i_block' | 'system.data';
}

function checkLocked(dir: Ext4Inode): void {
  assert(dir.isDir && dir.hasInlineData, () => `inode ${dir.ino} is not an inline directory`);
  assert(dir.rwsem.writeLocked, () => `inline directory ${dir.ino} changed without its rwsem held exclusively`);
}

/** Copies of the record areas, to edit and install in one step. */
function regionsOf(fs: Ext4Super, dir: Ext4Inode): Region[] {
  const regions: Region[] = [{ buf: dir.disk.block.slice(), start: EXT4_INLINE_DOTDOT_SIZE, end: EXT4_MIN_INLINE_DATA_SIZE, kind: 'i_block' }];
  const extra = inlineDataXattr(fs, dir);
  if (extra !== undefined && extra.length > 0) regions.push({ buf: extra.slice(), start: 0, end: extra.length, kind: 'system.data' });
  return regions;
}

function records(fs: Ext4Super, dir: Ext4Inode, r: Region): DirEntry[] {
  return parseDirRegion(r.buf, r.start, r.end, r.buf.length, { ino: dir.ino, region: `inline ${r.kind}` }, { hasFileType: fs.hasFileType, inodesCount: fs.sb.inodesCount });
}

function sameName(e: DirEntry, name: Uint8Array): boolean {
  return e.inode !== 0 && e.nameLen === name.length && Buffer.from(e.name).equals(name);
}

/** Where `name` is among the inline records, if it is there. */
function find(fs: Ext4Super, dir: Ext4Inode, regions: readonly Region[], name: Uint8Array): { region: Region; recs: DirEntry[]; index: number } | undefined {
  for (const region of regions) {
    const recs = records(fs, dir, region);
    const index = recs.findIndex((e) => sameName(e, name));
    if (index >= 0) return { region, recs, index };
  }
  return undefined;
}

/**
 * The record of `buf[start, end)` a new entry of `nameLen` bytes can go in
 * (Linux: ext4_find_dest_de): an unused one big enough, or a used one whose
 * slack after its own name is. EEXIST when `name` is there already.
 */
function findSlot(recs: readonly DirEntry[], name: Uint8Array): DirEntry | undefined {
  const need = dirEntrySize(name.length);
  let slot: DirEntry | undefined;
  for (const e of recs) {
    if (sameName(e, name)) throw new FsError('EEXIST');
    const used = e.inode === 0 ? 0 : dirEntrySize(e.nameLen);
    if (slot === undefined && e.recLen >= used + need) slot = e;
  }
  return slot;
}

/**
 * Puts the entry into `slot` (Linux: ext4_insert_dentry) through the leaf
 * code's insert; an inline area also clears the slot's whole slack, so no
 * byte of an older name stays in the inode. `fileType` is already 0 without
 * the filetype feature.
 */
function insertInto(buf: Uint8Array, slot: DirEntry, entry: NewDirEntry, fileType: number): void {
  const start = slot.inode !== 0 ? slot.offset + dirEntrySize(slot.nameLen) : slot.offset;
  buf.fill(0, start, slot.offset + slot.recLen);
  insertIntoRecord(buf, leafLayout(buf.length, true, false), slot, { inode: entry.ino, fileType, name: entry.name });
}

/**
 * Removes record `index` (Linux: ext4_generic_delete_entry): merged into the
 * one before it, or made unused when it is the first; its bytes are wiped
 * either way (all but rec_len for a first record), so no name lingers.
 */
function removeFrom(buf: Uint8Array, recs: readonly DirEntry[], index: number): void {
  const e = recs[index];
  if (index > 0) {
    const prev = recs[index - 1];
    writeU16LE(buf, prev.offset + 4, recLenToDisk(prev.recLen + e.recLen, buf.length));
    buf.fill(0, e.offset, e.offset + e.recLen);
  } else {
    writeU32LE(buf, e.offset, 0);
    buf.fill(0, e.offset + 6, e.offset + e.recLen);
  }
}

/** Installs edited regions: i_block directly, system.data through the xattr layer, in one synchronous step. */
async function install(fs: Ext4Super, h: Handle, dir: Ext4Inode, regions: readonly Region[], sizeAfter?: number): Promise<void> {
  const extra = regions.find((r) => r.kind === 'system.data');
  const commit = extra === undefined ? undefined : await prepareIbodyXattrChange(fs, h, dir, SYSTEM_DATA_KEY, extra.buf, 'replace');
  h.changed = true;
  commit?.();
  dir.disk.block = regions[0].buf;
  if (sizeAfter !== undefined) dir.disk.size = sizeAfter;
}

/** The inline directory's entry `name`, if any. */
export function findInlineEntry(fs: Ext4Super, dir: Ext4Inode, name: Uint8Array): DirEntry | undefined {
  const found = find(fs, dir, regionsOf(fs, dir), name);
  return found?.recs[found.index];
}

/**
 * Adds `entry` to an inline directory (Linux: ext4_try_add_inline_entry):
 * into i_block, else into system.data — grown first to all the inode has
 * room for when it is still empty (ext4_update_inline_dir), if that gains
 * more than a minimal record. Returns false, having changed nothing, when
 * there is no room: the caller converts the directory
 * (`convertInlineDir`) and adds the entry to the block. EEXIST if present.
 */
export async function addInlineEntry(fs: Ext4Super, h: Handle, dir: Ext4Inode, entry: NewDirEntry): Promise<boolean> {
  checkLocked(dir);
  const regions = regionsOf(fs, dir);
  const fileType = fs.hasFileType ? entry.fileType : 0;
  const recsPer = regions.map((r) => records(fs, dir, r));
  // Every region is searched for the name before anything is placed (EEXIST wins over "full").
  const slots = recsPer.map((recs) => findSlot(recs, entry.name));
  for (const [i, slot] of slots.entries()) {
    if (slot === undefined) continue;
    insertInto(regions[i].buf, slot, entry, fileType);
    await install(fs, h, dir, regions);
    return true;
  }
  if (regions.length > 1) return false;
  const extra = grownRegion(fs, dir);
  if (extra === undefined) return false;
  const slot = findSlot(records(fs, dir, extra), entry.name);
  if (slot === undefined) return false;
  insertInto(extra.buf, slot, entry, fileType);
  await install(fs, h, dir, [regions[0], extra], EXT4_MIN_INLINE_DATA_SIZE + extra.end);
  return true;
}

/**
 * The system.data area an inline directory grows into once i_block is full
 * (Linux: ext4_update_inline_dir): as big as the inode allows, one unused
 * record spanning it; undefined when that would not gain more than a
 * minimal record.
 */
function grownRegion(fs: Ext4Super, dir: Ext4Inode): Region | undefined {
  const size = maxInlineSize(fs, dir) - EXT4_MIN_INLINE_DATA_SIZE;
  if (size <= dirEntrySize(1)) return undefined;
  const extra: Region = { buf: new Uint8Array(size), start: 0, end: size, kind: 'system.data' };
  encodeDirEntry({ inode: 0, recLen: size, fileType: 0, name: new Uint8Array(0) }, extra.buf, 0);
  return extra;
}

/** Removes `name` from an inline directory and returns the inode it named (ENOENT if absent). */
export async function deleteInlineEntry(fs: Ext4Super, h: Handle, dir: Ext4Inode, name: Uint8Array): Promise<number> {
  checkLocked(dir);
  const regions = regionsOf(fs, dir);
  const found = find(fs, dir, regions, name);
  if (found === undefined) throw new FsError('ENOENT');
  removeFrom(found.region.buf, found.recs, found.index);
  await install(fs, h, dir, regions);
  return found.recs[found.index].inode;
}

/** Points entry `name` at another inode (a rename over it) and returns the inode it named (ENOENT if absent). */
export async function replaceInlineEntry(fs: Ext4Super, h: Handle, dir: Ext4Inode, entry: NewDirEntry): Promise<number> {
  checkLocked(dir);
  const regions = regionsOf(fs, dir);
  const found = find(fs, dir, regions, entry.name);
  if (found === undefined) throw new FsError('ENOENT');
  const rec = found.recs[found.index];
  writeU32LE(found.region.buf, rec.offset, entry.ino);
  if (fs.hasFileType) found.region.buf[rec.offset + 7] = entry.fileType;
  await install(fs, h, dir, regions);
  return rec.inode;
}

/**
 * Makes a directory created in this handle inline (Linux:
 * ext4_try_create_inline_dir): i_block holds the parent and one unused
 * record over the rest, system.data is empty, i_size is 60. Returns false,
 * having changed nothing, when the inode has no room for system.data: the
 * caller then gives the directory a block. No lock is needed (nobody can
 * reach the inode yet). The caller sets the link count and writes the inode.
 */
export async function createInlineDir(fs: Ext4Super, h: Handle, dir: Ext4Inode, parentIno: number): Promise<boolean> {
  assert(dir.isDir, () => `createInlineDir on inode ${dir.ino}, not a directory`);
  assert(dir.disk.size === 0 && !dir.hasInlineData, () => `createInlineDir on directory ${dir.ino} that has contents`);
  if (!fs.hasInlineData || maxInlineSize(fs, dir) === 0) return false;
  if (findSystemData(ibodyXattrs(fs, dir)) !== undefined) throw corrupted('inode', dir.ino, 'system.data on an inode without inline data');
  const iblock = new Uint8Array(EXT4_MIN_INLINE_DATA_SIZE);
  writeU32LE(iblock, 0, parentIno);
  const rest = EXT4_MIN_INLINE_DATA_SIZE - EXT4_INLINE_DOTDOT_SIZE;
  encodeDirEntry({ inode: 0, recLen: rest, fileType: 0, name: new Uint8Array(0) }, iblock.subarray(0, EXT4_MIN_INLINE_DATA_SIZE), EXT4_INLINE_DOTDOT_SIZE);
  const commit = await prepareIbodyXattrChange(fs, h, dir, SYSTEM_DATA_KEY, new Uint8Array(0), 'create', { newInode: true });
  h.changed = true;
  commit?.();
  dir.disk.block = iblock;
  dir.disk.flags = (dir.disk.flags & ~EXT4_EXTENTS_FL) | EXT4_INLINE_DATA_FL;
  dir.disk.size = EXT4_MIN_INLINE_DATA_SIZE;
  dir.extentRootCache = undefined;
  return true;
}

/**
 * Turns an inline directory into an ordinary one-block linear directory
 * (Linux: ext4_convert_inline_data_nolock with ext4_finish_convert_inline_dir):
 * block 0 gets "." and "..", then the inline records as they are, the last
 * stretched to the end (before the checksum tail with metadata_csum);
 * system.data goes, i_block becomes an extent root, i_size one block.
 * `add`, when given, goes into the new block as ext4_add_entry would put
 * it there next. `r` holds a block and what a new extent tree may need
 * (`inlineConvertReserve`); the handle `inlineConvertCredits` + 1 (the
 * directory block is metadata). The caller writes the inode.
 */
export async function convertInlineDir(fs: Ext4Super, h: Handle, dir: Ext4Inode, r: BlockReservation, add?: NewDirEntry): Promise<void> {
  checkLocked(dir);
  if (!fs.hasExtents) throw fs.unsupported('converting an inline directory without the extent feature');
  const bs = fs.blockSize;
  const regions = regionsOf(fs, dir);
  for (const region of regions) records(fs, dir, region);
  const grown = grownRegion(fs, dir);
  // Linux converts from ext4_try_add_inline_entry only after growing an
  // empty system.data (ext4_update_inline_dir): its empty record is part
  // of what moves to the block, so the block looks the same here.
  if (regions.length === 1 && grown !== undefined) regions.push(grown);
  const parent = readU32LE(regions[0].buf, 0);
  const end = bs - (fs.metadataCsum ? DIR_TAIL_SIZE : 0);
  const block = new Uint8Array(bs);
  const type = fs.hasFileType ? EXT4_FT_DIR : 0;
  encodeDirEntry({ inode: dir.ino, recLen: dirEntrySize(1), fileType: type, name: new Uint8Array([0x2e]) }, block, 0);
  encodeDirEntry({ inode: parent, recLen: dirEntrySize(2), fileType: type, name: new Uint8Array([0x2e, 0x2e]) }, block, dirEntrySize(1));
  let off = dirEntrySize(1) + dirEntrySize(2);
  for (const region of regions) {
    block.set(region.buf.subarray(region.start, region.end), off);
    off += region.end - region.start;
  }
  // Stretch the last record to the end of the entry area.
  const recs = parseDirRegion(block, 0, off, bs, { ino: dir.ino, region: 'converted inline directory' }, { hasFileType: fs.hasFileType });
  const last = recs[recs.length - 1];
  writeU16LE(block, last.offset + 4, recLenToDisk(last.recLen + end - off, bs));
  if (add !== undefined) {
    const slot = findSlot(parseDirRegion(block, 0, end, bs, { ino: dir.ino, region: 'converted inline directory' }, { hasFileType: fs.hasFileType }), add.name);
    if (slot === undefined) throw new FsError('ENOSPC', `no room for the entry in directory ${dir.ino}'s first block`);
    insertInto(block, slot, add, fs.hasFileType ? add.fileType : 0);
  }
  if (fs.metadataCsum) writeDirBlockChecksum(dir.csumSeed, block);
  if (r.remaining < 1) throw new FsError('ENOSPC', 'no block to convert the inline directory into');

  await dir.dataSem.withExclusive(async () => {
    const commit = await prepareIbodyXattrChange(fs, h, dir, SYSTEM_DATA_KEY, undefined, 'replace');
    const tree = freshExtentTree(dir, emptyExtentRoot());
    const run = await getOrAllocateBlocks({ fs, h, inode: tree, r }, 0, 1);
    const b = fs.cache.newBuffer(run.pblk);
    h.getWriteAccess(b);
    b.data.set(block);
    h.dirtyMetadata(b);
    commit?.();
    dir.disk.block = tree.disk.block;
    dir.disk.blocks = tree.disk.blocks;
    dir.disk.flags = tree.disk.flags;
    dir.disk.size = bs;
    dir.extentRootCache = undefined;
    bumpEsSeq(fs, dir);
  });
}
