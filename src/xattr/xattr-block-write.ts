/**
 * Writing an inode's xattr block (Linux: ext4_xattr_block_set and
 * ext4_xattr_release_block).
 *
 * One block may serve many inodes: h_refcount counts the inodes whose
 * i_file_acl names it, and each of them counts the block in its own
 * i_blocks. So a block is changed in place only while this inode is its
 * sole user; otherwise the new contents go to a freshly allocated block
 * (copy-on-write) and the old block loses one reference. A block whose last
 * reference goes is freed (and forgotten by the journal, so no replay or
 * checkpoint writes its old contents over the next user of the block).
 *
 * The refcount is read right before it is acted on, with no await in
 * between: another inode sharing the block may have dropped its reference
 * while this operation waited, never added one (this engine does not share
 * blocks it writes), so a block seen with refcount 1 stays private.
 */
import type { Ext4Super } from '../super/ext4-super.js';
import type { Ext4Inode } from '../inode/ext4-inode.js';
import type { Handle } from '../journal/transaction.js';
import type { MetaBuffer } from '../cache/buffer-cache.js';
import type { BlockReservation } from '../alloc/block-alloc.js';
import { allocatorsOf } from '../alloc/allocators.js';
import { assert } from '../base/assert.js';
import { corrupted } from '../base/errors.js';
import { groupFirstBlock } from '../format/superblock.js';
import { addInodeBlocks } from '../extent/inode-blocks.js';
import { writeU32LE } from '../format/le.js';
import {
  encodeXattrBlock, parseXattrBlock, readXattrBlockHeader, verifyXattrBlock, writeXattrBlockChecksum,
  XATTR_BLOCK_HEADER_SIZE, type XattrInput,
} from '../format/xattr.js';

/** The inode's xattr block, its checksum and layout verified (as the read side checks it). */
export async function xattrBlockBuffer(fs: Ext4Super, inode: Ext4Inode, blockNr: number): Promise<MetaBuffer> {
  fs.checkBlocks(blockNr, 1, 'inode', inode.ino);
  return fs.cache.bufferVerified(blockNr, (data) => {
    if (fs.metadataCsum && !verifyXattrBlock(fs.csumSeed, blockNr, data)) {
      throw corrupted('xattr block', blockNr, 'checksum does not match');
    }
    parseXattrBlock(data, blockNr);
  });
}

/** h_refcount of a verified block; 0 would mean nobody uses it, which an inode naming it contradicts. */
export function xattrBlockRefcount(b: MetaBuffer): number {
  const refcount = readXattrBlockHeader(b.data).refcount;
  if (refcount === 0) throw corrupted('xattr block', b.blockNr, 'reference count 0 on a block in use');
  return refcount;
}

/** Bytes an xattr block holds for entries and values. */
export function xattrBlockCapacity(fs: Ext4Super): number {
  return fs.blockSize - XATTR_BLOCK_HEADER_SIZE;
}

function sealBlock(fs: Ext4Super, b: MetaBuffer): void {
  if (fs.metadataCsum) writeXattrBlockChecksum(fs.csumSeed, b.blockNr, b.data);
}

/** A new block holding `entries`, allocated near the start of the inode's group (Linux's goal). */
async function newXattrBlock(fs: Ext4Super, h: Handle, inode: Ext4Inode, entries: readonly XattrInput[], r: BlockReservation): Promise<number> {
  const image = encodeXattrBlock(entries, fs.blockSize);
  const goal = groupFirstBlock(fs.sb, fs.groupOfInode(inode.ino));
  const run = await allocatorsOf(fs).blocks.allocate(h, r, goal, 1, 1);
  const b = fs.cache.newBuffer(run.pblk);
  h.getWriteAccess(b);
  b.data.set(image);
  sealBlock(fs, b);
  h.dirtyMetadata(b);
  return run.pblk;
}

/** Drops this inode's reference to `blockNr`: decrement the refcount, or free the block with the last one. */
async function dropXattrBlockRef(fs: Ext4Super, h: Handle, inode: Ext4Inode, blockNr: number): Promise<void> {
  const b = await xattrBlockBuffer(fs, inode, blockNr);
  const refcount = xattrBlockRefcount(b);
  if (refcount === 1) {
    await allocatorsOf(fs).blocks.free(h, blockNr, 1, true);
    return;
  }
  h.getWriteAccess(b);
  writeU32LE(b.data, 4, refcount - 1);
  sealBlock(fs, b);
  h.dirtyMetadata(b);
}

/**
 * Whether writing `entries` as this inode's block list needs a block from
 * the reservation: when the inode has no block yet, or shares it. Checked
 * by the caller before any change, so a full disk gives ENOSPC cleanly.
 */
export async function xattrBlockWriteNeedsBlock(fs: Ext4Super, inode: Ext4Inode, entries: readonly XattrInput[]): Promise<boolean> {
  if (entries.length === 0) return false;
  const old = inode.disk.fileAcl;
  if (old === 0) return true;
  return xattrBlockRefcount(await xattrBlockBuffer(fs, inode, old)) > 1;
}

/**
 * Makes `entries` (in the order given) the inode's xattr block contents:
 * in place, in a new block, or no block at all when `entries` is empty.
 * Changes `inode.disk.fileAcl` and `inode.disk.blocks` in memory; the
 * caller writes the inode. `r` must hold a block when
 * `xattrBlockWriteNeedsBlock` said so.
 */
export async function writeXattrBlock(
  fs: Ext4Super, h: Handle, inode: Ext4Inode, entries: readonly XattrInput[], r: BlockReservation,
): Promise<void> {
  const old = inode.disk.fileAcl;
  if (entries.length === 0) {
    await releaseXattrBlock(fs, h, inode);
    return;
  }
  if (old !== 0) {
    const b = await xattrBlockBuffer(fs, inode, old);
    if (xattrBlockRefcount(b) === 1) {
      const image = encodeXattrBlock(entries, fs.blockSize);
      h.getWriteAccess(b);
      b.data.set(image);
      sealBlock(fs, b);
      h.dirtyMetadata(b);
      return;
    }
  }
  assert(r.remaining >= 1, () => `inode ${inode.ino}: a new xattr block is needed but none was reserved`);
  const nr = await newXattrBlock(fs, h, inode, entries, r);
  // Point the inode at the new copy before letting go of the old one: a
  // reader in between sees the old contents or the new, never neither.
  inode.disk.fileAcl = nr;
  if (old === 0) {
    addInodeBlocks(fs, inode, 1);
  } else {
    await dropXattrBlockRef(fs, h, inode, old);
  }
}

/** Credits of `releaseXattrBlock`: the block (refcount) or its bitmap, descriptor block and revoke; the superblock. */
export const XATTR_RELEASE_CREDITS = 4;

/**
 * Lets go of the inode's xattr block when the inode is freed (Linux:
 * ext4_xattr_release_block from ext4_xattr_delete_inode): one reference
 * less, the block freed with the last. Clears i_file_acl and the block's
 * share of i_blocks; the caller writes the inode.
 */
export async function releaseXattrBlock(fs: Ext4Super, h: Handle, inode: Ext4Inode): Promise<void> {
  const old = inode.disk.fileAcl;
  if (old === 0) return;
  inode.disk.fileAcl = 0;
  addInodeBlocks(fs, inode, -1);
  await dropXattrBlockRef(fs, h, inode, old);
}
