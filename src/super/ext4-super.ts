/**
 * The mounted filesystem's shared state (Linux: `struct super_block` with
 * `ext4_sb_info`): the decoded superblock, the group descriptors, the
 * checksum seed, the feature switches every layer above asks about, and the
 * buffer cache. Mounting validates everything later code relies on, so the
 * layers above can trust group geometry and only need to check the numbers
 * they read from inodes and blocks.
 */
import type { BlockDevice } from '../device/block-device.js';
import { BufferCache } from '../cache/buffer-cache.js';
import { corrupted, FsError } from '../base/errors.js';
import {
  decodeSuperblock, verifySuperblockChecksum, blockSizeOf, groupCountOf, descSizeOf, fsChecksumSeed,
  SUPERBLOCK_OFFSET, SUPERBLOCK_SIZE, type Superblock, inodeSizeOf,
} from '../format/superblock.js';
import * as F from '../format/features.js';
import { decodeGroupDesc, groupDescChecksum, groupDescBlock, type GroupDesc } from '../format/group-desc.js';
import { checkFeatures, type RecoverMode } from './features-gate.js';
import type { Journal } from '../journal/transaction.js';

export interface MountOptions {
  readOnly: boolean;
  /** Memory budget for the buffer cache, bytes. */
  cacheBytes: number;
  /** What to do about a journal that needs recovery (features-gate.ts); default `refuse`. */
  recover?: RecoverMode;
}

export class Ext4Super {
  readonly blockSize: number;
  readonly groupCount: number;
  readonly inodesPerGroup: number;
  readonly inodeSize: number;
  readonly descSize: number;
  /** Seed of every metadata checksum except the superblock's (metadata_csum). */
  readonly csumSeed: number;

  readonly metadataCsum: boolean;
  readonly gdtCsum: boolean;
  readonly hasFileType: boolean;
  readonly hasExtents: boolean;
  readonly hasInlineData: boolean;
  readonly hasHugeFile: boolean;
  readonly hasLargeDir: boolean;
  readonly hasDirIndex: boolean;
  readonly hasEaInode: boolean;
  /** gdt_csum or metadata_csum: descriptors are checksummed, so bg_flags and bg_itable_unused are trusted. */
  readonly groupChecksums: boolean;
  /** Blocks of one group's inode table. */
  readonly inodeTableBlocks: number;
  /**
   * The transaction machinery of a writable volume (with or without an
   * on-disk log); undefined when read-only. Every metadata change goes
   * through it.
   */
  journal: Journal | undefined = undefined;

  /**
   * Source of every inode's esSeq (R1). Filesystem-wide and only increasing,
   * so an inode read back after eviction starts above any cookie an earlier
   * in-memory copy of it handed out.
   */
  private esSeqCounter = 0;
  nextEsSeq(): number {
    return ++this.esSeqCounter;
  }
  /** Opened read-only, or forced read-only by an unknown ro_compat feature. */
  readonly readOnly: boolean;
  /** The superblock says the journal needs replay (RECOVER); with a replayed view it is still set on disk. */
  readonly needsRecovery: boolean;

  private constructor(
    readonly device: BlockDevice,
    readonly sb: Superblock,
    readonly groups: GroupDesc[],
    readonly cache: BufferCache,
    readOnly: boolean,
  ) {
    this.blockSize = blockSizeOf(sb);
    this.groupCount = groups.length;
    this.inodesPerGroup = sb.inodesPerGroup;
    // Revision 0 filesystems have fixed 128-byte inodes whatever s_inode_size says.
    this.inodeSize = inodeSizeOf(sb);
    this.descSize = descSizeOf(sb);
    this.csumSeed = fsChecksumSeed(sb);
    this.metadataCsum = (sb.featureRoCompat & F.RO_COMPAT_METADATA_CSUM) !== 0;
    this.gdtCsum = (sb.featureRoCompat & F.RO_COMPAT_GDT_CSUM) !== 0;
    this.hasFileType = (sb.featureIncompat & F.INCOMPAT_FILETYPE) !== 0;
    this.hasExtents = (sb.featureIncompat & F.INCOMPAT_EXTENTS) !== 0;
    this.hasInlineData = (sb.featureIncompat & F.INCOMPAT_INLINE_DATA) !== 0;
    this.hasHugeFile = (sb.featureRoCompat & F.RO_COMPAT_HUGE_FILE) !== 0;
    this.hasLargeDir = (sb.featureIncompat & F.INCOMPAT_LARGEDIR) !== 0;
    this.hasDirIndex = (sb.featureCompat & F.COMPAT_DIR_INDEX) !== 0;
    this.hasEaInode = (sb.featureIncompat & F.INCOMPAT_EA_INODE) !== 0;
    this.groupChecksums = this.metadataCsum || this.gdtCsum;
    this.inodeTableBlocks = Math.ceil((sb.inodesPerGroup * this.inodeSize) / this.blockSize);
    this.readOnly = readOnly;
    this.needsRecovery = (sb.featureIncompat & F.INCOMPAT_RECOVER) !== 0;
  }

  /** Reads and validates the superblock and group descriptors. */
  static async mount(device: BlockDevice, options: MountOptions): Promise<Ext4Super> {
    if (device.size < SUPERBLOCK_OFFSET + SUPERBLOCK_SIZE) {
      throw corrupted('superblock', undefined, `device of ${device.size} bytes is too small to hold an ext4 filesystem`);
    }
    const raw = await device.read(SUPERBLOCK_OFFSET, SUPERBLOCK_SIZE);
    const sb = decodeSuperblock(raw);
    if ((sb.featureRoCompat & F.RO_COMPAT_METADATA_CSUM) !== 0 && !verifySuperblockChecksum(raw)) {
      throw corrupted('superblock', undefined, 'checksum does not match');
    }
    const { forceReadOnly } = checkFeatures(sb, options.readOnly, options.recover);
    const readOnly = options.readOnly || forceReadOnly;

    const blockSize = blockSizeOf(sb);
    const deviceBlocks = Math.floor(device.size / blockSize);
    if (sb.blocksCount > deviceBlocks) {
      throw corrupted('superblock', undefined,
        `filesystem has ${sb.blocksCount} blocks but the device holds only ${deviceBlocks} (truncated image?)`);
    }
    const groupCount = groupCountOf(sb);
    if (groupCount * sb.inodesPerGroup !== sb.inodesCount) {
      throw corrupted('superblock', undefined,
        `inode count ${sb.inodesCount} is not ${groupCount} groups x ${sb.inodesPerGroup} inodes`);
    }
    const cache = new BufferCache(device, blockSize, options.cacheBytes);
    const groups = await readGroupDescs(sb, cache, groupCount);
    return new Ext4Super(device, sb, groups, cache, readOnly);
  }

  /**
   * Throws EFSCORRUPTED unless blocks [pblk, pblk+count) are inside the
   * filesystem's data area. Every block number read from an inode, extent or
   * index goes through here before it becomes an I/O request.
   */
  checkBlocks(pblk: number, count: number, structure: string, number: number | undefined): void {
    if (!(pblk >= this.sb.firstDataBlock && count >= 1 && pblk + count <= this.sb.blocksCount)) {
      throw corrupted(structure, number,
        `block range ${pblk}+${count} is outside the filesystem (blocks ${this.sb.firstDataBlock}..${this.sb.blocksCount - 1})`);
    }
  }

  groupOfBlock(pblk: number): number {
    return Math.floor((pblk - this.sb.firstDataBlock) / this.sb.blocksPerGroup);
  }

  /** Where to start looking for a new block of inode `ino`: the start of its group (Linux: ext4_inode_to_goal_block). */
  inodeGoalBlock(ino: number): number {
    const g = this.groupOfInode(ino);
    return this.sb.firstDataBlock + g * this.sb.blocksPerGroup;
  }

  groupOfInode(ino: number): number {
    return Math.floor((ino - 1) / this.inodesPerGroup);
  }

  /** The `ENOTSUP` error for an operation on something this engine cannot handle. */
  unsupported(what: string): FsError {
    return new FsError('ENOTSUP', what);
  }
}

async function readGroupDescs(sb: Superblock, cache: BufferCache, groupCount: number): Promise<GroupDesc[]> {
  const blockSize = cache.blockSize;
  const descSize = descSizeOf(sb);
  const perBlock = blockSize / descSize;
  const seed = fsChecksumSeed(sb);
  const groups: GroupDesc[] = [];
  const descBlocks = Math.ceil(groupCount / perBlock);
  for (let b = 0; b < descBlocks; b++) {
    const blockNr = groupDescBlock(sb, b);
    if (blockNr >= sb.blocksCount) {
      throw corrupted('group descriptor block', blockNr, 'is outside the filesystem');
    }
    const block = await cache.read(blockNr);
    for (let i = 0; i < perBlock && groups.length < groupCount; i++) {
      const group = groups.length;
      const bytes = block.subarray(i * descSize, (i + 1) * descSize);
      const gd = decodeGroupDesc(bytes, descSize);
      const expected = groupDescChecksum(sb, seed, group, bytes);
      if (expected !== undefined && expected !== gd.checksum) {
        throw corrupted('group descriptor', group, `checksum 0x${gd.checksum.toString(16)} does not match 0x${expected.toString(16)}`);
      }
      checkGroupLayout(sb, group, gd, blockSize);
      groups.push(gd);
    }
  }
  return groups;
}

/** The bitmaps and inode table a descriptor names must lie inside the filesystem. */
function checkGroupLayout(sb: Superblock, group: number, gd: GroupDesc, blockSize: number): void {
  const itableBlocks = Math.ceil((sb.inodesPerGroup * inodeSizeOf(sb)) / blockSize);
  const inside = (b: number, n: number): boolean => b >= sb.firstDataBlock && b + n <= sb.blocksCount;
  if (!inside(gd.blockBitmap, 1)) throw corrupted('group descriptor', group, `block bitmap at ${gd.blockBitmap} is outside the filesystem`);
  if (!inside(gd.inodeBitmap, 1)) throw corrupted('group descriptor', group, `inode bitmap at ${gd.inodeBitmap} is outside the filesystem`);
  if (!inside(gd.inodeTable, itableBlocks)) {
    throw corrupted('group descriptor', group, `inode table at ${gd.inodeTable} (+${itableBlocks}) is outside the filesystem`);
  }
}
