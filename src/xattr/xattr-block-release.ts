/**
 * Letting go of an inode's xattr block (Linux: ext4_xattr_release_block),
 * when the inode is freed: a block shared by several inodes (h_refcount > 1)
 * only loses one reference; the last user frees it.
 */
import type { Ext4Super } from '../super/ext4-super.js';
import type { Handle } from '../journal/transaction.js';
import type { Ext4Inode } from '../inode/ext4-inode.js';
import { allocatorsOf } from '../alloc/allocators.js';
import { addInodeBlocks } from '../extent/inode-blocks.js';
import { corrupted } from '../base/errors.js';
import { readXattrBlockHeader, verifyXattrBlock, writeXattrBlockChecksum, EXT4_XATTR_MAGIC } from '../format/xattr.js';
import { writeU32LE } from '../format/le.js';

/** Credits: the xattr block, its bitmap and descriptor, the superblock. */
export const XATTR_RELEASE_CREDITS = 4;

/** Drops `inode`'s reference to its xattr block (freeing it if it was the last) and clears i_file_acl. */
export async function releaseXattrBlock(fs: Ext4Super, h: Handle, inode: Ext4Inode): Promise<void> {
  const nr = inode.disk.fileAcl;
  if (nr === 0) return;
  fs.checkBlocks(nr, 1, 'inode', inode.ino);
  const b = await fs.cache.buffer(nr);
  const hdr = readXattrBlockHeader(b.data);
  if (hdr.magic !== EXT4_XATTR_MAGIC || (fs.metadataCsum && !b.verified && !verifyXattrBlock(fs.csumSeed, nr, b.data))) {
    throw corrupted('xattr block', nr, 'bad magic or checksum');
  }
  if (hdr.refcount <= 1) {
    await allocatorsOf(fs).blocks.free(h, nr, 1, true);
  } else {
    h.getWriteAccess(b);
    writeU32LE(b.data, 4, hdr.refcount - 1);
    if (fs.metadataCsum) writeXattrBlockChecksum(fs.csumSeed, nr, b.data);
    h.dirtyMetadata(b);
  }
  inode.disk.fileAcl = 0;
  addInodeBlocks(fs, inode, -1);
  inode.ibodyXattrCache = undefined;
}
