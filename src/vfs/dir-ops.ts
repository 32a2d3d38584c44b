/**
 * The directory changes the namespace operations need, in one place:
 * insert, delete and retarget an entry, '..', a new directory's first
 * block, emptiness. This adapter serves linear directories (and deletes or
 * retargets in the leaves of hashed ones); inserting into an htree
 * directory is delegated to the dir layer's htree code once it lands.
 *
 * Contract: the caller holds the directory's rwsem exclusively and an open
 * handle, and reserved `maxDirInsertBlocks` blocks for an insert.
 */
import type { Ext4Super } from '../super/ext4-super.js';
import type { Handle } from '../journal/transaction.js';
import type { BlockReservation } from '../alloc/block-alloc.js';
import type { Ext4Inode } from '../inode/ext4-inode.js';
import type { MetaBuffer } from '../cache/buffer-cache.js';
import { mapBlocks } from '../extent/map-blocks.js';
import { getOrAllocateBlocks, maxNewMetadataBlocks, blockChangeCredits } from '../extent/file-blocks.js';
import { corrupted, FsError } from '../base/errors.js';
import {
  dirEntrySize, encodeDirEntry, parseDirRecords, verifyDirBlock, writeDirBlockChecksum, DIR_TAIL_SIZE, EXT4_FT_DIR, type DirEntry,
} from '../format/dirent.js';
import { isDxNodeBlock } from '../format/htree.js';
import { writeU32LE } from '../format/le.js';
import { addInlineEntry, convertInlineDir, createInlineDir, deleteInlineEntry, replaceInlineEntry } from '../dir/inline-dir-write.js';
import { inlineConvertCredits, inlineConvertReserve } from '../inode/inline-write.js';

function hasTail(fs: Ext4Super): boolean {
  return fs.metadataCsum;
}

async function dirBlock(fs: Ext4Super, dir: Ext4Inode, lblk: number): Promise<MetaBuffer> {
  const m = await mapBlocks(fs, dir, lblk);
  if (m.state !== 'written') throw corrupted('inode', dir.ino, `directory has a hole at block ${lblk}`);
  return fs.cache.bufferVerified(m.pblk, (data) => {
    if (fs.metadataCsum && !isDxNodeBlock(data) && !(lblk === 0 && dir.isIndexedDir) && !verifyDirBlock(dir.csumSeed, data)) {
      throw corrupted('directory block', lblk, `of inode ${dir.ino}: checksum does not match`);
    }
  });
}

function records(fs: Ext4Super, dir: Ext4Inode, lblk: number, data: Uint8Array): DirEntry[] {
  return parseDirRecords(data, { ino: dir.ino, lblk }, { hasFileType: fs.hasFileType, hasTail: hasTail(fs) });
}

function isLeaf(dir: Ext4Inode, lblk: number, data: Uint8Array): boolean {
  return !(dir.isIndexedDir && (lblk === 0 || isDxNodeBlock(data)));
}

function sealBlock(fs: Ext4Super, dir: Ext4Inode, data: Uint8Array): void {
  if (hasTail(fs)) writeDirBlockChecksum(dir.csumSeed, data);
}

function sameName(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** Blocks an insert may allocate: one directory block and the extent blocks it may need (an inline directory: its conversion's). */
export function maxDirInsertBlocks(fs: Ext4Super, dir: Ext4Inode): number {
  if (dir.hasInlineData) return inlineConvertReserve(fs, dir);
  return 1 + maxNewMetadataBlocks(fs, dir);
}

/** Journal credits of an insert. */
export function dirInsertCredits(fs: Ext4Super, dir: Ext4Inode): number {
  if (dir.hasInlineData) return 4 + inlineConvertCredits(fs, dir);
  return 4 + blockChangeCredits(fs, dir);
}

export async function addEntry(
  fs: Ext4Super, h: Handle, dir: Ext4Inode, name: Uint8Array, ino: number, fileType: number, r: BlockReservation,
): Promise<void> {
  if (dir.hasInlineData) {
    // In the inode while it has room; else the directory becomes a block one, with the entry in it.
    const entry = { name, ino, fileType };
    if (!(await addInlineEntry(fs, h, dir, entry))) await convertInlineDir(fs, h, dir, r, entry);
    return;
  }
  if (dir.isIndexedDir && fs.hasDirIndex) throw new FsError('ENOTSUP', `adding to hashed directory ${dir.ino} is not supported yet`);
  const bs = fs.blockSize;
  const need = dirEntrySize(name.length);
  const ft = fs.hasFileType ? fileType : 0;
  const count = dir.size / bs;
  for (let lblk = 0; lblk < count; lblk++) {
    const b = await dirBlock(fs, dir, lblk);
    for (const e of records(fs, dir, lblk, b.data)) {
      const used = e.inode === 0 ? 0 : dirEntrySize(e.nameLen);
      if (e.recLen - used < need) continue;
      h.getWriteAccess(b);
      if (e.inode === 0) {
        encodeDirEntry({ inode: ino, recLen: e.recLen, fileType: ft, name }, b.data, e.offset);
      } else {
        encodeDirEntry({ ...e, recLen: used }, b.data, e.offset);
        encodeDirEntry({ inode: ino, recLen: e.recLen - used, fileType: ft, name }, b.data, e.offset + used);
      }
      sealBlock(fs, dir, b.data);
      h.dirtyMetadata(b);
      return;
    }
  }
  const run = await dir.dataSem.withExclusive(() => getOrAllocateBlocks({ fs, h, inode: dir, r }, count, 1));
  const b = fs.cache.newBuffer(run.pblk);
  h.getWriteAccess(b);
  encodeDirEntry({ inode: ino, recLen: bs - (hasTail(fs) ? DIR_TAIL_SIZE : 0), fileType: ft, name }, b.data, 0);
  sealBlock(fs, dir, b.data);
  h.dirtyMetadata(b);
  dir.disk.size += bs;
}

/** Finds `name`'s record: its block and entry. */
async function findEntry(fs: Ext4Super, dir: Ext4Inode, name: Uint8Array): Promise<{ b: MetaBuffer; lblk: number; recs: DirEntry[]; i: number } | undefined> {
  if (dir.hasInlineData) throw new FsError('ENOTSUP', `changing inline directory ${dir.ino} is not supported yet`);
  const count = dir.size / fs.blockSize;
  for (let lblk = 0; lblk < count; lblk++) {
    const b = await dirBlock(fs, dir, lblk);
    if (!isLeaf(dir, lblk, b.data)) continue;
    const recs = records(fs, dir, lblk, b.data);
    const i = recs.findIndex((e) => e.inode !== 0 && sameName(e.name, name));
    if (i >= 0) return { b, lblk, recs, i };
  }
  return undefined;
}

/** Removes `name` from `dir`; returns the inode it named. */
export async function deleteEntry(fs: Ext4Super, h: Handle, dir: Ext4Inode, name: Uint8Array): Promise<number> {
  if (dir.hasInlineData) return deleteInlineEntry(fs, h, dir, name);
  const f = await findEntry(fs, dir, name);
  if (f === undefined) throw new FsError('ENOENT');
  const e = f.recs[f.i];
  h.getWriteAccess(f.b);
  if (f.i > 0) {
    const prev = f.recs[f.i - 1];
    encodeDirEntry({ ...prev, recLen: prev.recLen + e.recLen }, f.b.data, prev.offset);
  } else {
    encodeDirEntry({ ...e, inode: 0 }, f.b.data, e.offset);
  }
  sealBlock(fs, dir, f.b.data);
  h.dirtyMetadata(f.b);
  return e.inode;
}

/** Points `name` at another inode (rename over an existing name); returns the inode it named before. */
export async function replaceEntry(fs: Ext4Super, h: Handle, dir: Ext4Inode, name: Uint8Array, ino: number, fileType: number): Promise<number> {
  if (dir.hasInlineData) return replaceInlineEntry(fs, h, dir, { name, ino, fileType });
  const f = await findEntry(fs, dir, name);
  if (f === undefined) throw new FsError('ENOENT');
  const e = f.recs[f.i];
  h.getWriteAccess(f.b);
  encodeDirEntry({ ...e, inode: ino, fileType: fs.hasFileType ? fileType : 0 }, f.b.data, e.offset);
  sealBlock(fs, dir, f.b.data);
  h.dirtyMetadata(f.b);
  return e.inode;
}

/** Points `dir`'s '..' at `parentIno` (the second record of block 0, in linear and hashed directories alike). */
export async function setDotDot(fs: Ext4Super, h: Handle, dir: Ext4Inode, parentIno: number): Promise<void> {
  if (dir.hasInlineData) {
    // An inline directory keeps its parent's number in the first word of i_block.
    writeU32LE(dir.disk.block, 0, parentIno);
    return;
  }
  const b = await dirBlock(fs, dir, 0);
  h.getWriteAccess(b);
  const dotRecLen = b.data[4] | (b.data[5] << 8);
  b.data[dotRecLen] = parentIno & 0xff;
  b.data[dotRecLen + 1] = (parentIno >>> 8) & 0xff;
  b.data[dotRecLen + 2] = (parentIno >>> 16) & 0xff;
  b.data[dotRecLen + 3] = (parentIno >>> 24) & 0xff;
  if (!dir.isIndexedDir) sealBlock(fs, dir, b.data);
  else if (fs.metadataCsum) throw new FsError('ENOTSUP', 'moving a hashed directory is not supported yet');
  h.dirtyMetadata(b);
}

/** A new directory's first block: '.' and '..' (Linux: ext4_init_new_dir); inline in the inode when inline_data allows. */
export async function initDirBlocks(fs: Ext4Super, h: Handle, dir: Ext4Inode, parentIno: number, r: BlockReservation): Promise<void> {
  if (fs.hasInlineData && (await createInlineDir(fs, h, dir, parentIno))) return;
  const bs = fs.blockSize;
  const run = await dir.dataSem.withExclusive(() => getOrAllocateBlocks({ fs, h, inode: dir, r }, 0, 1));
  const b = fs.cache.newBuffer(run.pblk);
  h.getWriteAccess(b);
  const ft = fs.hasFileType ? EXT4_FT_DIR : 0;
  encodeDirEntry({ inode: dir.ino, recLen: 12, fileType: ft, name: Uint8Array.of(0x2e) }, b.data, 0);
  encodeDirEntry({ inode: parentIno, recLen: bs - 12 - (hasTail(fs) ? DIR_TAIL_SIZE : 0), fileType: ft, name: Uint8Array.of(0x2e, 0x2e) }, b.data, 12);
  sealBlock(fs, dir, b.data);
  h.dirtyMetadata(b);
  dir.disk.size = bs;
}

/** Whether `dir` holds nothing but '.' and '..'. */
export async function isEmptyDir(fs: Ext4Super, dir: Ext4Inode, list: (d: Ext4Inode) => Promise<unknown[]>): Promise<boolean> {
  void fs;
  return (await list(dir)).length === 0;
}
