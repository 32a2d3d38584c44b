/**
 * A directory's blocks as the write path sees them: reading a block as a
 * leaf, an htree root or an htree node (verified and decoded once per load,
 * through the buffer cache's decoded slot), and `DirChange`, which gathers
 * the blocks one operation changes.
 *
 * Every directory change runs in two phases:
 *  1. plan: read and decide, with no change made, so that every ordinary
 *     failure (ENOSPC from a full index, ENOENT, EEXIST, ENAMETOOLONG,
 *     ENOTSUP) and corruption found in the blocks is thrown while the
 *     journal handle is still clean;
 *  2. apply: join each block to be changed to the handle (which pins it in
 *     the cache), allocate the new blocks, then change them all in one
 *     synchronous section, so no reader in between sees half of the change.
 */
import type { Ext4Super } from '../super/ext4-super.js';
import type { Ext4Inode } from '../inode/ext4-inode.js';
import type { Handle } from '../journal/transaction.js';
import type { BlockReservation } from '../alloc/block-alloc.js';
import type { MetaBuffer } from '../cache/buffer-cache.js';
import { assert } from '../base/assert.js';
import { corrupted } from '../base/errors.js';
import { mapBlocks } from '../extent/map-blocks.js';
import { getOrAllocateBlocks } from '../extent/file-blocks.js';
import { parseDirRecords, verifyDirBlock, type DirEntry } from '../format/dirent.js';
import { decodeDxNode, decodeDxRoot, verifyDxBlock, type DxNode, type DxRoot } from '../format/htree.js';
import { insertIntoRecord, leafLayout, sealLeaf, type LeafLayout, type LeafRecord } from './leaf-block.js';

/** A leaf as read: its place and its records (live and unused, in block order; do not modify). */
export interface Leaf {
  lblk: number;
  records: readonly DirEntry[];
}

export function layoutOf(fs: Ext4Super): LeafLayout {
  return leafLayout(fs.blockSize, fs.hasFileType, fs.metadataCsum);
}

/** Blocks in the directory (i_size / block size); a partial block is corruption. */
export function dirBlockCount(fs: Ext4Super, dir: Ext4Inode): number {
  if (dir.size % fs.blockSize !== 0) throw corrupted('inode', dir.ino, `directory size ${dir.size} is not a multiple of the block size`);
  return dir.size / fs.blockSize;
}

/** Physical block of directory block `lblk`; directories have no holes. */
export async function dirBlockNr(fs: Ext4Super, dir: Ext4Inode, lblk: number): Promise<number> {
  const m = await mapBlocks(fs, dir, lblk);
  if (m.state !== 'written') throw corrupted('inode', dir.ino, `directory has a hole at block ${lblk}`);
  return m.pblk + (lblk - m.lblk);
}

/** Leaf block `lblk`, checksummed and parsed like ext4_check_dir_entry. */
export async function readLeaf(fs: Ext4Super, dir: Ext4Inode, lblk: number): Promise<Leaf> {
  const pblk = await dirBlockNr(fs, dir, lblk);
  const records = await fs.cache.readDecoded(pblk, 'dir-leaf', (data, verified) => {
    // A leaf this volume changed was sealed by us: re-parsing it after each insert needs no second checksum pass.
    if (fs.metadataCsum && !verified && !verifyDirBlock(dir.csumSeed, data)) {
      throw corrupted('directory block', pblk, `inode ${dir.ino} logical block ${lblk}: checksum does not match or tail missing`);
    }
    return parseDirRecords(data, { ino: dir.ino, lblk, blockNr: pblk }, { hasFileType: fs.hasFileType, hasTail: fs.metadataCsum, inodesCount: fs.sb.inodesCount });
  });
  return { lblk, records };
}

/** Block 0 of an indexed directory as its htree root. */
export async function readDxRoot(fs: Ext4Super, dir: Ext4Inode): Promise<DxRoot> {
  const pblk = await dirBlockNr(fs, dir, 0);
  const dirBlocks = dirBlockCount(fs, dir);
  return fs.cache.readDecoded(pblk, 'dx-root', (data) => {
    const root = decodeDxRoot(data, { ino: dir.ino, lblk: 0, blockNr: pblk }, { hasTail: fs.metadataCsum, largeDir: fs.hasLargeDir, dirBlocks });
    if (fs.metadataCsum && !verifyDxBlock(dir.csumSeed, data, root.countOffset, root.count, root.limit)) {
      throw corrupted('directory block', pblk, `inode ${dir.ino}: htree root checksum does not match`);
    }
    return root;
  });
}

/** Directory block `lblk` as an interior htree node. */
export async function readDxNode(fs: Ext4Super, dir: Ext4Inode, lblk: number): Promise<DxNode> {
  const pblk = await dirBlockNr(fs, dir, lblk);
  const dirBlocks = dirBlockCount(fs, dir);
  return fs.cache.readDecoded(pblk, 'dx-node', (data) => {
    const node = decodeDxNode(data, { ino: dir.ino, lblk, blockNr: pblk }, { hasTail: fs.metadataCsum, dirBlocks });
    if (fs.metadataCsum && !verifyDxBlock(dir.csumSeed, data, node.countOffset, node.count, node.limit)) {
      throw corrupted('directory block', pblk, `inode ${dir.ino} logical block ${lblk}: htree node checksum does not match`);
    }
    return node;
  });
}

/**
 * The blocks one directory operation changes, joined to its handle. Blocks
 * appended here extend the directory only when `apply` runs: i_size grows
 * there, in the same synchronous section as the entries that use them.
 */
export class DirChange {
  private readonly joined = new Map<number, MetaBuffer>();
  /** Blocks the directory had before this change (known once a block is appended). */
  private firstNew = -1;
  private appended = 0;
  /** Run by `finish`, inside the synchronous section: cache updates that must go with the change. */
  readonly after: Array<() => void> = [];

  constructor(
    readonly fs: Ext4Super,
    readonly h: Handle,
    readonly dir: Ext4Inode,
    private readonly r: BlockReservation | undefined,
  ) {}

  /** Joins existing directory block `lblk` to the handle (pinning it) and returns it. */
  async join(lblk: number): Promise<MetaBuffer> {
    const have = this.joined.get(lblk);
    if (have !== undefined) return have;
    const pblk = await dirBlockNr(this.fs, this.dir, lblk);
    for (;;) {
      const b = await this.fs.cache.buffer(pblk);
      // Another task may have run between the buffer being handed out and
      // now, and evicted it; changing an evicted copy would be lost to the
      // next reader. Once write access pins it, it stays.
      if (this.fs.cache.cached(pblk) !== b) continue;
      this.h.getWriteAccess(b);
      this.joined.set(lblk, b);
      return b;
    }
  }

  /**
   * Allocates the block after the directory's last (ext4_append): zeroed,
   * joined to the handle. Takes the directory's dataSem around the mapping
   * change (lock order: handle, then dataSem).
   */
  async append(): Promise<{ lblk: number; buf: MetaBuffer }> {
    assert(this.r !== undefined, 'directory block appended without a block reservation');
    const { fs, h, dir } = this;
    if (this.firstNew < 0) this.firstNew = dirBlockCount(fs, dir);
    const lblk = this.firstNew + this.appended;
    const r = this.r;
    const run = await dir.dataSem.withExclusive(() => getOrAllocateBlocks({ fs, h, inode: dir, r }, lblk, 1));
    if (!run.fresh) throw corrupted('inode', dir.ino, `directory block ${lblk} past the end of the directory is already mapped`);
    const b = fs.cache.newBuffer(run.pblk);
    h.getWriteAccess(b);
    this.joined.set(lblk, b);
    this.appended++;
    return { lblk, buf: b };
  }

  /** The block reservation the change allocates from. */
  reservation(): BlockReservation {
    assert(this.r !== undefined, 'directory change without a block reservation');
    return this.r;
  }

  /** A joined block by logical number. */
  buffer(lblk: number): MetaBuffer {
    const b = this.joined.get(lblk);
    assert(b !== undefined, () => `directory block ${lblk} changed without being joined`);
    return b;
  }

  /**
   * Ends the synchronous section: every joined block is marked dirty and the
   * directory's size covers the appended blocks (the caller writes the
   * inode).
   */
  finish(): void {
    for (const b of this.joined.values()) this.h.dirtyMetadata(b);
    if (this.appended > 0) this.dir.disk.size = (this.firstNew + this.appended) * this.fs.blockSize;
    for (const fn of this.after) fn();
  }
}

/** Puts `entry` into record `slot` of a leaf that has room for it, and ends the change. */
export async function insertIntoLeaf(change: DirChange, leaf: Leaf, slot: number, entry: LeafRecord): Promise<void> {
  const b = await change.join(leaf.lblk);
  const layout = layoutOf(change.fs);
  insertIntoRecord(b.data, layout, leaf.records[slot], entry);
  sealLeaf(b.data, layout, change.dir.csumSeed);
  change.finish();
}
