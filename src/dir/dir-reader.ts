/**
 * Reading directories (Linux: fs/ext4/dir.c, namei.c lookup side, inline.c).
 *
 * A directory is stored one of three ways:
 *  - inline in its inode (inline_data): parent number plus entries in i_block
 *    and system.data;
 *  - linear: blocks of variable-length entries, each block ending with a
 *    checksum tail under metadata_csum;
 *  - hashed (htree, INDEX_FL): the same leaf blocks, plus an index in block 0
 *    (dx_root) and possibly one or two levels of dx_node blocks, mapping name
 *    hashes to leaf blocks. Lookups follow the index; listing walks the
 *    leaves in block order and skips index blocks.
 *
 * Every block is checksummed and fully validated before any entry is used.
 */
import type { Ext4Super } from '../super/ext4-super.js';
import type { Ext4Inode } from '../inode/ext4-inode.js';
import { inlineDir } from '../inode/inline.js';
import { mapBlocks } from '../extent/map-blocks.js';
import { corrupted } from '../base/errors.js';
import { parseDirBlock, verifyDirBlock, type DirEntry } from '../format/dirent.js';
import { decodeDxRoot, decodeDxNode, verifyDxBlock, isDxNodeBlock, dxLookup, type DxEntry } from '../format/htree.js';
import { dirHash, effectiveHashVersion } from '../format/dirhash.js';
import { DirCache, nameKey, registerDirCache, type CachedEntry } from './dcache.js';

export interface DirEntryInfo {
  /** Name bytes as stored. */
  name: Uint8Array;
  /** The name as a string when its bytes are valid UTF-8 (see dcache.ts), else undefined. */
  text: string | undefined;
  ino: number;
  /** EXT4_FT_* (0 when the filesystem lacks the filetype feature). */
  fileType: number;
}

/** Default number of names the directory-entry cache holds. */
export const DCACHE_NAMES = 262144;

function isDotOrDotDot(name: Uint8Array): boolean {
  return (name.length === 1 && name[0] === 0x2e) || (name.length === 2 && name[0] === 0x2e && name[1] === 0x2e);
}

export class DirReader {
  private readonly dcache: DirCache;

  constructor(private readonly fs: Ext4Super, maxNames = DCACHE_NAMES) {
    this.dcache = new DirCache(maxNames);
    registerDirCache(fs, this.dcache);
  }

  /** Drops what is cached of `dirIno`'s entries (its contents changed). */
  forget(dirIno: number): void {
    this.dcache.invalidate(dirIno);
  }

  /** Number of blocks the directory spans. */
  private blockCount(dir: Ext4Inode): number {
    const bs = this.fs.blockSize;
    if (dir.size % bs !== 0) throw corrupted('inode', dir.ino, `directory size ${dir.size} is not a multiple of the block size`);
    return dir.size / bs;
  }

  private isHtree(dir: Ext4Inode): boolean {
    return dir.isIndexedDir && this.fs.hasDirIndex;
  }

  /** Directory block `lblk`, read through the buffer cache. Directories may not have holes. */
  private async block(dir: Ext4Inode, lblk: number): Promise<Uint8Array> {
    const m = await mapBlocks(this.fs, dir, lblk);
    if (m.state !== 'written') throw corrupted('inode', dir.ino, `directory has a hole at block ${lblk}`);
    return this.fs.cache.read(m.pblk);
  }

  private leafEntries(dir: Ext4Inode, lblk: number, data: Uint8Array): DirEntry[] {
    if (this.fs.metadataCsum && !verifyDirBlock(dir.csumSeed, data)) {
      throw corrupted('directory block', lblk, `of inode ${dir.ino}: checksum does not match or tail missing`);
    }
    return parseDirBlock(data, { ino: dir.ino, lblk }, { hasFileType: this.fs.hasFileType, hasTail: this.fs.metadataCsum });
  }

  /**
   * Every entry except "." and "..", in on-disk order. The directory is read
   * whole (it is metadata; the dcache keeps the result).
   */
  async list(dir: Ext4Inode): Promise<DirEntryInfo[]> {
    const out = await this.entries(dir);
    const table = new Map<string, CachedEntry>();
    for (const e of out) {
      if (e.text !== undefined) table.set(e.text, { ino: e.ino, fileType: e.fileType });
    }
    this.dcache.put(dir.ino, table);
    return out;
  }

  /**
   * Like `list`, without entering the result in the dcache: for a walk that
   * visits each directory once and looks nothing up by name, the table would
   * only be built to be evicted.
   */
  async entries(dir: Ext4Inode): Promise<DirEntryInfo[]> {
    if (!dir.isDir) throw corrupted('inode', dir.ino, 'is not a directory');
    const out: DirEntryInfo[] = [];
    if (dir.hasInlineData) {
      for (const e of inlineDir(this.fs, dir).entries) out.push({ name: e.name, text: nameKey(e.name), ino: e.inode, fileType: e.fileType });
    } else {
      const htree = this.isHtree(dir);
      const count = this.blockCount(dir);
      for (let lblk = 0; lblk < count; lblk++) {
        const data = await this.block(dir, lblk);
        if (htree && (lblk === 0 || isDxNodeBlock(data))) continue;
        for (const e of this.leafEntries(dir, lblk, data)) {
          if (!isDotOrDotDot(e.name)) out.push({ name: e.name, text: nameKey(e.name), ino: e.inode, fileType: e.fileType });
        }
      }
    }
    return out;
  }

  /** The parent directory's inode number (".."). */
  async parent(dir: Ext4Inode): Promise<number> {
    if (dir.hasInlineData) return inlineDir(this.fs, dir).parent;
    const data = await this.block(dir, 0);
    // "." then ".." open block 0 of every directory, htree or not.
    return (data[12] | (data[13] << 8) | (data[14] << 16) | (data[15] << 24)) >>> 0;
  }

  /** Finds `name` (as a path component string: its UTF-8 bytes are the name) in `dir`; undefined when absent. */
  async lookup(dir: Ext4Inode, name: string): Promise<CachedEntry | undefined> {
    const cached = this.dcache.get(dir.ino);
    if (cached) return cached.get(name);
    const bytes = Buffer.from(name, 'utf8');
    if (this.isHtree(dir) && !dir.hasInlineData) return this.htreeLookup(dir, bytes);
    await this.list(dir);
    return this.dcache.get(dir.ino)?.get(name) ?? (await this.listedLookup(dir, bytes));
  }

  /** Finds a name given as bytes (names that are not valid UTF-8 cannot be named by a string). */
  async lookupBytes(dir: Ext4Inode, name: Uint8Array): Promise<CachedEntry | undefined> {
    const text = nameKey(name);
    if (text !== undefined) return this.lookup(dir, text);
    if (this.isHtree(dir) && !dir.hasInlineData) return this.htreeLookup(dir, name);
    return this.listedLookup(dir, name);
  }

  /** Lookup by scanning when the listing was too large for the dcache. */
  private async listedLookup(dir: Ext4Inode, name: Uint8Array): Promise<CachedEntry | undefined> {
    for (const e of await this.list(dir)) {
      if (Buffer.compare(e.name, name) === 0) return { ino: e.ino, fileType: e.fileType };
    }
    return undefined;
  }

  /**
   * Hashed lookup (Linux: `ext4_dx_find_entry`): hash the name, descend the
   * index to the leaf whose hash range holds it, scan that leaf; when the
   * next leaf's range starts at the same hash (a collision run split across
   * leaves), scan on. Bounded by the directory's block count.
   */
  private async htreeLookup(dir: Ext4Inode, name: Uint8Array): Promise<CachedEntry | undefined> {
    const fs = this.fs;
    const count = this.blockCount(dir);
    const opts = { hasTail: fs.metadataCsum, largeDir: fs.hasLargeDir };
    const rootData = await this.block(dir, 0);
    const root = decodeDxRoot(rootData, { ino: dir.ino, lblk: 0 }, opts);
    if (fs.metadataCsum && !verifyDxBlock(dir.csumSeed, rootData, root.countOffset, root.count, root.limit)) {
      throw corrupted('directory block', 0, `of inode ${dir.ino}: htree root checksum does not match`);
    }
    const version = effectiveHashVersion(root.hashVersion, fs.sb.flags);
    const { hash } = dirHash(name, version, fs.sb.hashSeed);

    const checkBlock = (b: number): number => {
      if (b < 1 || b >= count) throw corrupted('inode', dir.ino, `htree points to block ${b}, outside the directory (${count} blocks)`);
      return b;
    };
    const readNode = async (lblk: number, level: number): Promise<DxEntry[]> => {
      const data = await this.block(dir, checkBlock(lblk));
      const node = decodeDxNode(data, { ino: dir.ino, lblk }, opts);
      if (fs.metadataCsum && !verifyDxBlock(dir.csumSeed, data, node.countOffset, node.count, node.limit)) {
        throw corrupted('directory block', lblk, `of inode ${dir.ino}: htree node checksum does not match (level ${level})`);
      }
      return node.entries;
    };

    // path[i] = the entries of the node at level i and the index taken there.
    const path: Array<{ entries: DxEntry[]; at: number }> = [{ entries: root.entries, at: dxLookup(root.entries, hash) }];
    for (let level = 1; level <= root.indirectLevels; level++) {
      const parent = path[level - 1];
      const entries = await readNode(parent.entries[parent.at].block, level);
      path.push({ entries, at: dxLookup(entries, hash) });
    }
    for (let visited = 0; visited < count; visited++) {
      const leaf = path[path.length - 1];
      const lblk = checkBlock(leaf.entries[leaf.at].block);
      for (const e of this.leafEntries(dir, lblk, await this.block(dir, lblk))) {
        if (e.name.length === name.length && Buffer.compare(e.name, name) === 0) return { ino: e.inode, fileType: e.fileType };
      }
      // Step to the next leaf in hash order: climb while at the end of a node.
      let level = path.length - 1;
      while (level >= 0 && path[level].at + 1 >= path[level].entries.length) level--;
      if (level < 0) return undefined;
      path[level].at++;
      const nextHash = path[level].entries[path[level].at].hash;
      if ((nextHash & ~1) >>> 0 !== hash >>> 0) return undefined;
      for (let l = level + 1; l < path.length; l++) {
        const up = path[l - 1];
        path[l] = { entries: await readNode(up.entries[up.at].block, l), at: 0 };
      }
    }
    throw corrupted('inode', dir.ino, 'htree lookup visited more leaves than the directory has blocks');
  }
}
