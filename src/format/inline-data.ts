/**
 * inline_data: small files and directories stored inside the inode.
 *
 * The first 60 bytes live in i_block; anything beyond continues in the value
 * of the in-inode xattr "system.data" (name index 7, name "data"), which
 * exists, possibly empty, on every inline inode.
 *
 * An inline directory starts i_block with the parent's inode number (u32:
 * there are no "." and ".." entries), then entries tile the remaining 56
 * bytes; the system.data value, when not empty, is a second run of entries
 * tiling the whole value. Neither region has a checksum tail.
 *
 * Entry offsets returned here are positions in the inline address space:
 * i_block bytes 0..59, then the system.data value from 60 on.
 */
import { corrupted } from '../base/errors.js';
import { parseDirRegion, type DirEntry } from './dirent.js';
import { XATTR_INDEX_SYSTEM, type XattrEntry } from './xattr.js';

/** EXT4_MIN_INLINE_DATA_SIZE: bytes of i_block used for data */
export const EXT4_MIN_INLINE_DATA_SIZE = 60;
/** EXT4_INLINE_DOTDOT_SIZE: the parent inode number at the start of an inline directory */
export const EXT4_INLINE_DOTDOT_SIZE = 4;
/** The xattr holding the rest: system.data */
export const INLINE_DATA_NAME_INDEX = XATTR_INDEX_SYSTEM;
export const INLINE_DATA_NAME = 'data';

/** The system.data entry among an inode's in-inode attributes, if any. */
export function findSystemData(entries: readonly XattrEntry[]): XattrEntry | undefined {
  return entries.find(
    (e) => e.nameIndex === INLINE_DATA_NAME_INDEX && e.name.length === 4 &&
      e.name[0] === 0x64 && e.name[1] === 0x61 && e.name[2] === 0x74 && e.name[3] === 0x61,
  );
}

/**
 * The first `size` bytes of an inline file: i_block, then the system.data
 * value. A size beyond what the two hold is corruption.
 */
export function inlineDataBytes(iblock60: Uint8Array, systemDataValue: Uint8Array | undefined, size: number, ino?: number): Uint8Array {
  const extra = systemDataValue ?? new Uint8Array(0);
  const capacity = EXT4_MIN_INLINE_DATA_SIZE + extra.length;
  if (!Number.isSafeInteger(size) || size < 0 || size > capacity) {
    throw corrupted('inode', ino, `inline data size ${size} exceeds the ${capacity} bytes stored inline`);
  }
  const out = new Uint8Array(size);
  out.set(iblock60.subarray(0, Math.min(size, EXT4_MIN_INLINE_DATA_SIZE)));
  if (size > EXT4_MIN_INLINE_DATA_SIZE) out.set(extra.subarray(0, size - EXT4_MIN_INLINE_DATA_SIZE), EXT4_MIN_INLINE_DATA_SIZE);
  return out;
}

/** Splits inline contents into the 60 bytes for i_block (zero-padded) and the system.data value. */
export function splitInlineData(data: Uint8Array): { iblock: Uint8Array; systemData: Uint8Array } {
  const iblock = new Uint8Array(EXT4_MIN_INLINE_DATA_SIZE);
  iblock.set(data.subarray(0, EXT4_MIN_INLINE_DATA_SIZE));
  return { iblock, systemData: data.slice(EXT4_MIN_INLINE_DATA_SIZE) };
}

/**
 * An inline directory: its parent and its entries (live ones, in on-disk
 * order), checked like a directory block (`dirent.ts`).
 */
export function parseInlineDir(
  iblock: Uint8Array, systemData: Uint8Array | undefined, ino: number, hasFileType: boolean,
): { parent: number; entries: DirEntry[] } {
  if (iblock.length < EXT4_MIN_INLINE_DATA_SIZE) throw corrupted('inode', ino, `i_block of ${iblock.length} bytes`);
  const parent = (iblock[0] | (iblock[1] << 8) | (iblock[2] << 16) | (iblock[3] << 24)) >>> 0;
  if (parent === 0) throw corrupted('inode', ino, 'inline directory has parent inode 0');
  const opts = { hasFileType };
  const entries = parseDirRegion(iblock, EXT4_INLINE_DOTDOT_SIZE, EXT4_MIN_INLINE_DATA_SIZE, EXT4_MIN_INLINE_DATA_SIZE, { ino, region: 'inline i_block' }, opts)
    .filter((e) => e.inode !== 0);
  if (systemData !== undefined && systemData.length > 0) {
    for (const e of parseDirRegion(systemData, 0, systemData.length, systemData.length, { ino, region: 'inline system.data' }, opts)) {
      if (e.inode !== 0) entries.push({ ...e, offset: e.offset + EXT4_MIN_INLINE_DATA_SIZE });
    }
  }
  return { parent, entries };
}
