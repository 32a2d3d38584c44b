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
import { assert } from '../base/assert.js';
import type { Handle } from '../journal/transaction.js';

/** Default number of decoded inodes kept; each costs about its inode size plus a few hundred bytes. */
export const INODE_CACHE_ENTRIES = 16384;

export class InodeTable {
  private readonly cache: ClockCache<number, Ext4Inode>;
  private readonly loading = new Map<number, Promise<Ext4Inode>>();

  /** Whether loaded inodes are kept (see the constructor). */
  private readonly keeps: boolean;

  /**
   * `maxEntries` 0 keeps no inode: for a reader of a read-only volume that
   * holds on to what it needs itself (a tree walk meets each inode once).
   * Only there may one inode have two copies in memory: nobody changes it.
   */
  constructor(private readonly fs: Ext4Super, maxEntries = INODE_CACHE_ENTRIES) {
    assert(maxEntries > 0 || fs.readOnly, 'only a read-only volume may read inodes without caching them');
    this.keeps = maxEntries > 0;
    this.cache = new ClockCache(maxEntries, (inode) => inode.pinned);
  }

  /** Puts a just-created inode into the cache (it has no copy on disk to read yet). */
  insert(inode: Ext4Inode): void {
    const old = this.cache.peek(inode.ino);
    assert(old === undefined || !old.pinned, () => `inode ${inode.ino} created while an in-use copy is cached`);
    this.cache.set(inode.ino, inode);
  }

  /** Forgets a freed inode, so a later allocation of the number reads it afresh. */
  drop(ino: number): void {
    this.cache.delete(ino);
  }

  /**
   * Encodes `inode` into its slot of the inode table, with its checksum,
   * inside handle `h` (Linux: ext4_mark_inode_dirty). Call after every
   * change of `inode.disk`, before the handle stops.
   */
  async writeInode(h: Handle, inode: Ext4Inode): Promise<void> {
    const fs = this.fs;
    const { blockNr, offset } = inodeLocation(fs, inode.ino);
    const b = await fs.cache.buffer(blockNr);
    h.getWriteAccess(b);
    const raw = inode.raw;
    I.encodeInode(inode.disk, raw, fs.inodeSize);
    if (fs.metadataCsum) inode.disk.checksum = I.setInodeChecksum(fs.csumSeed, inode.ino, raw, fs.inodeSize);
    b.data.set(raw.subarray(0, fs.inodeSize), offset);
    h.dirtyMetadata(b);
    inode.ibodyXattrCache = undefined;
  }

  /** The inode if it is in the cache (no I/O, no promise). */
  cached(ino: number): Ext4Inode | undefined {
    return this.cache.get(ino);
  }

  /** Inode `ino`, read and validated. `ino` came from a trusted place or a directory entry. */
  get(ino: number): Promise<Ext4Inode> {
    return this.getOrLoad(ino, false);
  }

  /**
   * An inode found on the orphan list or in the orphan file: it may have no
   * links (and, on the old list, an i_dtime that is the next orphan), which
   * `get` refuses as "deleted".
   */
  getOrphan(ino: number): Promise<Ext4Inode> {
    return this.getOrLoad(ino, true);
  }

  /**
   * `get` without waiting: from the cache, or read at once when the inode
   * table block can be had synchronously (see BufferCache.readSync);
   * undefined otherwise (then use `get`). The same checks run either way.
   */
  getSync(ino: number): Ext4Inode | undefined {
    const hit = this.cache.get(ino);
    if (hit) return hit;
    if (this.loading.has(ino)) return undefined;
    const { blockNr, offset } = this.locate(ino);
    const block = this.fs.cache.readSync(blockNr);
    if (block === undefined) return undefined;
    const inode = this.decode(ino, block, offset, false);
    if (this.keeps) this.cache.set(ino, inode);
    return inode;
  }

  /**
   * Concurrent first reads of one inode share a single load: two in-memory
   * copies of an inode would each believe their locks and esSeq guard it.
   */
  private async getOrLoad(ino: number, orphan: boolean): Promise<Ext4Inode> {
    const hit = this.cache.get(ino);
    if (hit) return hit;
    let pending = this.loading.get(ino);
    if (pending === undefined) {
      pending = this.load(ino, orphan).then((inode) => {
        if (this.keeps) this.cache.set(ino, inode);
        return inode;
      }).finally(() => this.loading.delete(ino));
      this.loading.set(ino, pending);
    }
    return pending;
  }

  private async load(ino: number, orphan: boolean): Promise<Ext4Inode> {
    const { blockNr, offset } = this.locate(ino);
    return this.decode(ino, await this.fs.cache.read(blockNr), offset, orphan);
  }

  /** Where inode `ino` lives: its inode table block and the byte offset in it, after checking it may be read. */
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
    return inodeLocation(fs, ino);
  }

  /** Decodes and checks the inode at `off` in its inode table block. */
  private decode(ino: number, block: Uint8Array, off: number, orphan: boolean): Ext4Inode {
    const fs = this.fs;
    // A read-only volume never changes a cached block: the inode may look into
    // it. A writable one keeps its own copy, as the block changes under it.
    const raw = fs.readOnly ? block.subarray(off, off + fs.inodeSize) : block.slice(off, off + fs.inodeSize);
    const disk = I.decodeInode(raw, fs.inodeSize, ino, fs.readOnly);
    // Linux checks inode checksums only on filesystems a Linux system created.
    if (fs.metadataCsum && fs.sb.creatorOs === OS_LINUX && !I.verifyInodeChecksum(fs.csumSeed, ino, raw, fs.inodeSize)) {
      throw corrupted('inode', ino, 'checksum does not match');
    }
    checkInode(fs, ino, disk, orphan);
    return new Ext4Inode(ino, disk, raw, fs.metadataCsum ? fs.csumSeed : undefined, fs.nextEsSeq());
  }
}

/** The inode table block holding inode `ino` and the byte offset of its slot. */
export function inodeLocation(fs: Ext4Super, ino: number): { blockNr: number; offset: number } {
  const group = fs.groupOfInode(ino);
  const index = (ino - 1) % fs.inodesPerGroup;
  const byteInTable = index * fs.inodeSize;
  return {
    blockNr: fs.groups[group].inodeTable + Math.floor(byteInTable / fs.blockSize),
    offset: byteInTable % fs.blockSize,
  };
}

/** Things about an inode that the layers above take for granted. */
function checkInode(fs: Ext4Super, ino: number, disk: I.Inode, orphan: boolean): void {
  if (disk.mode === 0 || (!orphan && disk.linksCount === 0 && disk.dtime !== 0)) {
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
