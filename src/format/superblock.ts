/**
 * The ext4 superblock (struct ext4_super_block): 1024 bytes at byte offset
 * 1024 of the device, whatever the block size. Backups sit at the start of
 * some block groups (see `groupHasSuperblock`).
 *
 * Every byte of the structure is captured, including fields ext4kit does
 * not use and padding that is supposed to be zero, so that decode followed
 * by encode onto a zeroed buffer reproduces the original exactly: writing
 * back a superblock must never silently clear something a newer kernel
 * stored there.
 */
import { corrupted } from '../base/errors.js';
import { assert } from '../base/assert.js';
import {
  INCOMPAT_64BIT,
  INCOMPAT_META_BG,
  RO_COMPAT_BIGALLOC,
  RO_COMPAT_METADATA_CSUM,
} from './features.js';
import {
  copyBytes,
  hi32,
  join64,
  lo32,
  readS16LE,
  readU16LE,
  readU32LE,
  readU64LEBig,
  writeU16LE,
  writeU32LE,
  writeU64LEBig,
} from './le.js';
import {
  CHECKSUM_TYPE_CRC32C, EXT4_SUPER_MAGIC, GOOD_OLD_FIRST_INO, GOOD_OLD_INODE_SIZE, GOOD_OLD_REV,
  SUPERBLOCK_CHECKSUM_OFFSET, SUPERBLOCK_SIZE,
} from './superblock-constants.js';
import { descSizeOf, groupCountOf, inodeSizeOf } from './superblock-geometry.js';

// The superblock's constants and derived values live in their own files;
// they are re-exported so `superblock.js` stays the one place to import from.
export * from './superblock-constants.js';
export * from './superblock-geometry.js';

/** Largest block size ext4 defines (64 KiB: log_block_size 6). */
const MAX_LOG_BLOCK_SIZE = 6;
/** Largest bigalloc cluster the kernel accepts: 1 GiB, i.e. 2^(10 + 20). */
const MAX_LOG_CLUSTER_SIZE = 20;
const MIN_DESC_SIZE_64BIT = 64;
const MAX_DESC_SIZE = 1024;

export interface Superblock {
  /** s_inodes_count */
  inodesCount: number;
  /** s_blocks_count_lo | s_blocks_count_hi << 32 (the high word only with 64bit) */
  blocksCount: number;
  /** s_r_blocks_count_lo | s_r_blocks_count_hi << 32: blocks only root (or resuid/resgid) may use */
  reservedBlocksCount: number;
  /** s_free_blocks_count_lo | s_free_blocks_hi << 32 */
  freeBlocksCount: number;
  /** s_free_inodes_count */
  freeInodesCount: number;
  /** s_first_data_block: 1 for 1 KiB blocks (block 0 holds the boot sector), else 0 */
  firstDataBlock: number;
  /** s_log_block_size: block size is 1024 << this */
  logBlockSize: number;
  /** s_log_cluster_size: cluster size is 1024 << this (equals logBlockSize without bigalloc) */
  logClusterSize: number;
  /** s_blocks_per_group */
  blocksPerGroup: number;
  /** s_clusters_per_group */
  clustersPerGroup: number;
  /** s_inodes_per_group */
  inodesPerGroup: number;
  /** s_mtime | s_mtime_hi << 32: last mount, seconds since the epoch */
  mountTime: number;
  /** s_wtime | s_wtime_hi << 32: last write */
  writeTime: number;
  /** s_mnt_count: mounts since the last check */
  mountCount: number;
  /** s_max_mnt_count (signed; -1 disables the mount-count check) */
  maxMountCount: number;
  /** s_magic */
  magic: number;
  /** s_state (STATE_*) */
  state: number;
  /** s_errors (ERRORS_*) */
  errors: number;
  /** s_minor_rev_level */
  minorRevLevel: number;
  /** s_lastcheck | s_lastcheck_hi << 32 */
  lastCheck: number;
  /** s_checkinterval: seconds between forced checks */
  checkInterval: number;
  /** s_creator_os (OS_*) */
  creatorOs: number;
  /** s_rev_level */
  revLevel: number;
  /** s_def_resuid: uid allowed to use reserved blocks */
  defResuid: number;
  /** s_def_resgid */
  defResgid: number;
  /** s_first_ino: first non-reserved inode (dynamic revision only; see `firstInoOf`) */
  firstIno: number;
  /** s_inode_size (dynamic revision only; see `inodeSizeOf`) */
  inodeSize: number;
  /** s_block_group_nr: the group this copy of the superblock lives in */
  blockGroupNr: number;
  /** s_feature_compat */
  featureCompat: number;
  /** s_feature_incompat */
  featureIncompat: number;
  /** s_feature_ro_compat */
  featureRoCompat: number;
  /** s_uuid */
  uuid: Uint8Array;
  /** s_volume_name: raw, NUL padded (see `volumeLabel`) */
  volumeName: Uint8Array;
  /** s_last_mounted: raw, NUL padded */
  lastMounted: Uint8Array;
  /** s_algorithm_usage_bitmap (compression, never used) */
  algorithmUsageBitmap: number;
  /** s_prealloc_blocks */
  preallocBlocks: number;
  /** s_prealloc_dir_blocks */
  preallocDirBlocks: number;
  /** s_reserved_gdt_blocks: GDT blocks reserved per backup for online growth */
  reservedGdtBlocks: number;
  /** s_journal_uuid */
  journalUuid: Uint8Array;
  /** s_journal_inum */
  journalInum: number;
  /** s_journal_dev: device number of an external journal */
  journalDev: number;
  /** s_last_orphan: head of the orphan inode list (linked through i_dtime) */
  lastOrphan: number;
  /** s_hash_seed: the four 32-bit words seeding htree directory hashes */
  hashSeed: Uint32Array;
  /** s_def_hash_version (DX_HASH_* in dirhash.ts) */
  defHashVersion: number;
  /** s_jnl_backup_type */
  jnlBackupType: number;
  /** s_desc_size: group descriptor size, meaningful only with 64bit (see `descSizeOf`) */
  descSize: number;
  /** s_default_mount_opts (DEFM_*) */
  defaultMountOpts: number;
  /** s_first_meta_bg: first descriptor block laid out as meta_bg */
  firstMetaBg: number;
  /** s_mkfs_time | s_mkfs_time_hi << 32 */
  mkfsTime: number;
  /** s_jnl_blocks: i_block[0..14] of the journal inode, then i_size_high, then i_size */
  jnlBlocks: Uint32Array;
  /** s_min_extra_isize: every inode has at least this much extra space */
  minExtraIsize: number;
  /** s_want_extra_isize: new inodes should get this much */
  wantExtraIsize: number;
  /** s_flags (FLAGS_*) */
  flags: number;
  /** s_raid_stride */
  raidStride: number;
  /** s_mmp_update_interval: seconds between MMP block updates */
  mmpUpdateInterval: number;
  /** s_mmp_block */
  mmpBlock: number;
  /** s_raid_stripe_width */
  raidStripeWidth: number;
  /** s_log_groups_per_flex: a flex group is 2^this block groups */
  logGroupsPerFlex: number;
  /** s_checksum_type (CHECKSUM_TYPE_CRC32C) */
  checksumType: number;
  /** s_encryption_level */
  encryptionLevel: number;
  /** s_reserved_pad */
  reservedPad: number;
  /** s_kbytes_written: lifetime writes in KiB */
  kbytesWritten: bigint;
  /** s_snapshot_inum */
  snapshotInum: number;
  /** s_snapshot_id */
  snapshotId: number;
  /** s_snapshot_r_blocks_count */
  snapshotRBlocksCount: bigint;
  /** s_snapshot_list */
  snapshotList: number;
  /** s_error_count */
  errorCount: number;
  /** s_first_error_time | s_first_error_time_hi << 32 */
  firstErrorTime: number;
  /** s_first_error_ino */
  firstErrorIno: number;
  /** s_first_error_block */
  firstErrorBlock: bigint;
  /** s_first_error_func: raw, NUL padded */
  firstErrorFunc: Uint8Array;
  /** s_first_error_line */
  firstErrorLine: number;
  /** s_last_error_time | s_last_error_time_hi << 32 */
  lastErrorTime: number;
  /** s_last_error_ino */
  lastErrorIno: number;
  /** s_last_error_line */
  lastErrorLine: number;
  /** s_last_error_block */
  lastErrorBlock: bigint;
  /** s_last_error_func: raw, NUL padded */
  lastErrorFunc: Uint8Array;
  /** s_mount_opts: raw, NUL padded */
  mountOpts: Uint8Array;
  /** s_usr_quota_inum */
  usrQuotaInum: number;
  /** s_grp_quota_inum */
  grpQuotaInum: number;
  /** s_overhead_clusters: metadata overhead, 0 when the kernel must compute it */
  overheadClusters: number;
  /** s_backup_bgs: the two backup groups with sparse_super2 */
  backupBgs: Uint32Array;
  /** s_encrypt_algos */
  encryptAlgos: Uint8Array;
  /** s_encrypt_pw_salt */
  encryptPwSalt: Uint8Array;
  /** s_lpf_ino: lost+found inode */
  lpfIno: number;
  /** s_prj_quota_inum */
  prjQuotaInum: number;
  /** s_checksum_seed: crc32c(~0, original uuid), used with metadata_csum_seed */
  checksumSeed: number;
  /** s_first_error_errcode */
  firstErrorErrcode: number;
  /** s_last_error_errcode */
  lastErrorErrcode: number;
  /** s_encoding: filename charset for casefold (1 = utf8) */
  encoding: number;
  /** s_encoding_flags */
  encodingFlags: number;
  /** s_orphan_file_inum */
  orphanFileInum: number;
  /**
   * s_reserved: padding up to the checksum. Kept raw: newer kernels carve
   * fields out of its start (e.g. 16-bit high halves of def_resuid/resgid).
   */
  reserved: Uint32Array;
  /** s_checksum: crc32c(~0, bytes 0..1019) with metadata_csum */
  checksum: number;
  /**
   * High words of the three block counters as found on disk when the
   * 64bit feature is off. ext4 ignores them then, so they are not folded
   * into the counts, but they are written back unchanged for exactness.
   */
  ignoredHighWords: { blocksCount: number; reservedBlocksCount: number; freeBlocksCount: number };
}

/** Combines a 64-bit field split in two, failing on values a JS number cannot hold exactly. */
function joinChecked(lo: number, hi: number, field: string): number {
  const v = join64(lo, hi);
  if (!Number.isSafeInteger(v)) throw corrupted('superblock', undefined, `${field} ${hi}:${lo} exceeds 2^53`);
  return v;
}

/** Time field whose high 8 bits live elsewhere (the *_hi bytes added for dates past 2038). */
function joinTime(lo: number, hi8: number): number {
  return hi8 * 0x1_0000_0000 + lo;
}

function u32s(buf: Uint8Array, off: number, n: number): Uint32Array {
  const out = new Uint32Array(n);
  for (let i = 0; i < n; i++) out[i] = readU32LE(buf, off + 4 * i);
  return out;
}

/**
 * Decodes the 1024 superblock bytes (`buf` starts at the superblock). Throws
 * EFSCORRUPTED on a bad magic number or on geometry no valid filesystem can
 * have (the checks the kernel makes before trusting anything else). The
 * checksum is not checked here: see `verifySuperblockChecksum`.
 */
export function decodeSuperblock(buf: Uint8Array): Superblock {
  if (buf.length < SUPERBLOCK_SIZE) {
    throw corrupted('superblock', undefined, `only ${buf.length} bytes, need ${SUPERBLOCK_SIZE}`);
  }
  const magic = readU16LE(buf, 0x38);
  if (magic !== EXT4_SUPER_MAGIC) {
    throw corrupted('superblock', undefined, `bad magic 0x${magic.toString(16)} (not an ext2/3/4 filesystem)`);
  }
  const featureIncompat = readU32LE(buf, 0x60);
  const is64 = (featureIncompat & INCOMPAT_64BIT) !== 0;
  const blocksHi = readU32LE(buf, 0x150);
  const rBlocksHi = readU32LE(buf, 0x154);
  const freeBlocksHi = readU32LE(buf, 0x158);

  const sb: Superblock = {
    inodesCount: readU32LE(buf, 0x00),
    blocksCount: joinChecked(readU32LE(buf, 0x04), is64 ? blocksHi : 0, 'blocks count'),
    reservedBlocksCount: joinChecked(readU32LE(buf, 0x08), is64 ? rBlocksHi : 0, 'reserved blocks count'),
    freeBlocksCount: joinChecked(readU32LE(buf, 0x0c), is64 ? freeBlocksHi : 0, 'free blocks count'),
    freeInodesCount: readU32LE(buf, 0x10),
    firstDataBlock: readU32LE(buf, 0x14),
    logBlockSize: readU32LE(buf, 0x18),
    logClusterSize: readU32LE(buf, 0x1c),
    blocksPerGroup: readU32LE(buf, 0x20),
    clustersPerGroup: readU32LE(buf, 0x24),
    inodesPerGroup: readU32LE(buf, 0x28),
    mountTime: joinTime(readU32LE(buf, 0x2c), buf[0x275]),
    writeTime: joinTime(readU32LE(buf, 0x30), buf[0x274]),
    mountCount: readU16LE(buf, 0x34),
    maxMountCount: readS16LE(buf, 0x36),
    magic,
    state: readU16LE(buf, 0x3a),
    errors: readU16LE(buf, 0x3c),
    minorRevLevel: readU16LE(buf, 0x3e),
    lastCheck: joinTime(readU32LE(buf, 0x40), buf[0x277]),
    checkInterval: readU32LE(buf, 0x44),
    creatorOs: readU32LE(buf, 0x48),
    revLevel: readU32LE(buf, 0x4c),
    defResuid: readU16LE(buf, 0x50),
    defResgid: readU16LE(buf, 0x52),
    firstIno: readU32LE(buf, 0x54),
    inodeSize: readU16LE(buf, 0x58),
    blockGroupNr: readU16LE(buf, 0x5a),
    featureCompat: readU32LE(buf, 0x5c),
    featureIncompat,
    featureRoCompat: readU32LE(buf, 0x64),
    uuid: copyBytes(buf, 0x68, 16),
    volumeName: copyBytes(buf, 0x78, 16),
    lastMounted: copyBytes(buf, 0x88, 64),
    algorithmUsageBitmap: readU32LE(buf, 0xc8),
    preallocBlocks: buf[0xcc],
    preallocDirBlocks: buf[0xcd],
    reservedGdtBlocks: readU16LE(buf, 0xce),
    journalUuid: copyBytes(buf, 0xd0, 16),
    journalInum: readU32LE(buf, 0xe0),
    journalDev: readU32LE(buf, 0xe4),
    lastOrphan: readU32LE(buf, 0xe8),
    hashSeed: u32s(buf, 0xec, 4),
    defHashVersion: buf[0xfc],
    jnlBackupType: buf[0xfd],
    descSize: readU16LE(buf, 0xfe),
    defaultMountOpts: readU32LE(buf, 0x100),
    firstMetaBg: readU32LE(buf, 0x104),
    mkfsTime: joinTime(readU32LE(buf, 0x108), buf[0x276]),
    jnlBlocks: u32s(buf, 0x10c, 17),
    minExtraIsize: readU16LE(buf, 0x15c),
    wantExtraIsize: readU16LE(buf, 0x15e),
    flags: readU32LE(buf, 0x160),
    raidStride: readU16LE(buf, 0x164),
    mmpUpdateInterval: readU16LE(buf, 0x166),
    mmpBlock: joinChecked(readU32LE(buf, 0x168), readU32LE(buf, 0x16c), 'MMP block'),
    raidStripeWidth: readU32LE(buf, 0x170),
    logGroupsPerFlex: buf[0x174],
    checksumType: buf[0x175],
    encryptionLevel: buf[0x176],
    reservedPad: buf[0x177],
    kbytesWritten: readU64LEBig(buf, 0x178),
    snapshotInum: readU32LE(buf, 0x180),
    snapshotId: readU32LE(buf, 0x184),
    snapshotRBlocksCount: readU64LEBig(buf, 0x188),
    snapshotList: readU32LE(buf, 0x190),
    errorCount: readU32LE(buf, 0x194),
    firstErrorTime: joinTime(readU32LE(buf, 0x198), buf[0x278]),
    firstErrorIno: readU32LE(buf, 0x19c),
    firstErrorBlock: readU64LEBig(buf, 0x1a0),
    firstErrorFunc: copyBytes(buf, 0x1a8, 32),
    firstErrorLine: readU32LE(buf, 0x1c8),
    lastErrorTime: joinTime(readU32LE(buf, 0x1cc), buf[0x279]),
    lastErrorIno: readU32LE(buf, 0x1d0),
    lastErrorLine: readU32LE(buf, 0x1d4),
    lastErrorBlock: readU64LEBig(buf, 0x1d8),
    lastErrorFunc: copyBytes(buf, 0x1e0, 32),
    mountOpts: copyBytes(buf, 0x200, 64),
    usrQuotaInum: readU32LE(buf, 0x240),
    grpQuotaInum: readU32LE(buf, 0x244),
    overheadClusters: readU32LE(buf, 0x248),
    backupBgs: u32s(buf, 0x24c, 2),
    encryptAlgos: copyBytes(buf, 0x254, 4),
    encryptPwSalt: copyBytes(buf, 0x258, 16),
    lpfIno: readU32LE(buf, 0x268),
    prjQuotaInum: readU32LE(buf, 0x26c),
    checksumSeed: readU32LE(buf, 0x270),
    firstErrorErrcode: buf[0x27a],
    lastErrorErrcode: buf[0x27b],
    encoding: readU16LE(buf, 0x27c),
    encodingFlags: readU16LE(buf, 0x27e),
    orphanFileInum: readU32LE(buf, 0x280),
    reserved: u32s(buf, 0x284, 94),
    checksum: readU32LE(buf, SUPERBLOCK_CHECKSUM_OFFSET),
    ignoredHighWords: {
      blocksCount: is64 ? 0 : blocksHi,
      reservedBlocksCount: is64 ? 0 : rBlocksHi,
      freeBlocksCount: is64 ? 0 : freeBlocksHi,
    },
  };
  checkGeometry(sb);
  return sb;
}

/**
 * The sanity checks the kernel makes at mount before it trusts any other
 * field: everything later (group count, descriptor and inode table
 * locations, allocation sizes) is derived from these numbers, so a bad one
 * would otherwise turn into a huge allocation or an out-of-range read.
 */
function checkGeometry(sb: Superblock): void {
  const bad = (what: string): never => {
    throw corrupted('superblock', undefined, what);
  };
  if (sb.logBlockSize > MAX_LOG_BLOCK_SIZE) bad(`log block size ${sb.logBlockSize} exceeds ${MAX_LOG_BLOCK_SIZE}`);
  const blockSize = 1024 << sb.logBlockSize;
  const bigalloc = (sb.featureRoCompat & RO_COMPAT_BIGALLOC) !== 0;
  if (bigalloc) {
    if (sb.logClusterSize > MAX_LOG_CLUSTER_SIZE) bad(`log cluster size ${sb.logClusterSize} exceeds ${MAX_LOG_CLUSTER_SIZE}`);
    if (sb.logClusterSize < sb.logBlockSize) bad(`cluster size smaller than block size`);
  } else if (sb.logClusterSize !== sb.logBlockSize) {
    bad(`log cluster size ${sb.logClusterSize} differs from log block size ${sb.logBlockSize} without bigalloc`);
  }
  const clusterRatio = 1 << (sb.logClusterSize - sb.logBlockSize);
  if (sb.blocksPerGroup === 0) bad('zero blocks per group');
  if (sb.clustersPerGroup === 0) bad('zero clusters per group');
  // A group's block bitmap is one block, so it can describe at most 8 clusters per byte.
  if (sb.clustersPerGroup > blockSize * 8) bad(`${sb.clustersPerGroup} clusters per group exceed one bitmap block`);
  if (sb.blocksPerGroup !== sb.clustersPerGroup * clusterRatio) {
    bad(`blocks per group ${sb.blocksPerGroup} inconsistent with clusters per group ${sb.clustersPerGroup}`);
  }
  if (sb.revLevel !== GOOD_OLD_REV) {
    const is = sb.inodeSize;
    if (is < GOOD_OLD_INODE_SIZE || is > blockSize || (is & (is - 1)) !== 0) bad(`unsupported inode size ${is}`);
    if (sb.firstIno < GOOD_OLD_FIRST_INO) bad(`first inode ${sb.firstIno} below ${GOOD_OLD_FIRST_INO}`);
  }
  const inodesPerBlock = blockSize / inodeSizeOf(sb);
  if (sb.inodesPerGroup < inodesPerBlock || sb.inodesPerGroup > blockSize * 8) {
    bad(`invalid inodes per group ${sb.inodesPerGroup}`);
  }
  if ((sb.featureIncompat & INCOMPAT_64BIT) !== 0) {
    const ds = sb.descSize;
    if (ds < MIN_DESC_SIZE_64BIT || ds > MAX_DESC_SIZE || (ds & (ds - 1)) !== 0) bad(`unsupported descriptor size ${ds}`);
  }
  if (sb.firstDataBlock >= sb.blocksCount) {
    bad(`first data block ${sb.firstDataBlock} is beyond the end of the filesystem (${sb.blocksCount} blocks)`);
  }
  // With 1 KiB blocks block 0 is the boot block, so data must start at block 1 (unless bigalloc clusters cover both).
  if (sb.firstDataBlock === 0 && sb.logBlockSize === 0 && clusterRatio === 1) {
    bad('first data block is 0 with 1 KiB blocks and clusters');
  }
  const groups = groupCountOf(sb);
  const descPerBlock = blockSize / descSizeOf(sb);
  if (groups > 2 ** 32 - descPerBlock) bad(`group count ${groups} too large`);
  if (groups * sb.inodesPerGroup !== sb.inodesCount) {
    bad(`inode count ${sb.inodesCount} is not ${groups} groups of ${sb.inodesPerGroup}`);
  }
  if (sb.reservedGdtBlocks > blockSize / 4) bad(`${sb.reservedGdtBlocks} reserved GDT blocks is insanely large`);
  if ((sb.featureIncompat & INCOMPAT_META_BG) !== 0) {
    const descBlocks = Math.ceil(groups / descPerBlock);
    if (sb.firstMetaBg > descBlocks) bad(`first meta_bg ${sb.firstMetaBg} beyond ${descBlocks} descriptor blocks`);
  }
  if ((sb.featureRoCompat & RO_COMPAT_METADATA_CSUM) !== 0 && sb.checksumType !== CHECKSUM_TYPE_CRC32C) {
    bad(`unknown metadata checksum type ${sb.checksumType}`);
  }
}

function writeU32s(buf: Uint8Array, off: number, values: Uint32Array, n: number): void {
  assert(values.length === n, () => `expected ${n} words, got ${values.length}`);
  for (let i = 0; i < n; i++) writeU32LE(buf, off + 4 * i, values[i]);
}

function writeBytes(buf: Uint8Array, off: number, bytes: Uint8Array, n: number): void {
  assert(bytes.length === n, () => `expected ${n} bytes, got ${bytes.length}`);
  buf.set(bytes, off);
}

/** Splits a time into the 32-bit low word and the high byte. */
function writeTime(buf: Uint8Array, loOff: number, hiOff: number, t: number): void {
  assert(Number.isInteger(t) && t >= 0 && t < 2 ** 40, () => `superblock time ${t} out of range`);
  writeU32LE(buf, loOff, lo32(t));
  buf[hiOff] = hi32(t);
}

/**
 * Writes every field into `buf[0, 1024)`. The checksum field is written as
 * stored in `sb.checksum`; call `setSuperblockChecksum` afterwards to make it
 * match the new contents.
 */
export function encodeSuperblock(sb: Superblock, buf: Uint8Array): void {
  assert(buf.length >= SUPERBLOCK_SIZE, 'superblock buffer too small');
  const is64 = (sb.featureIncompat & INCOMPAT_64BIT) !== 0;
  const split = (off: number, hiOff: number, v: number, ignoredHi: number, field: string): void => {
    assert(Number.isSafeInteger(v) && v >= 0, () => `${field} ${v} is not a valid count`);
    assert(is64 || v < 2 ** 32, () => `${field} ${v} needs the 64bit feature`);
    writeU32LE(buf, off, lo32(v));
    writeU32LE(buf, hiOff, is64 ? hi32(v) : ignoredHi);
  };
  split(0x04, 0x150, sb.blocksCount, sb.ignoredHighWords.blocksCount, 'blocks count');
  split(0x08, 0x154, sb.reservedBlocksCount, sb.ignoredHighWords.reservedBlocksCount, 'reserved blocks count');
  split(0x0c, 0x158, sb.freeBlocksCount, sb.ignoredHighWords.freeBlocksCount, 'free blocks count');
  writeU32LE(buf, 0x00, sb.inodesCount);
  writeU32LE(buf, 0x10, sb.freeInodesCount);
  writeU32LE(buf, 0x14, sb.firstDataBlock);
  writeU32LE(buf, 0x18, sb.logBlockSize);
  writeU32LE(buf, 0x1c, sb.logClusterSize);
  writeU32LE(buf, 0x20, sb.blocksPerGroup);
  writeU32LE(buf, 0x24, sb.clustersPerGroup);
  writeU32LE(buf, 0x28, sb.inodesPerGroup);
  writeTime(buf, 0x2c, 0x275, sb.mountTime);
  writeTime(buf, 0x30, 0x274, sb.writeTime);
  writeU16LE(buf, 0x34, sb.mountCount);
  writeU16LE(buf, 0x36, sb.maxMountCount);
  writeU16LE(buf, 0x38, sb.magic);
  writeU16LE(buf, 0x3a, sb.state);
  writeU16LE(buf, 0x3c, sb.errors);
  writeU16LE(buf, 0x3e, sb.minorRevLevel);
  writeTime(buf, 0x40, 0x277, sb.lastCheck);
  writeU32LE(buf, 0x44, sb.checkInterval);
  writeU32LE(buf, 0x48, sb.creatorOs);
  writeU32LE(buf, 0x4c, sb.revLevel);
  writeU16LE(buf, 0x50, sb.defResuid);
  writeU16LE(buf, 0x52, sb.defResgid);
  writeU32LE(buf, 0x54, sb.firstIno);
  writeU16LE(buf, 0x58, sb.inodeSize);
  writeU16LE(buf, 0x5a, sb.blockGroupNr);
  writeU32LE(buf, 0x5c, sb.featureCompat);
  writeU32LE(buf, 0x60, sb.featureIncompat);
  writeU32LE(buf, 0x64, sb.featureRoCompat);
  writeBytes(buf, 0x68, sb.uuid, 16);
  writeBytes(buf, 0x78, sb.volumeName, 16);
  writeBytes(buf, 0x88, sb.lastMounted, 64);
  writeU32LE(buf, 0xc8, sb.algorithmUsageBitmap);
  buf[0xcc] = sb.preallocBlocks;
  buf[0xcd] = sb.preallocDirBlocks;
  writeU16LE(buf, 0xce, sb.reservedGdtBlocks);
  writeBytes(buf, 0xd0, sb.journalUuid, 16);
  writeU32LE(buf, 0xe0, sb.journalInum);
  writeU32LE(buf, 0xe4, sb.journalDev);
  writeU32LE(buf, 0xe8, sb.lastOrphan);
  writeU32s(buf, 0xec, sb.hashSeed, 4);
  buf[0xfc] = sb.defHashVersion;
  buf[0xfd] = sb.jnlBackupType;
  writeU16LE(buf, 0xfe, sb.descSize);
  writeU32LE(buf, 0x100, sb.defaultMountOpts);
  writeU32LE(buf, 0x104, sb.firstMetaBg);
  writeTime(buf, 0x108, 0x276, sb.mkfsTime);
  writeU32s(buf, 0x10c, sb.jnlBlocks, 17);
  writeU16LE(buf, 0x15c, sb.minExtraIsize);
  writeU16LE(buf, 0x15e, sb.wantExtraIsize);
  writeU32LE(buf, 0x160, sb.flags);
  writeU16LE(buf, 0x164, sb.raidStride);
  writeU16LE(buf, 0x166, sb.mmpUpdateInterval);
  writeU32LE(buf, 0x168, lo32(sb.mmpBlock));
  writeU32LE(buf, 0x16c, hi32(sb.mmpBlock));
  writeU32LE(buf, 0x170, sb.raidStripeWidth);
  buf[0x174] = sb.logGroupsPerFlex;
  buf[0x175] = sb.checksumType;
  buf[0x176] = sb.encryptionLevel;
  buf[0x177] = sb.reservedPad;
  writeU64LEBig(buf, 0x178, sb.kbytesWritten);
  writeU32LE(buf, 0x180, sb.snapshotInum);
  writeU32LE(buf, 0x184, sb.snapshotId);
  writeU64LEBig(buf, 0x188, sb.snapshotRBlocksCount);
  writeU32LE(buf, 0x190, sb.snapshotList);
  writeU32LE(buf, 0x194, sb.errorCount);
  writeTime(buf, 0x198, 0x278, sb.firstErrorTime);
  writeU32LE(buf, 0x19c, sb.firstErrorIno);
  writeU64LEBig(buf, 0x1a0, sb.firstErrorBlock);
  writeBytes(buf, 0x1a8, sb.firstErrorFunc, 32);
  writeU32LE(buf, 0x1c8, sb.firstErrorLine);
  writeTime(buf, 0x1cc, 0x279, sb.lastErrorTime);
  writeU32LE(buf, 0x1d0, sb.lastErrorIno);
  writeU32LE(buf, 0x1d4, sb.lastErrorLine);
  writeU64LEBig(buf, 0x1d8, sb.lastErrorBlock);
  writeBytes(buf, 0x1e0, sb.lastErrorFunc, 32);
  writeBytes(buf, 0x200, sb.mountOpts, 64);
  writeU32LE(buf, 0x240, sb.usrQuotaInum);
  writeU32LE(buf, 0x244, sb.grpQuotaInum);
  writeU32LE(buf, 0x248, sb.overheadClusters);
  writeU32s(buf, 0x24c, sb.backupBgs, 2);
  writeBytes(buf, 0x254, sb.encryptAlgos, 4);
  writeBytes(buf, 0x258, sb.encryptPwSalt, 16);
  writeU32LE(buf, 0x268, sb.lpfIno);
  writeU32LE(buf, 0x26c, sb.prjQuotaInum);
  writeU32LE(buf, 0x270, sb.checksumSeed);
  buf[0x27a] = sb.firstErrorErrcode;
  buf[0x27b] = sb.lastErrorErrcode;
  writeU16LE(buf, 0x27c, sb.encoding);
  writeU16LE(buf, 0x27e, sb.encodingFlags);
  writeU32LE(buf, 0x280, sb.orphanFileInum);
  writeU32s(buf, 0x284, sb.reserved, 94);
  writeU32LE(buf, SUPERBLOCK_CHECKSUM_OFFSET, sb.checksum);
}
