/**
 * Reading inodes from the inode tables (Linux: `__ext4_iget`). Each inode
 * read is checked before anyone uses it: number in range, group initialised,
 * checksum, and flags that agree with the filesystem's features. Decoded
 * inodes are kept in a bounded cache.
 */
import type { Ext4Super } from '../super/ext4-super.js';
import { Ext4Inode } from './ext4-inode.js';
import { ClockCache } from '../cache/clock-cache.js';
import { corrupted } from '../base/errors.js';
import { BG_INODE_UNINIT } from '../format/group-desc.js';
import { OS_LINUX } from '../format/superblock.js';
import * as I from '../format/inode.js';
import { maxBlockMapBlocks } from '../format/indirect.js';
import { MAX_LBLK } from '../extent/mapping.js';

/** Default number of decoded inodes kept; each costs about its inode size plus a few hundred bytes. */
export const INODE_CACHE_ENTRIES = 16384;

export class InodeTable {
  private readonly cache: ClockCache<number, Ext4Inode>;

  constructor(private readonly fs: Ext4Super, maxEntries = INODE_CACHE_ENTRIES) {
    this.cache = new ClockCache(maxEntries);
  }

  /** The inode if it is in the cache (no I/O, no promise). */
  cached(ino: number): Ext4Inode | undefined {
    return this.cache.get(ino);
  }

  /** Inode `ino`, read and validated. `ino` came from a trusted place or a directory entry. */
  async get(ino: number): Promise<Ext4Inode> {
    const hit = this.cache.get(ino);
    if (hit) return hit;
    const inode = await this.load(ino);
    this.cache.set(ino, inode);
    return inode;
  }

  /**
   * `get` without waiting: from the cache, or read at once when the inode
   * table block can be had synchronously (see BufferCache.readSync);
   * undefined otherwise (then use `get`). The same checks run either way.
   */
  getSync(ino: number): Ext4Inode | undefined {
    const hit = this.cache.get(ino);
    if (hit) return hit;
    const { blockNr, offset } = this.locate(ino);
    const block = this.fs.cache.readSync(blockNr);
    if (block === undefined) return undefined;
    const inode = this.decode(ino, block, offset);
    this.cache.set(ino, inode);
    return inode;
  }

  private async load(ino: number): Promise<Ext4Inode> {
    const { blockNr, offset } = this.locate(ino);
    return this.decode(ino, await this.fs.cache.read(blockNr), offset);
  }

  /** Where inode `ino` lives: its inode table block and the byte offset in it. */
  private locate(ino: number): { blockNr: number; offset: number } {
    const fs = this.fs;
    const sb = fs.sb;
    if (!Number.isInteger(ino) || ino < 1 || ino > sb.inodesCount) {
      throw corrupted('inode', ino, `number is outside 1..${sb.inodesCount}`);
    }
    const group = fs.groupOfInode(ino);
    const index = (ino - 1) % fs.inodesPerGroup;
    const gd = fs.groups[group];
    if (fs.gdtCsum || fs.metadataCsum) {
      // With group checksums the kernel trusts bg_flags and bg_itable_unused:
      // inodes past the used part of the table were never written.
      if ((gd.flags & BG_INODE_UNINIT) !== 0) {
        throw corrupted('inode', ino, `lies in group ${group}, whose inode table is uninitialized`);
      }
      if (index >= fs.inodesPerGroup - gd.itableUnused) {
        throw corrupted('inode', ino, `lies in the unused part of group ${group}'s inode table`);
      }
    }
    const byteInTable = index * fs.inodeSize;
    return { blockNr: gd.inodeTable + Math.floor(byteInTable / fs.blockSize), offset: byteInTable % fs.blockSize };
  }

  /** Decodes and checks the inode at `off` in its inode table block. */
  private decode(ino: number, block: Uint8Array, off: number): Ext4Inode {
    const fs = this.fs;
    const raw = block.slice(off, off + fs.inodeSize);
    const disk = I.decodeInode(raw, fs.inodeSize, ino);
    // Linux checks inode checksums only on filesystems a Linux system created.
    if (fs.metadataCsum && fs.sb.creatorOs === OS_LINUX && !I.verifyInodeChecksum(fs.csumSeed, ino, raw, fs.inodeSize)) {
      throw corrupted('inode', ino, 'checksum does not match');
    }
    checkInode(fs, ino, disk);
    return new Ext4Inode(ino, disk, raw, fs.metadataCsum ? I.inodeCsumSeed(fs.csumSeed, ino, disk.generation) : 0);
  }
}

/** Things about an inode that the layers above take for granted. */
function checkInode(fs: Ext4Super, ino: number, disk: I.Inode): void {
  if (disk.linksCount === 0 && (disk.mode === 0 || disk.dtime !== 0)) {
    throw corrupted('inode', ino, 'is not in use (deleted inode referenced)');
  }
  const type = disk.mode & I.S_IFMT;
  if (![I.S_IFREG, I.S_IFDIR, I.S_IFLNK, I.S_IFCHR, I.S_IFBLK, I.S_IFIFO, I.S_IFSOCK].includes(type)) {
    throw corrupted('inode', ino, `has invalid file type in mode 0${disk.mode.toString(8)}`);
  }
  const extents = (disk.flags & I.EXT4_EXTENTS_FL) !== 0;
  const inline = (disk.flags & I.EXT4_INLINE_DATA_FL) !== 0;
  if (extents && !fs.hasExtents) throw corrupted('inode', ino, 'uses extents but the filesystem lacks the extent feature');
  if (inline && !fs.hasInlineData) throw corrupted('inode', ino, 'has inline data but the filesystem lacks the inline_data feature');
  if (extents && inline) throw corrupted('inode', ino, 'has both the extents and the inline data flag');
  if ((disk.flags & I.EXT4_ENCRYPT_FL) !== 0) throw fs.unsupported(`inode ${ino} is encrypted`);
  // Logical block numbers are 32-bit (and the block map reaches less far), so
  // no valid file is larger; a larger i_size would send reads past the end of
  // the mapping space.
  const maxBlocks = extents || inline ? MAX_LBLK : maxBlockMapBlocks(fs.blockSize);
  if (disk.size > maxBlocks * fs.blockSize) {
    throw corrupted('inode', ino, `size ${disk.size} exceeds the largest file this inode can map`);
  }
  if (type === I.S_IFDIR && !fs.hasLargeDir && disk.size >= 2 ** 32) {
    throw corrupted('inode', ino, `directory size ${disk.size} needs the large_dir feature`);
  }
}
