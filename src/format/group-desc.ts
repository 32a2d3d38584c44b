/**
 * Block group descriptors (struct ext4_group_desc): 32 bytes each, or
 * s_desc_size (64 or more) with the 64bit feature, packed into the group
 * descriptor table right after the superblock's block (or, with meta_bg,
 * spread over the first block of each meta block group).
 *
 * Fields split into low and high halves are joined here; the high halves
 * exist only in descriptors of 64 bytes or more.
 */
import { assert } from '../base/assert.js';
import { corrupted } from '../base/errors.js';
import { crc16, crc16U32 } from './crc16.js';
import { crc32c, crc32cU32 } from './crc32c.js';
import { INCOMPAT_64BIT, INCOMPAT_META_BG, RO_COMPAT_GDT_CSUM, RO_COMPAT_METADATA_CSUM } from './features.js';
import { copyBytes, hi32, join64, lo32, readU16LE, readU32LE, writeU16LE, writeU32LE } from './le.js';
import {
  type Superblock,
  blockSizeOf,
  descSizeOf,
  groupCountOf,
  groupFirstBlock,
  groupHasSuperblock,
  superblockBlockOf,
} from './superblock.js';

/** bg_flags: inode table and bitmap not initialised (read as all free). */
export const BG_INODE_UNINIT = 0x0001;
/** bg_flags: block bitmap not initialised (computed from the group's metadata layout). */
export const BG_BLOCK_UNINIT = 0x0002;
/** bg_flags: the inode table has been zeroed. */
export const BG_INODE_ZEROED = 0x0004;

export const GROUP_DESC_SIZE = 32;
export const GROUP_DESC_SIZE_64BIT = 64;
/** Offset of bg_checksum, which its own checksum skips. */
const CHECKSUM_OFFSET = 0x1e;

export interface GroupDesc {
  /** bg_block_bitmap_lo | bg_block_bitmap_hi << 32 */
  blockBitmap: number;
  /** bg_inode_bitmap_lo | bg_inode_bitmap_hi << 32 */
  inodeBitmap: number;
  /** bg_inode_table_lo | bg_inode_table_hi << 32: first block of the group's inode table */
  inodeTable: number;
  /** bg_free_blocks_count_lo | _hi << 16 (counts clusters with bigalloc) */
  freeBlocksCount: number;
  /** bg_free_inodes_count_lo | _hi << 16 */
  freeInodesCount: number;
  /** bg_used_dirs_count_lo | _hi << 16 */
  usedDirsCount: number;
  /** bg_flags (BG_*) */
  flags: number;
  /** bg_exclude_bitmap_lo | _hi << 32 (snapshots, unused by Linux) */
  excludeBitmap: number;
  /** bg_block_bitmap_csum_lo | _hi << 16 (only the low half exists in 32-byte descriptors) */
  blockBitmapCsum: number;
  /** bg_inode_bitmap_csum_lo | _hi << 16 (only the low half exists in 32-byte descriptors) */
  inodeBitmapCsum: number;
  /** bg_itable_unused_lo | _hi << 16: inodes at the end of the table never used */
  itableUnused: number;
  /** bg_checksum: crc16 (gdt_csum) or low 16 bits of crc32c (metadata_csum) */
  checksum: number;
  /** bg_reserved (64-byte descriptors) */
  reserved: number;
  /** Bytes past the 64 defined ones when s_desc_size is larger, kept for exact round trips. */
  tail: Uint8Array;
}

function checkDescSize(descSize: number): void {
  assert(
    descSize === GROUP_DESC_SIZE || (descSize >= GROUP_DESC_SIZE_64BIT && descSize <= 1024 && (descSize & (descSize - 1)) === 0),
    () => `invalid group descriptor size ${descSize}`,
  );
}

/**
 * Decodes one descriptor of `descSize` bytes at the start of `buf` (use
 * `descSizeOf(sb)`). `group` only names the descriptor in errors.
 */
export function decodeGroupDesc(buf: Uint8Array, descSize: number, group?: number): GroupDesc {
  checkDescSize(descSize);
  assert(buf.length >= descSize, 'group descriptor buffer too small');
  const wide = descSize >= GROUP_DESC_SIZE_64BIT;
  const block = (loOff: number, hiOff: number, what: string): number => {
    const v = join64(readU32LE(buf, loOff), wide ? readU32LE(buf, hiOff) : 0);
    if (!Number.isSafeInteger(v)) throw corrupted('group descriptor', group, `${what} beyond 2^53`);
    return v;
  };
  const half = (loOff: number, hiOff: number): number =>
    readU16LE(buf, loOff) + (wide ? readU16LE(buf, hiOff) * 0x10000 : 0);
  return {
    blockBitmap: block(0x00, 0x20, 'block bitmap'),
    inodeBitmap: block(0x04, 0x24, 'inode bitmap'),
    inodeTable: block(0x08, 0x28, 'inode table'),
    freeBlocksCount: half(0x0c, 0x2c),
    freeInodesCount: half(0x0e, 0x2e),
    usedDirsCount: half(0x10, 0x30),
    flags: readU16LE(buf, 0x12),
    excludeBitmap: block(0x14, 0x34, 'exclude bitmap'),
    blockBitmapCsum: half(0x18, 0x38),
    inodeBitmapCsum: half(0x1a, 0x3a),
    itableUnused: half(0x1c, 0x32),
    checksum: readU16LE(buf, CHECKSUM_OFFSET),
    reserved: wide ? readU32LE(buf, 0x3c) : 0,
    tail: wide ? copyBytes(buf, GROUP_DESC_SIZE_64BIT, descSize - GROUP_DESC_SIZE_64BIT) : new Uint8Array(0),
  };
}

/**
 * Writes a descriptor into `buf[0, descSize)`. In 32-byte descriptors the
 * high halves have nowhere to go: block numbers and counts must then fit
 * the low half, while bitmap checksums are truncated to their low 16 bits
 * as the kernel does. bg_checksum is written as given; see
 * `setGroupDescChecksum`.
 */
export function encodeGroupDesc(gd: GroupDesc, buf: Uint8Array, descSize: number): void {
  checkDescSize(descSize);
  assert(buf.length >= descSize, 'group descriptor buffer too small');
  const wide = descSize >= GROUP_DESC_SIZE_64BIT;
  const block = (loOff: number, hiOff: number, v: number, what: string): void => {
    assert(Number.isSafeInteger(v) && v >= 0 && (wide || v < 2 ** 32), () => `${what} ${v} does not fit a ${descSize}-byte descriptor`);
    writeU32LE(buf, loOff, lo32(v));
    if (wide) writeU32LE(buf, hiOff, hi32(v));
  };
  const half = (loOff: number, hiOff: number, v: number, what: string): void => {
    assert(Number.isInteger(v) && v >= 0 && v < 2 ** 32 && (wide || v < 0x10000), () => `${what} ${v} does not fit a ${descSize}-byte descriptor`);
    writeU16LE(buf, loOff, v & 0xffff);
    if (wide) writeU16LE(buf, hiOff, v >>> 16);
  };
  block(0x00, 0x20, gd.blockBitmap, 'block bitmap');
  block(0x04, 0x24, gd.inodeBitmap, 'inode bitmap');
  block(0x08, 0x28, gd.inodeTable, 'inode table');
  half(0x0c, 0x2c, gd.freeBlocksCount, 'free blocks count');
  half(0x0e, 0x2e, gd.freeInodesCount, 'free inodes count');
  half(0x10, 0x30, gd.usedDirsCount, 'used directories count');
  writeU16LE(buf, 0x12, gd.flags);
  block(0x14, 0x34, gd.excludeBitmap, 'exclude bitmap');
  half(0x18, 0x38, wide ? gd.blockBitmapCsum >>> 0 : gd.blockBitmapCsum & 0xffff, 'block bitmap checksum');
  half(0x1a, 0x3a, wide ? gd.inodeBitmapCsum >>> 0 : gd.inodeBitmapCsum & 0xffff, 'inode bitmap checksum');
  half(0x1c, 0x32, gd.itableUnused, 'unused inode count');
  writeU16LE(buf, CHECKSUM_OFFSET, gd.checksum);
  if (wide) {
    writeU32LE(buf, 0x3c, gd.reserved);
    assert(gd.tail.length === descSize - GROUP_DESC_SIZE_64BIT, 'group descriptor tail length does not match the descriptor size');
    buf.set(gd.tail, GROUP_DESC_SIZE_64BIT);
  }
}

/**
 * The checksum a descriptor should carry in bg_checksum, computed from its
 * encoded bytes (`descBytes` starts at the descriptor; bg_checksum itself is
 * skipped):
 *  - metadata_csum: low 16 bits of crc32c(fsSeed, le32 group, descriptor);
 *  - gdt_csum: crc16(~0, uuid, le32 group, descriptor), where the bytes
 *    after bg_checksum count only with 64bit (older kernels stopped there);
 *  - neither: undefined (descriptors are not checksummed).
 */
export function groupDescChecksum(sb: Superblock, fsSeed: number, group: number, descBytes: Uint8Array): number | undefined {
  const descSize = descSizeOf(sb);
  assert(descBytes.length >= descSize, 'group descriptor buffer too small');
  const after = CHECKSUM_OFFSET + 2;
  if ((sb.featureRoCompat & RO_COMPAT_METADATA_CSUM) !== 0) {
    let c = crc32cU32(fsSeed, group);
    c = crc32c(c, descBytes, 0, CHECKSUM_OFFSET);
    c = crc32c(c, ZERO16, 0, 2);
    if (after < descSize) c = crc32c(c, descBytes, after, descSize);
    return c & 0xffff;
  }
  if ((sb.featureRoCompat & RO_COMPAT_GDT_CSUM) !== 0) {
    let c = crc16(0xffff, sb.uuid);
    c = crc16U32(c, group);
    c = crc16(c, descBytes, 0, CHECKSUM_OFFSET);
    if ((sb.featureIncompat & INCOMPAT_64BIT) !== 0 && after < descSize) c = crc16(c, descBytes, after, descSize);
    return c;
  }
  return undefined;
}

const ZERO16 = new Uint8Array(2);

/** True when the stored bg_checksum matches, or when the filesystem has no descriptor checksums. */
export function verifyGroupDescChecksum(sb: Superblock, fsSeed: number, group: number, descBytes: Uint8Array): boolean {
  const want = groupDescChecksum(sb, fsSeed, group, descBytes);
  return want === undefined || readU16LE(descBytes, CHECKSUM_OFFSET) === want;
}

/** Recomputes bg_checksum of an encoded descriptor in place (no-op without checksums); returns it. */
export function setGroupDescChecksum(sb: Superblock, fsSeed: number, group: number, descBytes: Uint8Array): number | undefined {
  const c = groupDescChecksum(sb, fsSeed, group, descBytes);
  if (c !== undefined) writeU16LE(descBytes, CHECKSUM_OFFSET, c);
  return c;
}

/** Descriptors per block. */
export function descPerBlockOf(sb: Superblock): number {
  return blockSizeOf(sb) / descSizeOf(sb);
}

/** Number of blocks the whole descriptor table occupies. */
export function groupDescBlockCount(sb: Superblock): number {
  return Math.ceil(groupCountOf(sb) / descPerBlockOf(sb));
}

/**
 * Block number of the primary copy of descriptor block `descBlockIndex`
 * (descriptors of groups [index * descPerBlock, (index + 1) * descPerBlock)).
 *
 * Without meta_bg, and for the blocks before s_first_meta_bg, the table is
 * contiguous right after the superblock's block. With meta_bg the groups
 * are split into meta groups of descPerBlock groups, each holding its own
 * descriptor block in its first group, after that group's superblock
 * backup if it has one.
 */
export function groupDescBlock(sb: Superblock, descBlockIndex: number): number {
  const sbBlock = superblockBlockOf(sb);
  if ((sb.featureIncompat & INCOMPAT_META_BG) === 0 || descBlockIndex < sb.firstMetaBg) {
    return sbBlock + 1 + descBlockIndex;
  }
  const firstGroup = descPerBlockOf(sb) * descBlockIndex;
  let offset = groupHasSuperblock(sb, firstGroup) ? 1 : 0;
  // 1 KiB blocks with s_first_data_block 0 (bigalloc): group 0 starts at block 0 but the superblock is in block 1.
  if (descBlockIndex === 0 && blockSizeOf(sb) === 1024 && sb.firstDataBlock === 0) offset++;
  return groupFirstBlock(sb, firstGroup) + offset;
}

/** Where a group's descriptor lives: block of the primary table and byte offset in it. */
export function groupDescLocation(sb: Superblock, group: number): { block: number; offset: number } {
  const perBlock = descPerBlockOf(sb);
  const index = Math.floor(group / perBlock);
  return { block: groupDescBlock(sb, index), offset: (group % perBlock) * descSizeOf(sb) };
}
