/**
 * Directories built whole, as mkfs -d lays out a directory whose every
 * entry is known at once:
 *
 *  - linear: "." and "..", then the entries in the order given, each block
 *    filled before the next is started (what a directory made by adding the
 *    names one by one looks like); used when everything fits one block, on
 *    filesystems without dir_index, and for lost+found;
 *  - hashed (htree), built as e2fsck -D rebuilds an index (rehash.c): the
 *    entries sorted by (hash, minor hash, name), packed into leaf blocks
 *    that are closed once less than a fifth of the block is left (room for
 *    later inserts), a leaf that starts inside a run of equal hashes marked
 *    with the continuation bit, the root (block 0) pointing at the leaves,
 *    or at index nodes placed after the leaves when the root's slots do not
 *    suffice;
 *  - inline (inline_data): in i_block after the parent's inode number,
 *    when the entries fit its 56 bytes (mke2fs never grows a directory into
 *    system.data, and neither does this).
 */
import { FsError } from '../base/errors.js';
import { dirEntrySize, DIR_TAIL_SIZE, encodeDirEntry, EXT4_FT_DIR, recLenToDisk, writeDirBlockChecksum } from '../format/dirent.js';
import { dirHash } from '../format/dirhash.js';
import {
  DX_MAX_INDIRECT_LEVELS, DX_MAX_INDIRECT_LEVELS_LARGEDIR, dxNodeLimit, dxRootLimit, encodeDxNode, encodeDxRoot, writeDxChecksum, type DxEntry,
} from '../format/htree.js';
import { EXT4_INLINE_DOTDOT_SIZE, EXT4_MIN_INLINE_DATA_SIZE } from '../format/inline-data.js';
import { writeU16LE, writeU32LE } from '../format/le.js';
import type { DirBlockFormat } from './dir-blocks.js';

/** One name in a directory. */
export interface NewEntry {
  name: Uint8Array;
  ino: number;
  /** EXT4_FT_*; written as 0 without the filetype feature. */
  fileType: number;
}

export interface BulkDirFormat extends DirBlockFormat {
  /** dir_index: directories that outgrow a block get an htree. */
  dirIndex: boolean;
  /** large_dir: a third index level. */
  largeDir: boolean;
  /** s_def_hash_version, as dx_root_info stores it. */
  hashVersion: number;
  /** The version names are hashed with (the unsigned variant when the superblock says so). */
  effectiveHashVersion: number;
  /** s_hash_seed. */
  seed: Uint32Array;
}

/** A directory's blocks in logical order, and whether block 0 is an htree root. */
export interface DirBlocks {
  blocks: Uint8Array[];
  indexed: boolean;
}

/** e2fsck's default indexed_dir_slack_percentage. */
const SLACK_PERCENT = 20;
const DOT = Uint8Array.of(0x2e);
const DOTDOT = Uint8Array.of(0x2e, 0x2e);

/** Fills blocks with records one after the other, closing a block when the next record does not fit. */
class BlockFiller {
  readonly blocks: Uint8Array[] = [];
  private block: Uint8Array | undefined;
  private off = 0;
  private last = -1;
  readonly end: number;

  constructor(private readonly fmt: DirBlockFormat) {
    this.end = fmt.blockSize - (fmt.tail ? DIR_TAIL_SIZE : 0);
  }

  /** Bytes left in the open block (0 when none is open). */
  get left(): number {
    return this.block === undefined ? 0 : this.end - this.off;
  }

  /** Starts a block when the record does not fit the open one; true when a block was started. */
  fit(size: number): boolean {
    if (this.block !== undefined && this.off + size <= this.end) return false;
    this.close();
    this.block = new Uint8Array(this.fmt.blockSize);
    this.blocks.push(this.block);
    return true;
  }

  put(e: NewEntry, size = dirEntrySize(e.name.length)): void {
    this.fit(size);
    const block = this.block!;
    encodeDirEntry({ inode: e.ino, recLen: size, fileType: this.fmt.fileType ? e.fileType : 0, name: e.name }, block, this.off);
    this.last = this.off;
    this.off += size;
  }

  /** Ends the open block: its last record takes the rest of the space (an unused record spans an empty block). */
  close(): void {
    const block = this.block;
    if (block === undefined) return;
    if (this.last < 0) encodeDirEntry({ inode: 0, recLen: this.end, fileType: 0, name: new Uint8Array(0) }, block, 0);
    else writeU16LE(block, this.last + 4, recLenToDisk(this.end - this.last, this.fmt.blockSize));
    this.block = undefined;
    this.off = 0;
    this.last = -1;
  }

  /** Closes the last block and adds empty ones up to `count`. */
  finish(count: number): Uint8Array[] {
    this.close();
    while (this.blocks.length < count) {
      this.fit(this.end);
      this.close();
    }
    return this.blocks;
  }
}

function seal(fmt: DirBlockFormat, blocks: readonly Uint8Array[], inodeSeed: number | undefined): void {
  if (!fmt.tail || inodeSeed === undefined) return;
  for (const b of blocks) writeDirBlockChecksum(inodeSeed, b);
}

/** Bytes "." , ".." and `entries` take as records of their own size. */
function recordBytes(entries: readonly NewEntry[]): number {
  let n = dirEntrySize(1) + dirEntrySize(2);
  for (const e of entries) n += dirEntrySize(e.name.length);
  return n;
}

/** A linear directory of at least `minBlocks` blocks. */
export function linearDir(fmt: DirBlockFormat, self: number, parent: number, entries: readonly NewEntry[], minBlocks: number, inodeSeed: number | undefined): Uint8Array[] {
  const f = new BlockFiller(fmt);
  f.put({ name: DOT, ino: self, fileType: EXT4_FT_DIR });
  f.put({ name: DOTDOT, ino: parent, fileType: EXT4_FT_DIR });
  for (const e of entries) f.put(e);
  const blocks = f.finish(minBlocks);
  seal(fmt, blocks, inodeSeed);
  return blocks;
}

interface Hashed {
  e: NewEntry;
  hash: number;
  minor: number;
}

function compareHashed(a: Hashed, b: Hashed): number {
  if (a.hash !== b.hash) return a.hash - b.hash;
  if (a.minor !== b.minor) return a.minor - b.minor;
  return Buffer.compare(a.e.name, b.e.name);
}

/** An htree directory: root, leaves, then index nodes. */
export function indexedDir(fmt: BulkDirFormat, self: number, parent: number, entries: readonly NewEntry[], inodeSeed: number | undefined): Uint8Array[] {
  const sorted: Hashed[] = entries.map((e) => {
    const h = dirHash(e.name, fmt.effectiveHashVersion, fmt.seed);
    return { e, hash: h.hash, minor: h.minorHash };
  });
  sorted.sort(compareHashed);

  const f = new BlockFiller(fmt);
  const slack = Math.max(dirEntrySize(1), Math.floor((f.end * SLACK_PERCENT) / 100));
  const leafHashes: number[] = [];
  let prevHash: number | undefined;
  for (const s of sorted) {
    const size = dirEntrySize(s.e.name.length);
    if (f.fit(size)) leafHashes.push(leafHashes.length === 0 ? 0 : s.hash === prevHash ? (s.hash | 1) >>> 0 : s.hash);
    // A leaf is closed with room to spare, so later inserts rarely split it.
    f.put(s.e, f.left - size < slack ? f.left : size);
    prevHash = s.hash;
  }
  const leaves = f.finish(0);
  seal(fmt, leaves, inodeSeed);

  const bs = fmt.blockSize;
  const rootLimit = dxRootLimit(bs, fmt.tail);
  const nodeLimit = dxNodeLimit(bs, fmt.tail);
  const maxLevels = fmt.largeDir ? DX_MAX_INDIRECT_LEVELS_LARGEDIR : DX_MAX_INDIRECT_LEVELS;
  let level: DxEntry[] = leafHashes.map((hash, i) => ({ hash, block: 1 + i }));
  const nodes: Uint8Array[] = [];
  let levels = 0;
  while (level.length > rootLimit) {
    if (++levels > maxLevels) throw new FsError('ENOSPC', `a directory of ${entries.length} entries needs more index levels than the filesystem allows`);
    const up: DxEntry[] = [];
    for (let i = 0; i < level.length; i += nodeLimit) {
      const chunk = level.slice(i, i + nodeLimit);
      const node = new Uint8Array(bs);
      encodeDxNode({ entries: chunk, limit: nodeLimit }, node, { hasTail: fmt.tail });
      nodes.push(node);
      up.push({ hash: chunk[0].hash, block: leaves.length + nodes.length });
    }
    level = up;
  }
  const root = new Uint8Array(bs);
  const dirType = fmt.fileType ? EXT4_FT_DIR : 0;
  encodeDxRoot({
    dotInode: self, dotFileType: dirType, dotdotInode: parent, dotdotFileType: dirType,
    hashVersion: fmt.hashVersion, indirectLevels: levels, entries: level, limit: rootLimit,
  }, root, { hasTail: fmt.tail });
  if (fmt.tail && inodeSeed !== undefined) {
    writeDxChecksum(inodeSeed, root);
    for (const n of nodes) writeDxChecksum(inodeSeed, n);
  }
  return [root, ...leaves, ...nodes];
}

/** A directory in blocks: linear when it fits one block (or must stay linear), hashed otherwise when the filesystem indexes directories. */
export function buildDirBlocks(
  fmt: BulkDirFormat, self: number, parent: number, entries: readonly NewEntry[], o: { minBlocks: number; linear: boolean; inodeSeed: number | undefined },
): DirBlocks {
  const fitsOne = recordBytes(entries) <= fmt.blockSize - (fmt.tail ? DIR_TAIL_SIZE : 0);
  if (fitsOne || !fmt.dirIndex || o.linear) return { blocks: linearDir(fmt, self, parent, entries, o.minBlocks, o.inodeSeed), indexed: false };
  return { blocks: indexedDir(fmt, self, parent, entries, o.inodeSeed), indexed: true };
}

/**
 * An inline directory's i_block (the parent's number, then records tiling
 * the rest), or undefined when the entries do not fit.
 */
export function inlineDir(fmt: DirBlockFormat, parent: number, entries: readonly NewEntry[]): Uint8Array | undefined {
  let need = 0;
  for (const e of entries) need += dirEntrySize(e.name.length);
  if (EXT4_INLINE_DOTDOT_SIZE + need > EXT4_MIN_INLINE_DATA_SIZE) return undefined;
  const iblock = new Uint8Array(EXT4_MIN_INLINE_DATA_SIZE);
  writeU32LE(iblock, 0, parent);
  let off = EXT4_INLINE_DOTDOT_SIZE;
  if (entries.length === 0) {
    encodeDirEntry({ inode: 0, recLen: EXT4_MIN_INLINE_DATA_SIZE - off, fileType: 0, name: new Uint8Array(0) }, iblock, off);
    return iblock;
  }
  entries.forEach((e, i) => {
    const recLen = i === entries.length - 1 ? EXT4_MIN_INLINE_DATA_SIZE - off : dirEntrySize(e.name.length);
    encodeDirEntry({ inode: e.ino, recLen, fileType: fmt.fileType ? e.fileType : 0, name: e.name }, iblock, off);
    off += recLen;
  });
  return iblock;
}
