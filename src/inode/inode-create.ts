/**
 * A new inode (Linux: __ext4_new_inode + ext4_init_new_inode fields).
 *
 * Allocation happens inside the caller's handle; the inode is born with
 * everything e2fsck expects of an inode in use: the extra fields sized by
 * s_want_extra_isize (32 bytes: nanosecond times, creation time, checksum
 * high half, project id), a fresh i_generation (which also salts its
 * checksums), flags inherited from the parent directory where ext4
 * inherits them, and an empty extent root for files, directories and slow
 * symlinks on an extent filesystem.
 */
import type { Handle } from '../journal/transaction.js';
import type { Ext4Inode } from './ext4-inode.js';
import { Ext4Inode as InodeImpl } from './ext4-inode.js';
import { nowTimestamp, type InodeContext } from './inode-context.js';
import { allocatorsOf } from '../alloc/allocators.js';
import * as I from '../format/inode.js';
import { EXT4_EXT_MAGIC, EXTENT_ROOT_SIZE, encodeExtentNode, extentNodeCapacity } from '../format/extent.js';
import { GOOD_OLD_INODE_SIZE } from '../format/superblock.js';
import { assert } from '../base/assert.js';

/** Flags a new inode takes from its parent directory (Linux: EXT4_FL_INHERITED). */
const INHERITED_FLAGS =
  I.EXT4_SECRM_FL | I.EXT4_UNRM_FL | I.EXT4_COMPR_FL | I.EXT4_SYNC_FL | I.EXT4_NODUMP_FL | I.EXT4_NOATIME_FL |
  I.EXT4_NOCOMPR_FL | I.EXT4_JOURNAL_DATA_FL | I.EXT4_NOTAIL_FL | I.EXT4_DIRSYNC_FL | I.EXT4_PROJINHERIT_FL;
/** Of those, what only directories keep (Linux: EXT4_REG_FLMASK / EXT4_OTHER_FLMASK). */
const DIR_ONLY_FLAGS = I.EXT4_DIRSYNC_FL | I.EXT4_PROJINHERIT_FL;
const REG_OR_DIR_FLAGS = I.EXT4_JOURNAL_DATA_FL | I.EXT4_NOTAIL_FL;

export interface NewInodeSpec {
  /** File type and permission bits. */
  mode: number;
  uid: number;
  gid: number;
  /** The directory the inode will be linked into. */
  parent: Ext4Inode;
  /** Build an extent root in i_block (files, directories, slow symlinks on an extent filesystem). */
  extents: boolean;
}

/** A generation number for a new inode: cheap, well mixed, different across runs. */
let generationState = (Date.now() ^ 0x9e3779b9) >>> 0;
function nextGeneration(): number {
  generationState = (generationState + 0x6d2b79f5) >>> 0;
  let t = generationState;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return (t ^ (t >>> 14)) >>> 0;
}

/** An empty depth-0 extent root for i_block. */
export function emptyExtentRoot(): Uint8Array {
  const block = new Uint8Array(EXTENT_ROOT_SIZE);
  encodeExtentNode({
    kind: 'leaf',
    header: { magic: EXT4_EXT_MAGIC, entries: 0, max: extentNodeCapacity(EXTENT_ROOT_SIZE), depth: 0, generation: 0 },
    leaves: [],
  }, block);
  return block;
}

/**
 * Allocates and initialises an inode with no links (the caller links it and
 * sets i_links_count); writes it into its table block.
 */
export async function createInode(ctx: InodeContext, h: Handle, spec: NewInodeSpec): Promise<Ext4Inode> {
  const fs = ctx.fs;
  const type = spec.mode & I.S_IFMT;
  const isDir = type === I.S_IFDIR;
  const ino = await allocatorsOf(fs).inodes.allocate(h, spec.parent.ino, isDir);
  const now = nowTimestamp(ctx);
  const inodeSize = fs.inodeSize;
  const extraIsize = inodeSize > GOOD_OLD_INODE_SIZE ? Math.min(Math.max(fs.sb.wantExtraIsize, 32), inodeSize - GOOD_OLD_INODE_SIZE) : 0;
  let flags = spec.parent.flags & INHERITED_FLAGS;
  if (!isDir) flags &= ~DIR_ONLY_FLAGS;
  if (type !== I.S_IFREG && !isDir) flags &= ~REG_OR_DIR_FLAGS;
  if (spec.extents && fs.hasExtents) flags |= I.EXT4_EXTENTS_FL;
  const projInherit = (spec.parent.flags & I.EXT4_PROJINHERIT_FL) !== 0;
  const disk: I.Inode = {
    mode: spec.mode,
    uid: spec.uid,
    gid: spec.gid,
    size: 0,
    atime: now,
    ctime: now,
    mtime: now,
    dtime: 0,
    linksCount: 0,
    blocks: 0,
    flags,
    version: 1n,
    block: (flags & I.EXT4_EXTENTS_FL) !== 0 ? emptyExtentRoot() : new Uint8Array(I.I_BLOCK_SIZE),
    generation: nextGeneration(),
    fileAcl: 0,
    faddr: 0,
    osd2Reserved: 0,
    extraIsize,
    checksum: 0,
    crtime: extraIsize >= 24 ? now : { sec: 0, nsec: 0 },
    projid: projInherit && extraIsize >= 32 ? spec.parent.disk.projid : 0,
    extraUnknown: new Uint8Array(Math.max(0, extraIsize - 32)),
    xattrSpace: new Uint8Array(inodeSize - GOOD_OLD_INODE_SIZE - extraIsize),
  };
  if (extraIsize === 0) {
    disk.atime = { sec: now.sec, nsec: 0 };
    disk.ctime = disk.atime;
    disk.mtime = disk.atime;
    disk.version = 1n;
  }
  assert(inodeSize === GOOD_OLD_INODE_SIZE || extraIsize >= 4, 'large inodes carry at least the checksum high half');
  const inode = new InodeImpl(ino, disk, new Uint8Array(inodeSize), fs.metadataCsum ? fs.csumSeed : undefined, fs.nextEsSeq());
  ctx.inodes.insert(inode);
  await ctx.inodes.writeInode(h, inode);
  return inode;
}
