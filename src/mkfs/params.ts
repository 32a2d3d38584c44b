/**
 * From the caller's options and the device size to the numbers mke2fs 1.47
 * hands to ext2fs_initialize (mke2fs.c's PRS): block size, requested block
 * and inode counts, inode size, reserved blocks, flex_bg size.
 *
 * The defaults are those of Debian's /etc/mke2fs.conf, selected by the
 * "ext4" type and a size class chosen from the filesystem size:
 *
 *   floppy  < 3 MiB      1 KiB blocks, 8192 bytes per inode
 *   small   < 512 MiB    1 KiB blocks, 4096 bytes per inode
 *   default < 4 TiB      4 KiB blocks, 16384 bytes per inode
 *   big     < 16 TiB     4 KiB blocks, 32768 bytes per inode
 *   huge                 4 KiB blocks, 65536 bytes per inode
 *
 * with 256-byte inodes and flex_bg groups of 16 everywhere.
 */
import { FsError } from '../base/errors.js';
import { GOOD_OLD_INODE_SIZE } from '../format/superblock-constants.js';
import { hasFeature, resolveFeatures, setFeature, type ResolvedFeatures } from './features.js';
import type { MkfsOptions } from './options.js';

export type SizeType = 'floppy' | 'small' | 'default' | 'big' | 'huge';

/** mke2fs.conf: [defaults] and the size classes of [fs_types] that set block size and inode ratio. */
const PROFILE: Record<SizeType, { blockSize: number; inodeRatio: number }> = {
  floppy: { blockSize: 1024, inodeRatio: 8192 },
  small: { blockSize: 1024, inodeRatio: 4096 },
  default: { blockSize: 4096, inodeRatio: 16384 },
  big: { blockSize: 4096, inodeRatio: 32768 },
  huge: { blockSize: 4096, inodeRatio: 65536 },
};
const DEFAULT_INODE_SIZE = 256;
const DEFAULT_FLEX_BG_SIZE = 16;
const DEFAULT_RESERVED_PERCENT = 5;
/** mke2fs rounds a device's size down to whole pages of this size. */
const SYS_PAGE_SIZE = 4096;
const MAX_32 = 2 ** 32 - 1;
const MIN_BLOCK_SIZE = 1024;
/** mke2fs -i limits. */
const MIN_INODE_RATIO = 1024;
const MAX_INODE_RATIO = 65536 * 1024;

export interface MkfsParams {
  features: ResolvedFeatures;
  blockSize: number;
  /** log2(blockSize / 1024): s_log_block_size */
  logBlockSize: number;
  /** Blocks asked for; ext2fs_initialize may drop a too-small last group. */
  blocksCount: number;
  /** s_inodes_count asked for (rounded per group later). */
  inodesCount: number;
  inodeSize: number;
  /** Percentage of blocks reserved for root. */
  reservedRatio: number;
  reservedBlocksCount: number;
  /** s_log_groups_per_flex (0 without flex_bg). */
  logGroupsPerFlex: number;
  sizeType: SizeType;
  /** -J size= in blocks, when given. */
  journalBlocks: number | undefined;
}

function sizeTypeOf(blocks: number, unit: number): SizeType {
  const meg = (1024 * 1024) / unit;
  if (blocks < 3 * meg) return 'floppy';
  if (blocks < 512 * meg) return 'small';
  if (blocks < 4 * 1024 * 1024 * meg) return 'default';
  if (blocks < 16 * 1024 * 1024 * meg) return 'big';
  return 'huge';
}

function invalid(what: string): FsError {
  return new FsError('EINVAL', what);
}

function checkBlockSize(bs: number): void {
  if (bs !== 1024 && bs !== 2048 && bs !== 4096) throw invalid(`invalid block size ${bs} (1024, 2048 or 4096)`);
}

/**
 * The parameters for a filesystem of `fsBytes` bytes. `explicitSize` says
 * whether the size was given by the caller (used as is) or taken from the
 * device (rounded down to whole 4 KiB pages, as mke2fs does).
 */
export function computeParams(options: MkfsOptions, fsBytes: number, explicitSize: boolean): MkfsParams {
  if (!Number.isSafeInteger(fsBytes) || fsBytes <= 0) throw invalid(`invalid filesystem size ${fsBytes}`);
  const features = resolveFeatures(options.features ?? []);
  if (options.blockSize !== undefined) checkBlockSize(options.blockSize);

  // Sizes are counted in the requested block size, or in 1 KiB units until the profile picks one.
  const unit = options.blockSize ?? MIN_BLOCK_SIZE;
  let count = Math.floor(fsBytes / unit);
  if (!explicitSize && SYS_PAGE_SIZE > unit) count -= count % (SYS_PAGE_SIZE / unit);
  const sizeType = sizeTypeOf(count, unit);
  const profile = PROFILE[sizeType];
  const blockSize = options.blockSize ?? profile.blockSize;
  if (options.blockSize === undefined) count = Math.floor(count / (blockSize / MIN_BLOCK_SIZE));
  const logBlockSize = Math.log2(blockSize / MIN_BLOCK_SIZE);
  if (count <= 0) throw invalid(`a filesystem of ${fsBytes} bytes is too small`);

  const is64 = hasFeature(features, '64bit');
  if (count > MAX_32) {
    if (!is64) throw invalid(`${count} blocks of ${blockSize} bytes do not fit 32 bits: enable the 64bit feature`);
    // The resize inode's block map cannot address blocks past 2^32.
    setFeature(features, 'resize_inode', false);
  }
  if (count > 2 ** (Math.log2(blockSize) + 3 + 32) - 1) throw invalid(`${count} blocks is too many for ${blockSize}-byte blocks`);

  let inodeRatio = options.bytesPerInode ?? profile.inodeRatio;
  if (options.bytesPerInode !== undefined) {
    if (!Number.isInteger(inodeRatio) || inodeRatio < MIN_INODE_RATIO || inodeRatio > MAX_INODE_RATIO) {
      throw invalid(`invalid bytes per inode ${options.bytesPerInode} (min ${MIN_INODE_RATIO}, max ${MAX_INODE_RATIO})`);
    }
  } else if (inodeRatio < blockSize) {
    inodeRatio = blockSize;
  }

  const inodeSize = options.inodeSize ?? DEFAULT_INODE_SIZE;
  if (!Number.isInteger(inodeSize) || inodeSize < GOOD_OLD_INODE_SIZE || inodeSize > blockSize || (inodeSize & (inodeSize - 1)) !== 0) {
    throw invalid(`invalid inode size ${inodeSize} (a power of two from ${GOOD_OLD_INODE_SIZE} to ${blockSize})`);
  }
  if (hasFeature(features, 'inline_data') && inodeSize === GOOD_OLD_INODE_SIZE) {
    throw invalid(`${inodeSize}-byte inodes are too small for inline data`);
  }

  let inodesCount: number;
  if (options.inodes !== undefined) {
    if (!Number.isInteger(options.inodes) || options.inodes <= 0) throw invalid(`invalid inode count ${options.inodes}`);
    if (options.inodes > MAX_32) throw invalid(`too many inodes (${options.inodes}), specify fewer than 2^32`);
    inodesCount = options.inodes;
  } else {
    inodesCount = Math.floor((count * blockSize) / inodeRatio);
    if (inodesCount > MAX_32) {
      if (!is64) throw invalid(`too many inodes (${inodesCount}): raise the bytes per inode`);
      inodesCount = MAX_32;
    }
  }
  if (inodesCount * inodeSize >= count * blockSize) {
    throw invalid(`${inodesCount} inodes of ${inodeSize} bytes do not fit a filesystem of ${count} blocks: ask for fewer inodes`);
  }

  const reservedRatio = options.reservedPercent ?? DEFAULT_RESERVED_PERCENT;
  if (!(reservedRatio >= 0 && reservedRatio <= 50)) throw invalid(`invalid reserved blocks percentage ${reservedRatio}`);
  // mke2fs computes this in double precision and truncates.
  const reservedBlocksCount = Math.floor((reservedRatio * count) / 100);

  let journalBlocks: number | undefined;
  if (options.journalSizeMB !== undefined) {
    const mb = options.journalSizeMB;
    if (!Number.isInteger(mb) || mb <= 0) throw invalid(`invalid journal size ${mb} MiB`);
    if (!hasFeature(features, 'has_journal')) throw invalid('a journal size was given but has_journal is off');
    journalBlocks = (mb * 1024) / (blockSize / 1024);
  }

  return {
    features,
    blockSize,
    logBlockSize,
    blocksCount: count,
    inodesCount,
    inodeSize,
    reservedRatio,
    reservedBlocksCount,
    logGroupsPerFlex: hasFeature(features, 'flex_bg') ? Math.log2(DEFAULT_FLEX_BG_SIZE) : 0,
    sizeType,
    journalBlocks,
  };
}
