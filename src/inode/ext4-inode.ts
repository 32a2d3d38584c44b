/**
 * An inode in memory (Linux: `struct ext4_inode_info`): the decoded on-disk
 * inode, a copy of its raw bytes (the in-inode xattr area lives there), the
 * checksum seed its blocks use, and the mapping state that later layers
 * keep per inode.
 */
import type { Inode } from '../format/inode.js';
import * as I from '../format/inode.js';

export class Ext4Inode {
  /**
   * Extent status sequence counter (R1). Every change to this inode's block
   * mapping increments it exactly once, under `dataSem` held exclusively;
   * every IOMap handed out carries its value as the validity cookie. The
   * read-only engine never changes a mapping, so it stays 0 until the write
   * path arrives.
   */
  esSeq = 0;

  /** The extent layer's decoded i_block (see MappedInode.extentRootCache). */
  extentRootCache: unknown = undefined;

  /** The xattr layer's parse of the in-inode attributes; cleared by whoever rewrites them. */
  ibodyXattrCache: unknown = undefined;

  constructor(
    readonly ino: number,
    readonly disk: Inode,
    /** The inode's bytes as read (s_inode_size long). */
    readonly raw: Uint8Array,
    /** Seed of this inode's extent, directory and htree block checksums. */
    readonly csumSeed: number,
  ) {}

  get mode(): number { return this.disk.mode; }
  get size(): number { return this.disk.size; }
  get flags(): number { return this.disk.flags; }

  get isDir(): boolean { return (this.disk.mode & I.S_IFMT) === I.S_IFDIR; }
  get isReg(): boolean { return (this.disk.mode & I.S_IFMT) === I.S_IFREG; }
  get isSymlink(): boolean { return (this.disk.mode & I.S_IFMT) === I.S_IFLNK; }
  get usesExtents(): boolean { return (this.disk.flags & I.EXT4_EXTENTS_FL) !== 0; }
  get hasInlineData(): boolean { return (this.disk.flags & I.EXT4_INLINE_DATA_FL) !== 0; }
  get isIndexedDir(): boolean { return (this.disk.flags & I.EXT4_INDEX_FL) !== 0; }
}
