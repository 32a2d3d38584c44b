/**
 * Group geometry of a new filesystem, as libext2fs's ext2fs_initialize
 * settles it: blocks per group, group count, inodes per group (filling whole
 * inode table blocks, a multiple of 8), descriptor blocks, reserved GDT
 * blocks for online growth, and the reserved block count.
 *
 * Two retry loops shape the result and are reproduced exactly:
 *  - more inodes per group than one bitmap block can describe: shrink the
 *    groups by 8 blocks and start again from the requested size;
 *  - a last group too small for its own metadata plus 50 blocks: drop it
 *    (and recompute the reserved blocks from the requested percentage).
 */
import { FsError } from '../base/errors.js';
import { hasFeature } from './features.js';
import type { MkfsParams } from './params.js';
import { newSuperblock } from './superblock-init.js';
import { groupHasSuperblock, type Superblock } from '../format/superblock.js';
import { GOOD_OLD_FIRST_INO } from '../format/superblock-constants.js';

export interface Geometry {
  /** The superblock with every geometry field filled in (no times, UUID, counts of free space yet). */
  sb: Superblock;
  blockSize: number;
  firstDataBlock: number;
  blocksCount: number;
  blocksPerGroup: number;
  groupCount: number;
  /** Group descriptor size (32, or 64 with the 64bit feature). */
  descSize: number;
  descPerBlock: number;
  /** Blocks of the group descriptor table. */
  descBlocks: number;
  inodesPerGroup: number;
  inodeSize: number;
  /** Inode table blocks per group. */
  inodeBlocksPerGroup: number;
  /** s_reserved_gdt_blocks */
  reservedGdtBlocks: number;
  /** Block addresses per block (block map and resize inode). */
  addrPerBlock: number;
}

const MAX_32 = 2 ** 32 - 1;
/** Room left in the last group beyond its metadata, below which the group is dropped. */
const LAST_GROUP_SLACK = 50;

function tooSmall(): FsError {
  return new FsError('EINVAL', 'the filesystem is too small for its metadata (ext2fs_initialize: EXT2_ET_TOOSMALL)');
}

function tooManyInodes(): FsError {
  return new FsError('EINVAL', 'too many inodes for this filesystem size: ask for fewer inodes or larger bytes per inode');
}

/**
 * GDT blocks to reserve so online resize can grow the filesystem to 1024
 * times its size (or to 2^32 blocks), at most one block of addresses.
 */
function reservedGdtBlocksFor(blocksCount: number, firstDataBlock: number, bpg: number, descPerBlock: number, descBlocks: number, addrPerBlock: number): number {
  let maxBlocks = MAX_32;
  if (blocksCount < Math.floor(MAX_32 / 1024)) maxBlocks = blocksCount * 1024;
  const rsvGroups = Math.ceil((maxBlocks - firstDataBlock) / bpg);
  const rsv = Math.ceil(rsvGroups / descPerBlock) - descBlocks;
  return Math.min(rsv, addrPerBlock);
}

export function computeGeometry(p: MkfsParams): Geometry {
  const sb = newSuperblock();
  sb.featureCompat = p.features.featureCompat;
  sb.featureIncompat = p.features.featureIncompat;
  sb.featureRoCompat = p.features.featureRoCompat;
  sb.logBlockSize = p.logBlockSize;
  sb.logClusterSize = p.logBlockSize;
  sb.logGroupsPerFlex = p.logGroupsPerFlex;
  sb.inodeSize = p.inodeSize;
  sb.firstIno = GOOD_OLD_FIRST_INO;

  const bs = p.blockSize;
  const firstDataBlock = p.logBlockSize === 0 ? 1 : 0;
  const is64 = hasFeature(p.features, '64bit');
  const descSize = is64 ? 64 : 32;
  const descPerBlock = bs / descSize;
  const addrPerBlock = bs / 4;
  const inodesPerBlock = bs / p.inodeSize;
  const maxIpg = 65536 - inodesPerBlock;
  if (p.reservedBlocksCount >= p.blocksCount) throw new FsError('EINVAL', 'reserved blocks exceed the filesystem');

  let bpg = bs * 8;
  let blocks = p.blocksCount;
  let reserved = p.reservedBlocksCount;
  for (;;) {
    const groups = Math.ceil((blocks - firstDataBlock) / bpg);
    if (groups === 0) throw tooSmall();
    const descBlocks = Math.ceil(groups / descPerBlock);
    let ipg = Math.ceil(p.inodesCount / groups);
    if (ipg > bs * 8) {
      if (bpg < 256) throw tooManyInodes();
      bpg -= 8;
      blocks = p.blocksCount;
      continue;
    }
    if (ipg > maxIpg) ipg = maxIpg;

    let inodesPerGroup: number;
    let inodeBlocks: number;
    for (;;) {
      inodeBlocks = Math.ceil((ipg * p.inodeSize) / bs);
      inodesPerGroup = Math.floor((inodeBlocks * bs) / p.inodeSize);
      if (inodesPerGroup < 8) inodesPerGroup = 8;
      inodesPerGroup &= ~7;
      inodeBlocks = Math.ceil((inodesPerGroup * p.inodeSize) / bs);
      if (inodesPerGroup * groups > MAX_32) {
        ipg--;
        continue;
      }
      // Room for the reserved inodes and one more (mke2fs 1.47.0 fails here instead; newer ones grow ipg).
      if (inodesPerGroup * groups < GOOD_OLD_FIRST_INO + 1) {
        ipg += 8;
        continue;
      }
      break;
    }

    const reservedGdt = hasFeature(p.features, 'resize_inode')
      ? reservedGdtBlocksFor(blocks, firstDataBlock, bpg, descPerBlock, descBlocks, addrPerBlock)
      : 0;
    if (reservedGdt + descBlocks > Math.floor((bpg * 3) / 4)) {
      throw new FsError('ENOTSUP', 'this filesystem would need the meta_bg feature, which ext4kit mkfs does not create');
    }
    if (3 + inodeBlocks + reservedGdt + descBlocks > bpg) throw tooManyInodes();

    sb.blocksPerGroup = bpg;
    sb.clustersPerGroup = bpg;
    sb.firstDataBlock = firstDataBlock;
    sb.blocksCount = blocks;
    let lastOverhead = 2 + inodeBlocks;
    if (groupHasSuperblock(sb, groups - 1)) lastOverhead += 1 + descBlocks + reservedGdt;
    const rem = (blocks - firstDataBlock) % bpg;
    if (groups === 1 && rem !== 0 && rem < lastOverhead) throw tooSmall();
    if (rem !== 0 && rem < lastOverhead + LAST_GROUP_SLACK) {
      blocks -= rem;
      // Same percentage of the smaller size; it stays even if a later retry restores the size.
      const ratio = (100.0 * p.reservedBlocksCount) / p.blocksCount;
      reserved = Math.floor((ratio * blocks) / 100.0);
      continue;
    }

    sb.inodesPerGroup = inodesPerGroup;
    sb.inodesCount = inodesPerGroup * groups;
    sb.reservedBlocksCount = reserved;
    sb.reservedGdtBlocks = reservedGdt;
    sb.descSize = is64 ? descSize : 0;
    return {
      sb,
      blockSize: bs,
      firstDataBlock,
      blocksCount: blocks,
      blocksPerGroup: bpg,
      groupCount: groups,
      descSize,
      descPerBlock,
      descBlocks,
      inodesPerGroup,
      inodeSize: p.inodeSize,
      inodeBlocksPerGroup: inodeBlocks,
      reservedGdtBlocks: reservedGdt,
      addrPerBlock,
    };
  }
}

/** First block of a group. */
export function groupStart(g: Geometry, group: number): number {
  return g.firstDataBlock + group * g.blocksPerGroup;
}

/** Last block of a group (the last group may be short). */
export function groupEnd(g: Geometry, group: number): number {
  return Math.min(groupStart(g, group) + g.blocksPerGroup, g.blocksCount) - 1;
}

export function groupOfBlock(g: Geometry, block: number): number {
  return Math.floor((block - g.firstDataBlock) / g.blocksPerGroup);
}

export function groupOfInode(g: Geometry, ino: number): number {
  return Math.floor((ino - 1) / g.inodesPerGroup);
}

/**
 * Where a group's superblock copy and descriptor table copy are (without
 * meta_bg): at its first block when it has a superblock backup.
 */
export function groupSuperAndGdt(g: Geometry, group: number): { superBlock: number; gdtStart: number } | undefined {
  if (!groupHasSuperblock(g.sb, group)) return undefined;
  let start = groupStart(g, group);
  // 1 KiB blocks: group 0 starts at block 1, which is the superblock itself.
  if (start === 0 && g.blockSize === 1024) start = 1;
  return { superBlock: start, gdtStart: start + 1 };
}
