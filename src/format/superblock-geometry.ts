/**
 * What follows from a decoded superblock: geometry (block, cluster, group,
 * descriptor and inode sizes; where superblock copies are), its checksum,
 * the metadata checksum seed, and the label and UUID as text.
 */
import { assert } from '../base/assert.js';
import { crc32c } from './crc32c.js';
import { COMPAT_SPARSE_SUPER2, INCOMPAT_64BIT, INCOMPAT_CSUM_SEED, RO_COMPAT_SPARSE_SUPER } from './features.js';
import { cString, readU32LE, writeU32LE } from './le.js';
import { GOOD_OLD_FIRST_INO, GOOD_OLD_INODE_SIZE, GOOD_OLD_REV, SUPERBLOCK_CHECKSUM_OFFSET, SUPERBLOCK_OFFSET } from './superblock-constants.js';
import type { Superblock } from './superblock.js';

/** crc32c(~0) over the superblock bytes before s_checksum (`buf` starts at the superblock). */
export function superblockChecksum(buf: Uint8Array): number {
  return crc32c(~0, buf, 0, SUPERBLOCK_CHECKSUM_OFFSET);
}

export function verifySuperblockChecksum(buf: Uint8Array): boolean {
  return readU32LE(buf, SUPERBLOCK_CHECKSUM_OFFSET) === superblockChecksum(buf);
}

/** Recomputes and stores s_checksum in an encoded superblock; returns it. */
export function setSuperblockChecksum(buf: Uint8Array): number {
  const c = superblockChecksum(buf);
  writeU32LE(buf, SUPERBLOCK_CHECKSUM_OFFSET, c);
  return c;
}

export function blockSizeOf(sb: Superblock): number {
  return 1024 << sb.logBlockSize;
}

export function clusterSizeOf(sb: Superblock): number {
  return 1024 << sb.logClusterSize;
}

/** Blocks per allocation cluster (1 without bigalloc). */
export function clusterRatioOf(sb: Superblock): number {
  return 1 << (sb.logClusterSize - sb.logBlockSize);
}

export function groupCountOf(sb: Superblock): number {
  return Math.ceil((sb.blocksCount - sb.firstDataBlock) / sb.blocksPerGroup);
}

/** Group descriptor size: s_desc_size with 64bit, 32 bytes otherwise. */
export function descSizeOf(sb: Superblock): number {
  return (sb.featureIncompat & INCOMPAT_64BIT) !== 0 ? sb.descSize : 32;
}

/** Inode size: fixed at 128 bytes in revision 0. */
export function inodeSizeOf(sb: Superblock): number {
  return sb.revLevel === GOOD_OLD_REV ? GOOD_OLD_INODE_SIZE : sb.inodeSize;
}

/** First inode available to files: fixed at 11 in revision 0. */
export function firstInoOf(sb: Superblock): number {
  return sb.revLevel === GOOD_OLD_REV ? GOOD_OLD_FIRST_INO : sb.firstIno;
}

/** First block of a group (group 0 starts at s_first_data_block). */
export function groupFirstBlock(sb: Superblock, group: number): number {
  return sb.firstDataBlock + group * sb.blocksPerGroup;
}

/** Block holding the primary superblock: 1 with 1 KiB blocks, else 0 (it sits at byte 1024). */
export function superblockBlockOf(sb: Superblock): number {
  return Math.floor(SUPERBLOCK_OFFSET / blockSizeOf(sb));
}

function isPowerOf(n: number, base: number): boolean {
  let x = base;
  while (x < n) x *= base;
  return x === n;
}

/**
 * Whether a group starts with a superblock copy (and, outside meta_bg, the
 * descriptor table and reserved GDT blocks): every group without
 * sparse_super; with it, groups 0, 1 and powers of 3, 5 and 7; with
 * sparse_super2, group 0 and the (at most two) groups in s_backup_bgs.
 */
export function groupHasSuperblock(sb: Superblock, group: number): boolean {
  if (group === 0) return true;
  if ((sb.featureCompat & COMPAT_SPARSE_SUPER2) !== 0) {
    return group === sb.backupBgs[0] || group === sb.backupBgs[1];
  }
  if (group <= 1 || (sb.featureRoCompat & RO_COMPAT_SPARSE_SUPER) === 0) return true;
  if ((group & 1) === 0) return false;
  return isPowerOf(group, 3) || isPowerOf(group, 5) || isPowerOf(group, 7);
}

/**
 * Seed of every metadata checksum except the superblock's own: the stored
 * s_checksum_seed with metadata_csum_seed (which lets the UUID change
 * without rewriting every checksum), else crc32c(~0, uuid).
 */
export function fsChecksumSeed(sb: Superblock): number {
  if ((sb.featureIncompat & INCOMPAT_CSUM_SEED) !== 0) return sb.checksumSeed;
  return crc32c(~0, sb.uuid);
}

/** The volume label, as `e2label` shows it ('' when unset). */
export function volumeLabel(sb: Superblock): string {
  return cString(sb.volumeName);
}

/** The directory the filesystem was last mounted on ('' when never recorded). */
export function lastMountedPath(sb: Superblock): string {
  return cString(sb.lastMounted);
}

/** 16 bytes in the usual 8-4-4-4-12 lower-case form. */
export function uuidString(bytes: Uint8Array): string {
  assert(bytes.length === 16, 'a UUID is 16 bytes');
  let h = '';
  for (let i = 0; i < 16; i++) {
    h += bytes[i].toString(16).padStart(2, '0');
    if (i === 3 || i === 5 || i === 7 || i === 9) h += '-';
  }
  return h;
}

/** The hash seed words as the 16 bytes they occupy on disk (dumpe2fs prints them as a UUID). */
export function hashSeedBytes(sb: Superblock): Uint8Array {
  const out = new Uint8Array(16);
  for (let i = 0; i < 4; i++) writeU32LE(out, 4 * i, sb.hashSeed[i]);
  return out;
}
