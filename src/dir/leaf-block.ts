/**
 * Editing one leaf directory block in memory (Linux: ext4_find_dest_de,
 * ext4_insert_dentry, ext4_generic_delete_entry, dx_pack_dirents). No I/O:
 * the callers in dir-write.ts decide which block, hold it in the journal,
 * and call these inside one synchronous section.
 *
 * A leaf is the chain of records that tiles the entry area, which is the
 * whole block, or the block less its 12-byte checksum tail under
 * metadata_csum (`LeafLayout.end`). Free space lives inside records: a live
 * record's rec_len may exceed what its name needs, and a record with inode 0
 * is free space of its own.
 */
import { assert } from '../base/assert.js';
import { DIR_TAIL_SIZE, dirEntrySize, encodeDirEntry, recLenToDisk, writeDirBlockChecksum, type DirEntry } from '../format/dirent.js';
import { writeU16LE, writeU32LE } from '../format/le.js';

export interface LeafLayout {
  blockSize: number;
  /** End of the entry area: the block size, less the tail with metadata_csum. */
  end: number;
  /** The filetype feature: without it the file type byte stays 0. */
  hasFileType: boolean;
  /** metadata_csum: the block ends with a checksum tail. */
  csum: boolean;
}

/** A record to place in a block: what survives of an entry when blocks are rebuilt. */
export interface LeafRecord {
  inode: number;
  fileType: number;
  name: Uint8Array;
}

export function leafLayout(blockSize: number, hasFileType: boolean, csum: boolean): LeafLayout {
  return { blockSize, end: blockSize - (csum ? DIR_TAIL_SIZE : 0), hasFileType, csum };
}

/** Free bytes a record offers a new entry: its slack when live, all of it when unused. */
export function recordRoom(r: Pick<DirEntry, 'inode' | 'recLen' | 'nameLen'>): number {
  return r.inode !== 0 ? r.recLen - dirEntrySize(r.nameLen) : r.recLen;
}

/**
 * Index of the first record with room for an entry with a `nameLen`-byte
 * name, or -1 (ext4_find_dest_de: first fit, in block order).
 */
export function findSlot(records: readonly DirEntry[], nameLen: number): number {
  const need = dirEntrySize(nameLen);
  for (let i = 0; i < records.length; i++) {
    if (recordRoom(records[i]) >= need) return i;
  }
  return -1;
}

/** Index of the live record named `name`, or -1. */
export function findName(records: readonly DirEntry[], name: Uint8Array): number {
  for (let i = 0; i < records.length; i++) {
    const r = records[i];
    if (r.inode !== 0 && sameName(r.name, name)) return i;
  }
  return -1;
}

export function sameName(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * Writes a new entry into the space of record `r` (ext4_insert_dentry): a
 * live record is cut down to its own size and the entry takes the rest; an
 * unused record is taken whole. The new entry's header, name and padding are
 * written afresh, so no byte of an older name survives in them.
 */
export function insertIntoRecord(block: Uint8Array, layout: LeafLayout, r: DirEntry, e: LeafRecord): void {
  assert(recordRoom(r) >= dirEntrySize(e.name.length), () => `record at ${r.offset} has no room for a ${e.name.length}-byte name`);
  let off = r.offset;
  let recLen = r.recLen;
  if (r.inode !== 0) {
    const own = dirEntrySize(r.nameLen);
    writeU16LE(block, r.offset + 4, recLenToDisk(own, layout.blockSize));
    off += own;
    recLen -= own;
  }
  block.fill(0, off, off + dirEntrySize(e.name.length));
  encodeDirEntry({ inode: e.inode, recLen, fileType: layout.hasFileType ? e.fileType : 0, name: e.name }, block, off);
}

/**
 * Removes record `records[i]` (ext4_generic_delete_entry): it joins the
 * record before it in the block, or, when it is the first, becomes an
 * unused record of the same length. Its bytes are wiped, as Linux does, so
 * the deleted name does not linger on disk.
 */
export function deleteRecord(block: Uint8Array, layout: LeafLayout, records: readonly DirEntry[], i: number): void {
  const r = records[i];
  if (i > 0) {
    const prev = records[i - 1];
    assert(prev.offset + prev.recLen === r.offset, 'directory records out of order');
    writeU16LE(block, prev.offset + 4, recLenToDisk(prev.recLen + r.recLen, layout.blockSize));
    block.fill(0, r.offset, r.offset + r.recLen);
  } else {
    writeU32LE(block, r.offset, 0);
    block.fill(0, r.offset + 6, r.offset + r.recLen);
  }
}

/** Points record `r` at another inode (ext4_setent: rename over an existing name). */
export function repointRecord(block: Uint8Array, layout: LeafLayout, r: DirEntry, ino: number, fileType: number): void {
  writeU32LE(block, r.offset, ino);
  if (layout.hasFileType) block[r.offset + 7] = fileType;
}

/** Bytes the records take when packed (each at its minimal rec_len). */
export function packedSize(records: readonly { name: Uint8Array }[]): number {
  let n = 0;
  for (const r of records) n += dirEntrySize(r.name.length);
  return n;
}

/**
 * Rewrites the entry area as `records` packed in order, the last one
 * taking the rest of the area (dx_pack_dirents / dx_move_dirents); an empty
 * list leaves one unused record over the whole area. Everything else in the
 * area is zeroed.
 */
export function buildLeaf(block: Uint8Array, layout: LeafLayout, records: readonly LeafRecord[]): void {
  assert(packedSize(records) <= layout.end, 'records do not fit the directory block');
  block.fill(0, 0, layout.end);
  if (records.length === 0) {
    writeU16LE(block, 4, recLenToDisk(layout.end, layout.blockSize));
    return;
  }
  let off = 0;
  for (let i = 0; i < records.length; i++) {
    const e = records[i];
    const size = dirEntrySize(e.name.length);
    const recLen = i === records.length - 1 ? layout.end - off : size;
    encodeDirEntry({ inode: e.inode, recLen, fileType: layout.hasFileType ? e.fileType : 0, name: e.name }, block, off);
    off += size;
  }
}

/** The block's tail checksum (metadata_csum), after any change to its entries. */
export function sealLeaf(block: Uint8Array, layout: LeafLayout, dirCsumSeed: number): void {
  if (layout.csum) writeDirBlockChecksum(dirCsumSeed, block);
}
