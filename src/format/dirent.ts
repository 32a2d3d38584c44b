/**
 * Linear directory blocks: a chain of ext4_dir_entry_2 records that tile the
 * block exactly.
 *
 *   inode u32 | rec_len u16 | name_len u8 | file_type u8 | name[name_len], padded to 4
 *
 * An entry with inode 0 is unused space (a deleted entry, or the empty head of
 * a block). rec_len covers the entry and any free space after it. With
 * metadata_csum the last 12 bytes of a block are a fake entry (inode 0,
 * rec_len 12, name_len 0, file_type 0xDE) holding a crc32c of the block
 * before it: ext4_dir_entry_tail.
 *
 * Without the filetype feature the byte after name_len is the high byte of an
 * older 16-bit name_len; since names are at most 255 bytes Linux ignores it,
 * and so do we (the file type reads as unknown).
 *
 * Round trip: re-encoding every record (`parseDirRecords`) onto a zeroed
 * block reproduces the block except the padding after each name and the
 * bytes of free space, which carry no meaning (old names of deleted entries
 * are kept in the record and do come back).
 */
import { corrupted } from '../base/errors.js';
import { assert } from '../base/assert.js';
import { crc32c } from './crc32c.js';
import { readU16LE, readU32LE, writeU16LE, writeU32LE } from './le.js';

export const EXT4_FT_UNKNOWN = 0;
export const EXT4_FT_REG_FILE = 1;
export const EXT4_FT_DIR = 2;
export const EXT4_FT_CHRDEV = 3;
export const EXT4_FT_BLKDEV = 4;
export const EXT4_FT_FIFO = 5;
export const EXT4_FT_SOCK = 6;
export const EXT4_FT_SYMLINK = 7;
/** file_type of the checksum tail (det_reserved_ft). */
export const EXT4_FT_DIR_CSUM = 0xde;
/** EXT4_NAME_LEN */
export const EXT4_NAME_LEN = 255;
/** Size of the fixed part of an entry. */
export const DIRENT_HEADER_SIZE = 8;
/** sizeof(struct ext4_dir_entry_tail) */
export const DIR_TAIL_SIZE = 12;
/** EXT4_MAX_REC_LEN: how a 65536-byte rec_len is stored. */
const EXT4_MAX_REC_LEN = 0xffff;

export interface DirEntry {
  /** inode: 0 for unused space */
  inode: number;
  /** rec_len, decoded (ext4_rec_len_from_disk) */
  recLen: number;
  /** name_len */
  nameLen: number;
  /** file_type (0 when the file system lacks the filetype feature) */
  fileType: number;
  /** name bytes (a copy) */
  name: Uint8Array;
  /** Byte offset of the entry in its block (or inline region) */
  offset: number;
}

/** Where a block came from, for error messages. */
export interface DirBlockWhere {
  ino: number;
  /** Logical block in the directory */
  lblk?: number;
  /** Physical block */
  blockNr?: number;
  /** Names the region instead of a block (inline directories: 'i_block', 'system.data') */
  region?: string;
}

export interface DirBlockOptions {
  /** The filetype feature: the byte after name_len is the file type. */
  hasFileType: boolean;
  /** metadata_csum: the block should end with a checksum tail. */
  hasTail: boolean;
  /** s_inodes_count, to reject entries naming inodes that cannot exist. */
  inodesCount?: number;
}


/** Bytes an entry with an n-byte name needs: round_up(8 + n, 4) (ext4_dir_rec_len without casefold hashes). */
export function dirEntrySize(nameLen: number): number {
  return (DIRENT_HEADER_SIZE + nameLen + 3) & ~3;
}

/**
 * rec_len is 16 bits, too small for a 65536-byte block. Blocks of 64 KiB and
 * more store 65536 as 0xFFFF (or 0) and fold bits 16-17 into the two low
 * bits, which are otherwise always 0 (ext4_rec_len_from_disk; e2fsprogs keys
 * it on the block size, as we do).
 */
export function recLenFromDisk(raw: number, blockSize: number): number {
  if (blockSize < 65536) return raw;
  if (raw === EXT4_MAX_REC_LEN || raw === 0) return blockSize;
  return (raw & 0xfffc) | ((raw & 3) << 16);
}

/** Inverse of `recLenFromDisk` (ext4_rec_len_to_disk). */
export function recLenToDisk(len: number, blockSize: number): number {
  assert(len <= blockSize && (len & 3) === 0 && blockSize <= 1 << 18, () => `rec_len ${len} for block size ${blockSize}`);
  if (blockSize < 65536 || len < 65536) return len;
  if (len === blockSize) return blockSize === 65536 ? EXT4_MAX_REC_LEN : 0;
  return (len & 0xfffc) | ((len >>> 16) & 3);
}

function describe(where: DirBlockWhere): { structure: string; number: number; prefix: string } {
  const l = where.region ?? (where.lblk !== undefined ? `logical block ${where.lblk}` : 'block');
  if (where.blockNr !== undefined) {
    return { structure: 'directory block', number: where.blockNr, prefix: `inode ${where.ino} ${l}, ` };
  }
  return { structure: 'inode', number: where.ino, prefix: `directory ${l}, ` };
}

function dirFail(where: DirBlockWhere, offset: number, what: string): Error {
  const d = describe(where);
  return corrupted(d.structure, d.number, `${d.prefix}entry at offset ${offset}: ${what}`);
}

/**
 * Walks the records in buf[start, end) and checks each like the kernel's
 * ext4_check_dir_entry plus e2fsck's name rules. `blockSize` selects the
 * rec_len encoding. Returns every record, live or not.
 */
export function parseDirRegion(
  buf: Uint8Array, start: number, end: number, blockSize: number,
  where: DirBlockWhere, opts: { hasFileType: boolean; inodesCount?: number },
): DirEntry[] {
  assert(start >= 0 && start <= end && end <= buf.length, 'directory region outside its buffer');
  const out: DirEntry[] = [];
  let off = start;
  while (off < end) {
    if (end - off < DIRENT_HEADER_SIZE + 4) throw dirFail(where, off, `only ${end - off} bytes left, too few for an entry`);
    const inode = readU32LE(buf, off);
    const recLen = recLenFromDisk(readU16LE(buf, off + 4), blockSize);
    const nameLen = buf[off + 6];
    const fileType = opts.hasFileType ? buf[off + 7] : 0;
    if (recLen < dirEntrySize(1)) throw dirFail(where, off, `rec_len ${recLen} is smaller than the minimum 12`);
    if (recLen % 4 !== 0) throw dirFail(where, off, `rec_len ${recLen} is not a multiple of 4`);
    if (recLen < dirEntrySize(nameLen)) throw dirFail(where, off, `rec_len ${recLen} is too small for name_len ${nameLen}`);
    const next = off + recLen;
    if (next > end) throw dirFail(where, off, `rec_len ${recLen} runs past the end of the block (${end})`);
    // A gap under 12 bytes at the end could never hold an entry: the kernel
    // treats it as corruption rather than silently losing it.
    if (next !== end && end - next < dirEntrySize(1)) {
      throw dirFail(where, off, `rec_len ${recLen} leaves ${end - next} bytes, too few for another entry`);
    }
    if (inode !== 0) {
      if (nameLen === 0) throw dirFail(where, off, 'live entry with name_len 0');
      for (let i = off + DIRENT_HEADER_SIZE, e = i + nameLen; i < e; i++) {
        const c = buf[i];
        if (c === 0 || c === 0x2f) throw dirFail(where, off, `name contains ${c === 0 ? 'NUL' : "'/'"}`);
      }
      if (opts.inodesCount !== undefined && inode > opts.inodesCount) {
        throw dirFail(where, off, `inode ${inode} beyond the inode count ${opts.inodesCount}`);
      }
    }
    const name = buf.slice(off + DIRENT_HEADER_SIZE, off + DIRENT_HEADER_SIZE + nameLen);
    out.push({ inode, recLen, nameLen, fileType, name, offset: off });
    off = next;
  }
  return out;
}

/** End of the entry area: before the tail when the block has one. */
function entriesEnd(block: Uint8Array, hasTail: boolean): number {
  // With metadata_csum but no tail in place (a block written without
  // checksums) the entries may cover the whole block; the checksum check
  // (`verifyDirBlock`) is what reports the missing tail.
  return hasTail && hasDirTail(block) ? block.length - DIR_TAIL_SIZE : block.length;
}

/** Every record of a block in on-disk order, including unused ones (inode 0), excluding the tail. */
export function parseDirRecords(block: Uint8Array, where: DirBlockWhere, opts: DirBlockOptions): DirEntry[] {
  return parseDirRegion(block, 0, entriesEnd(block, opts.hasTail), block.length, where, opts);
}

/** The live entries (inode != 0) of a block, in on-disk order. */
export function parseDirBlock(block: Uint8Array, where: DirBlockWhere, opts: DirBlockOptions): DirEntry[] {
  return parseDirRecords(block, where, opts).filter((e) => e.inode !== 0);
}

/** Whether the last 12 bytes are a well-formed ext4_dir_entry_tail (the kernel's get_dirent_tail test). */
export function hasDirTail(block: Uint8Array): boolean {
  if (block.length < DIR_TAIL_SIZE) return false;
  const t = block.length - DIR_TAIL_SIZE;
  return (
    readU32LE(block, t) === 0 &&
    recLenFromDisk(readU16LE(block, t + 4), block.length) === DIR_TAIL_SIZE &&
    block[t + 6] === 0 &&
    block[t + 7] === EXT4_FT_DIR_CSUM
  );
}

/** crc32c of the block before its tail (ext4_dirblock_csum). */
export function dirBlockTailChecksum(inodeSeed: number, block: Uint8Array): number {
  assert(block.length > DIR_TAIL_SIZE, 'directory block too small for a tail');
  return crc32c(inodeSeed, block, 0, block.length - DIR_TAIL_SIZE);
}

/** True when the block has a tail and its det_checksum matches. */
export function verifyDirBlock(inodeSeed: number, block: Uint8Array): boolean {
  if (!hasDirTail(block)) return false;
  return readU32LE(block, block.length - 4) === dirBlockTailChecksum(inodeSeed, block);
}

/**
 * Writes one entry at `offset`: header and name; the padding and free space
 * after the name are left as they are. `buf` must be the whole block (its
 * length selects the rec_len encoding) or an inline region.
 */
export function encodeDirEntry(
  e: Pick<DirEntry, 'inode' | 'recLen' | 'fileType' | 'name'> & { nameLen?: number }, buf: Uint8Array, offset: number,
): void {
  const nameLen = e.nameLen ?? e.name.length;
  assert(nameLen <= EXT4_NAME_LEN && nameLen <= e.name.length, () => `name length ${nameLen}`);
  assert(e.recLen >= dirEntrySize(nameLen) && offset + e.recLen <= buf.length, () => `rec_len ${e.recLen} at ${offset}`);
  writeU32LE(buf, offset, e.inode);
  writeU16LE(buf, offset + 4, recLenToDisk(e.recLen, buf.length));
  buf[offset + 6] = nameLen;
  buf[offset + 7] = e.fileType;
  buf.set(e.name.subarray(0, nameLen), offset + DIRENT_HEADER_SIZE);
}

/** Writes the 12-byte checksum tail at the end of the block. */
export function writeDirTail(block: Uint8Array, csum: number): void {
  const t = block.length - DIR_TAIL_SIZE;
  writeU32LE(block, t, 0);
  writeU16LE(block, t + 4, recLenToDisk(DIR_TAIL_SIZE, block.length));
  block[t + 6] = 0;
  block[t + 7] = EXT4_FT_DIR_CSUM;
  writeU32LE(block, t + 8, csum);
}

/** Computes the checksum of the block and writes the tail. */
export function writeDirBlockChecksum(inodeSeed: number, block: Uint8Array): void {
  writeDirTail(block, 0);
  writeDirTail(block, dirBlockTailChecksum(inodeSeed, block));
}
