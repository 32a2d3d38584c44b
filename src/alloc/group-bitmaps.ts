/**
 * The per-group block and inode bitmaps (Linux: ext4_read_block_bitmap,
 * ext4_read_inode_bitmap, ext4_init_block_bitmap).
 *
 * With group checksums (gdt_csum or metadata_csum) a group may be
 * "uninitialised": BLOCK_UNINIT / INODE_UNINIT in bg_flags say its bitmap
 * block was never written and its contents must be computed instead. A
 * never-used inode bitmap is all zeros; a never-used block bitmap marks only
 * the group's own overhead: the superblock and descriptor backups it
 * carries, and any bitmap or inode table (its own, or with flex_bg another
 * group's) that lies inside it. In both, the bits past the end of the group
 * up to the end of the block are set, as Linux leaves them.
 *
 * A bitmap read from disk is verified: its crc32c against the descriptor
 * (metadata_csum), and, for block bitmaps, that the group's own metadata
 * blocks are marked in use — a bitmap that says otherwise would let the
 * allocator hand out an inode table block.
 */
import type { Ext4Super } from '../super/ext4-super.js';
import type { MetaBuffer } from '../cache/buffer-cache.js';
import { CommitPhase, type Handle } from '../journal/transaction.js';
import { markGroupDirty } from '../super/super-write.js';
import { corrupted } from '../base/errors.js';
import { BG_BLOCK_UNINIT, BG_INODE_UNINIT, descPerBlockOf } from '../format/group-desc.js';
import { blockBitmapChecksum, inodeBitmapChecksum, bitmapChecksumMatches } from '../format/bitmap.js';
import { groupFirstBlock, groupHasSuperblock } from '../format/superblock.js';
import { INCOMPAT_META_BG } from '../format/features.js';
import { allBitsSet, setBits } from './bitmap-scan.js';

/** First block and number of blocks of group `g` (the last group may be short). */
export function groupRange(fs: Ext4Super, g: number): { first: number; count: number } {
  const first = groupFirstBlock(fs.sb, g);
  return { first, count: Math.min(fs.sb.blocksPerGroup, fs.sb.blocksCount - first) };
}

/**
 * Blocks at the start of group `g` taken by the superblock copy, the
 * descriptor table (or its meta_bg block) and the reserved GDT blocks
 * (Linux: ext4_num_base_meta_clusters).
 */
export function groupBaseOverhead(fs: Ext4Super, g: number): number {
  const sb = fs.sb;
  const hasSuper = groupHasSuperblock(sb, g);
  const perBlock = descPerBlockOf(sb);
  const metaBg = (sb.featureIncompat & INCOMPAT_META_BG) !== 0;
  const descBlocks = Math.ceil(fs.groupCount / perBlock);
  if (!metaBg || g < sb.firstMetaBg * perBlock) {
    if (!hasSuper) return 0;
    return 1 + (metaBg ? sb.firstMetaBg : descBlocks) + sb.reservedGdtBlocks;
  }
  // meta_bg: the first, second and last group of each meta group hold its descriptor block.
  const inMeta = g % perBlock;
  const gdb = inMeta === 0 || inMeta === 1 || inMeta === perBlock - 1 ? 1 : 0;
  return (hasSuper ? 1 : 0) + gdb;
}

/** Fills `bm` with the computed contents of group `g`'s never-written block bitmap. */
function initBlockBitmap(fs: Ext4Super, g: number, bm: Uint8Array): void {
  bm.fill(0);
  const { first, count } = groupRange(fs, g);
  setBits(bm, 0, groupBaseOverhead(fs, g));
  const itableBlocks = fs.inodeTableBlocks;
  const mark = (blk: number, n: number): void => {
    const from = Math.max(blk, first);
    const to = Math.min(blk + n, first + count);
    if (from < to) setBits(bm, from - first, to - from);
  };
  for (let h = 0; h < fs.groupCount; h++) {
    const gd = fs.groups[h];
    mark(gd.blockBitmap, 1);
    mark(gd.inodeBitmap, 1);
    mark(gd.inodeTable, itableBlocks);
  }
  setBits(bm, count, bm.length * 8 - count);
}

function initInodeBitmap(fs: Ext4Super, bm: Uint8Array): void {
  bm.fill(0);
  setBits(bm, fs.inodesPerGroup, bm.length * 8 - fs.inodesPerGroup);
}

/** Group `g`'s block bitmap, verified or computed. Modify only through `journalBlockBitmap`. */
export async function readBlockBitmap(fs: Ext4Super, g: number): Promise<MetaBuffer> {
  const gd = fs.groups[g];
  const nr = gd.blockBitmap;
  const hit = fs.cache.cached(nr);
  if (hit !== undefined && hit.verified) return hit;
  if (fs.groupChecksums && (gd.flags & BG_BLOCK_UNINIT) !== 0) {
    const b = fs.cache.newBuffer(nr);
    initBlockBitmap(fs, g, b.data);
    return b;
  }
  return fs.cache.bufferVerified(nr, (data) => {
    if (fs.metadataCsum) {
      const c = blockBitmapChecksum(fs.csumSeed, data, fs.sb.clustersPerGroup);
      if (!bitmapChecksumMatches(gd.blockBitmapCsum, c, fs.descSize)) {
        throw corrupted('block bitmap', g, `checksum does not match (block ${nr})`);
      }
    }
    const { first, count } = groupRange(fs, g);
    const inGroup = (blk: number, n: number): boolean => blk >= first && blk + n <= first + count;
    const check = (blk: number, n: number, what: string): void => {
      if (inGroup(blk, n) && !allBitsSet(data, blk - first, n)) {
        throw corrupted('block bitmap', g, `does not mark the group's ${what} at block ${blk} in use`);
      }
    };
    check(gd.blockBitmap, 1, 'block bitmap');
    check(gd.inodeBitmap, 1, 'inode bitmap');
    check(gd.inodeTable, fs.inodeTableBlocks, 'inode table');
  });
}

/** Group `g`'s inode bitmap, verified or computed. Modify only through `journalInodeBitmap`. */
export async function readInodeBitmap(fs: Ext4Super, g: number): Promise<MetaBuffer> {
  const gd = fs.groups[g];
  const nr = gd.inodeBitmap;
  const hit = fs.cache.cached(nr);
  if (hit !== undefined && hit.verified) return hit;
  if (fs.groupChecksums && (gd.flags & BG_INODE_UNINIT) !== 0) {
    const b = fs.cache.newBuffer(nr);
    initInodeBitmap(fs, b.data);
    return b;
  }
  return fs.cache.bufferVerified(nr, (data) => {
    if (fs.metadataCsum) {
      const c = inodeBitmapChecksum(fs.csumSeed, data, fs.inodesPerGroup);
      if (!bitmapChecksumMatches(gd.inodeBitmapCsum, c, fs.descSize)) {
        throw corrupted('inode bitmap', g, `checksum does not match (block ${nr})`);
      }
    }
  });
}

/**
 * Joins group `g`'s block bitmap (and descriptor) to the transaction before a
 * change: the group stops being BLOCK_UNINIT, and the bitmap's checksum is
 * recomputed into the descriptor at commit.
 */
export async function journalBlockBitmap(fs: Ext4Super, h: Handle, g: number): Promise<MetaBuffer> {
  const b = await readBlockBitmap(fs, g);
  await markGroupDirty(fs, h, g);
  h.getWriteAccess(b);
  const gd = fs.groups[g];
  gd.flags &= ~BG_BLOCK_UNINIT;
  if (fs.metadataCsum) {
    h.onCommit(CommitPhase.BITMAPS, `block bitmap ${g}`, () => {
      gd.blockBitmapCsum = blockBitmapChecksum(fs.csumSeed, b.data, fs.sb.clustersPerGroup);
    });
  }
  return b;
}

/** As `journalBlockBitmap`, for the inode bitmap (INODE_UNINIT cleared). */
export async function journalInodeBitmap(fs: Ext4Super, h: Handle, g: number): Promise<MetaBuffer> {
  const b = await readInodeBitmap(fs, g);
  await markGroupDirty(fs, h, g);
  h.getWriteAccess(b);
  const gd = fs.groups[g];
  gd.flags &= ~BG_INODE_UNINIT;
  if (fs.metadataCsum) {
    h.onCommit(CommitPhase.BITMAPS, `inode bitmap ${g}`, () => {
      gd.inodeBitmapCsum = inodeBitmapChecksum(fs.csumSeed, b.data, fs.inodesPerGroup);
    });
  }
  return b;
}
