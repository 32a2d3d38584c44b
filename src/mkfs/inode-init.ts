/**
 * Inodes as libext2fs writes new ones (ext2fs_write_new_inode): unset
 * times become the creation time, and in inodes larger than 128 bytes the
 * extra area is 32 bytes (the fields up to i_projid) with the creation time
 * in i_crtime. Nanoseconds stay zero.
 */
import { assert } from '../base/assert.js';
import { encodeInode, GOOD_OLD_INODE_SIZE, I_BLOCK_SIZE, setInodeChecksum, type Inode } from '../format/inode.js';
import { EXTRA_ISIZE } from './superblock-init.js';

/** An all-zero inode for an inode table of `inodeSize`-byte inodes (i_extra_isize 0). */
export function zeroInode(inodeSize: number): Inode {
  const zero = { sec: 0, nsec: 0 };
  return {
    mode: 0, uid: 0, size: 0, atime: zero, ctime: zero, mtime: zero, dtime: 0, gid: 0, linksCount: 0, blocks: 0,
    flags: 0, version: 0n, block: new Uint8Array(I_BLOCK_SIZE), generation: 0, fileAcl: 0, faddr: 0, osd2Reserved: 0,
    extraIsize: 0, checksum: 0, crtime: zero, projid: 0, extraUnknown: new Uint8Array(0),
    xattrSpace: new Uint8Array(inodeSize - GOOD_OLD_INODE_SIZE),
  };
}

/**
 * What ext2fs_write_new_inode adds: creation time for unset times, and for
 * large inodes the 32-byte extra area with i_crtime.
 */
export function newInode(inodeSize: number, time: number, fields: Partial<Inode>): Inode {
  const inode: Inode = { ...zeroInode(inodeSize), ...fields };
  const t = { sec: time, nsec: 0 };
  if (inode.ctime.sec === 0) inode.ctime = t;
  if (inode.mtime.sec === 0) inode.mtime = t;
  if (inode.atime.sec === 0) inode.atime = t;
  if (inodeSize > GOOD_OLD_INODE_SIZE) {
    inode.extraIsize = EXTRA_ISIZE;
    if (inode.crtime.sec === 0) inode.crtime = t;
    if (inode.xattrSpace.length !== inodeSize - GOOD_OLD_INODE_SIZE - EXTRA_ISIZE) {
      inode.xattrSpace = new Uint8Array(inodeSize - GOOD_OLD_INODE_SIZE - EXTRA_ISIZE);
    }
  }
  return inode;
}

/** i_blocks for `blocks` filesystem blocks: 512-byte units (mkfs never sets EXT4_HUGE_FILE_FL). */
export function iBlocksFor(blocks: number, blockSize: number): number {
  return blocks * (blockSize / 512);
}

/** The encoded inode (into `buf` when given), checksummed when `fsSeed` is given (metadata_csum). */
export function encodeNewInode(inode: Inode, inodeSize: number, ino: number, fsSeed: number | undefined, buf: Uint8Array = new Uint8Array(inodeSize)): Uint8Array {
  assert(inode.xattrSpace.length === inodeSize - GOOD_OLD_INODE_SIZE - inode.extraIsize, () => `inode ${ino}: xattr space size`);
  encodeInode(inode, buf, inodeSize);
  if (fsSeed !== undefined) setInodeChecksum(fsSeed, ino, buf, inodeSize);
  return buf;
}
