/**
 * Block and inode bitmaps: one block each per group, bit i (least
 * significant bit first within each byte) set when cluster / inode i of the
 * group is in use.
 *
 * With metadata_csum each bitmap's crc32c is kept in its group descriptor.
 * Only the bits that describe the group are covered (clusters_per_group /
 * inodes_per_group bits), not the whole block, and the group number is not
 * mixed in: the descriptor's own checksum ties the two together.
 */
import { assert } from '../base/assert.js';
import { crc32c } from './crc32c.js';
import { GROUP_DESC_SIZE_64BIT } from './group-desc.js';

/** crc32c(fsSeed) over the first clustersPerGroup / 8 bytes of a block bitmap. */
export function blockBitmapChecksum(fsSeed: number, bitmap: Uint8Array, clustersPerGroup: number): number {
  const len = clustersPerGroup >>> 3;
  assert(bitmap.length >= len, 'block bitmap shorter than a group');
  return crc32c(fsSeed, bitmap, 0, len);
}

/** crc32c(fsSeed) over the first inodesPerGroup / 8 bytes of an inode bitmap. */
export function inodeBitmapChecksum(fsSeed: number, bitmap: Uint8Array, inodesPerGroup: number): number {
  const len = inodesPerGroup >>> 3;
  assert(bitmap.length >= len, 'inode bitmap shorter than a group');
  return crc32c(fsSeed, bitmap, 0, len);
}

/**
 * Compares a checksum stored in a descriptor with a computed one: 32-byte
 * descriptors have room for the low 16 bits only.
 */
export function bitmapChecksumMatches(stored: number, computed: number, descSize: number): boolean {
  if (descSize >= GROUP_DESC_SIZE_64BIT) return stored >>> 0 === computed >>> 0;
  return (stored & 0xffff) === (computed & 0xffff);
}

export function testBit(bitmap: Uint8Array, i: number): boolean {
  return (bitmap[i >>> 3] & (1 << (i & 7))) !== 0;
}

export function setBit(bitmap: Uint8Array, i: number): void {
  bitmap[i >>> 3] |= 1 << (i & 7);
}

export function clearBit(bitmap: Uint8Array, i: number): void {
  bitmap[i >>> 3] &= ~(1 << (i & 7));
}
