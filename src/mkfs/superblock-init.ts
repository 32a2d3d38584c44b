/**
 * The superblock of a new filesystem: an all-zero structure with the magic
 * number, then the values mke2fs 1.47 stores (`fillSuperblock`), and the
 * copies written to the backup groups.
 */
import { assert } from '../base/assert.js';
import { crc32c } from '../format/crc32c.js';
import {
  CHECKSUM_TYPE_CRC32C, DEFM_ACL, DEFM_XATTR_USER, DYNAMIC_REV, ERRORS_CONTINUE, EXT4_SUPER_MAGIC, FLAGS_SIGNED_HASH,
  GOOD_OLD_FIRST_INO, JNL_BACKUP_BLOCKS, OS_LINUX, STATE_VALID_FS,
  encodeSuperblock, setSuperblockChecksum, type Superblock, SUPERBLOCK_SIZE,
} from '../format/superblock.js';
import { DX_HASH_HALF_MD4 } from '../format/dirhash.js';
import { hasFeature } from './features.js';

/** An all-zero superblock except the magic number. */
export function newSuperblock(): Superblock {
  return {
    inodesCount: 0, blocksCount: 0, reservedBlocksCount: 0, freeBlocksCount: 0, freeInodesCount: 0,
    firstDataBlock: 0, logBlockSize: 0, logClusterSize: 0, blocksPerGroup: 0, clustersPerGroup: 0,
    inodesPerGroup: 0, mountTime: 0, writeTime: 0, mountCount: 0, maxMountCount: 0,
    magic: EXT4_SUPER_MAGIC, state: 0, errors: 0, minorRevLevel: 0, lastCheck: 0, checkInterval: 0,
    creatorOs: 0, revLevel: 0, defResuid: 0, defResgid: 0, firstIno: 0, inodeSize: 0, blockGroupNr: 0,
    featureCompat: 0, featureIncompat: 0, featureRoCompat: 0,
    uuid: new Uint8Array(16), volumeName: new Uint8Array(16), lastMounted: new Uint8Array(64),
    algorithmUsageBitmap: 0, preallocBlocks: 0, preallocDirBlocks: 0, reservedGdtBlocks: 0,
    journalUuid: new Uint8Array(16), journalInum: 0, journalDev: 0, lastOrphan: 0,
    hashSeed: new Uint32Array(4), defHashVersion: 0, jnlBackupType: 0, descSize: 0, defaultMountOpts: 0,
    firstMetaBg: 0, mkfsTime: 0, jnlBlocks: new Uint32Array(17), minExtraIsize: 0, wantExtraIsize: 0,
    flags: 0, raidStride: 0, mmpUpdateInterval: 0, mmpBlock: 0, raidStripeWidth: 0, logGroupsPerFlex: 0,
    checksumType: 0, encryptionLevel: 0, reservedPad: 0, kbytesWritten: 0n, snapshotInum: 0, snapshotId: 0,
    snapshotRBlocksCount: 0n, snapshotList: 0, errorCount: 0, firstErrorTime: 0, firstErrorIno: 0,
    firstErrorBlock: 0n, firstErrorFunc: new Uint8Array(32), firstErrorLine: 0, lastErrorTime: 0,
    lastErrorIno: 0, lastErrorLine: 0, lastErrorBlock: 0n, lastErrorFunc: new Uint8Array(32),
    mountOpts: new Uint8Array(64), usrQuotaInum: 0, grpQuotaInum: 0, overheadClusters: 0,
    backupBgs: new Uint32Array(2), encryptAlgos: new Uint8Array(4), encryptPwSalt: new Uint8Array(16),
    lpfIno: 0, prjQuotaInum: 0, checksumSeed: 0, firstErrorErrcode: 0, lastErrorErrcode: 0,
    encoding: 0, encodingFlags: 0, orphanFileInum: 0, reserved: new Uint32Array(94), checksum: 0,
    ignoredHighWords: { blocksCount: 0, reservedBlocksCount: 0, freeBlocksCount: 0 },
  };
}

/** sizeof(struct ext2_inode_large) - 128: the extra inode space mke2fs asks every inode to have. */
export const EXTRA_ISIZE = 32;

export interface SuperblockIdentity {
  uuid: Uint8Array;
  hashSeed: Uint8Array;
  label: Uint8Array;
  /** Seconds since the epoch. */
  time: number;
}

/**
 * Fills in what mke2fs sets beyond the geometry: revision, state, error
 * behaviour, times, identity, default mount options, hash settings and the
 * checksum type and seed. Free counts, journal and orphan file fields are
 * set by the caller once those exist.
 */
export function fillSuperblock(sb: Superblock, id: SuperblockIdentity): void {
  assert(id.uuid.length === 16 && id.hashSeed.length === 16 && id.label.length <= 16, 'superblock identity sizes');
  sb.revLevel = DYNAMIC_REV;
  sb.firstIno = GOOD_OLD_FIRST_INO;
  if (sb.inodeSize >= 128 + EXTRA_ISIZE) {
    sb.minExtraIsize = EXTRA_ISIZE;
    sb.wantExtraIsize = EXTRA_ISIZE;
  }
  sb.state = STATE_VALID_FS;
  sb.errors = ERRORS_CONTINUE;
  // mke2fs.conf's enable_periodic_fsck = 0: no mount-count or interval checks.
  sb.maxMountCount = -1;
  sb.checkInterval = 0;
  sb.mkfsTime = id.time;
  sb.lastCheck = id.time;
  sb.writeTime = id.time;
  sb.creatorOs = OS_LINUX;
  sb.defaultMountOpts = DEFM_XATTR_USER | DEFM_ACL;
  // e2fsprogs built where char is signed (x86) marks the signed variant of the legacy hashes.
  sb.flags = FLAGS_SIGNED_HASH;
  sb.defHashVersion = DX_HASH_HALF_MD4;
  sb.uuid = id.uuid.slice();
  sb.volumeName = new Uint8Array(16);
  sb.volumeName.set(id.label);
  sb.hashSeed = new Uint32Array(4);
  const view = new DataView(id.hashSeed.buffer, id.hashSeed.byteOffset, 16);
  for (let i = 0; i < 4; i++) sb.hashSeed[i] = view.getUint32(4 * i, true);
  if (hasFeature(sb, 'metadata_csum')) sb.checksumType = CHECKSUM_TYPE_CRC32C;
  if (hasFeature(sb, 'metadata_csum_seed')) sb.checksumSeed = crc32c(~0, sb.uuid);
}

/** Records the journal inode's block map in s_jnl_blocks, as mke2fs does for e2fsck's recovery of a lost inode 8. */
export function setJournalBackup(sb: Superblock, iblock: Uint8Array, size: number): void {
  const words = new DataView(iblock.buffer, iblock.byteOffset, 60);
  for (let i = 0; i < 15; i++) sb.jnlBlocks[i] = words.getUint32(4 * i, true);
  sb.jnlBlocks[15] = Math.floor(size / 2 ** 32);
  sb.jnlBlocks[16] = size % 2 ** 32;
  sb.jnlBackupType = JNL_BACKUP_BLOCKS;
}

/**
 * The encoded superblock for the copy in `group`: the primary (group 0) is
 * valid; backups carry their group number and, as libext2fs writes them,
 * a state without the valid bit, so that a check started from a backup
 * looks at everything.
 */
export function encodeSuperblockCopy(sb: Superblock, group: number): Uint8Array {
  // s_block_group_nr is 16 bits wide; libext2fs caps larger group numbers.
  const copy: Superblock = { ...sb, blockGroupNr: Math.min(group, 0xffff), state: group === 0 ? sb.state : sb.state & ~STATE_VALID_FS };
  const buf = new Uint8Array(SUPERBLOCK_SIZE);
  encodeSuperblock(copy, buf);
  if (hasFeature(sb, 'metadata_csum')) setSuperblockChecksum(buf);
  return buf;
}
