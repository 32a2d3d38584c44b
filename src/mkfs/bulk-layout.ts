/**
 * The second pass of mkfs -d's bulk builder: every inode of the tree gets
 * its contents placed, in walk order. A directory is built whole and its
 * blocks allocated when it is reached, then its files' data (only the
 * ranges a sparse file holds data in: holes stay holes), each file's
 * extent blocks right after its data. Nothing is written here: the result
 * is what each inode's i_block, size, flags and block count will be, and
 * the list of blocks to fill (from host files, or from memory).
 *
 * inline_data: a regular file whose bytes fit the inode with an otherwise
 * empty attribute area is stored inline, as mke2fs -d does (empty files
 * included); a directory whose entries fit i_block is inline too.
 */
import { readSync, closeSync, openSync } from 'node:fs';
import { assert } from '../base/assert.js';
import { FsError } from '../base/errors.js';
import { EXT4_MIN_INLINE_DATA_SIZE, INLINE_DATA_NAME, INLINE_DATA_NAME_INDEX } from '../format/inline-data.js';
import {
  encodeDeviceNumber, EXT4_EXTENTS_FL, EXT4_INDEX_FL, EXT4_INLINE_DATA_FL, GOOD_OLD_INODE_SIZE, I_BLOCK_SIZE, S_IFBLK, S_IFCHR, S_IFDIR,
  S_IFLNK, S_IFMT, S_IFREG,
} from '../format/inode.js';
import { xattrEntrySize, xattrSpaceNeeded, type XattrInput } from '../format/xattr.js';
import type { DataRange } from '../host/host-ops.js';
import type { HostNode } from '../host/host-scan.js';
import type { BulkAllocator, Run } from './bulk-alloc.js';
import type { DataPiece } from './bulk-data.js';
import { buildDirBlocks, inlineDir, type BulkDirFormat, type NewEntry } from './bulk-dir.js';
import { appendExtent, encodeExtentTree, extentTreeBlocks } from './bulk-extents.js';
import { fileTypeOf, type TreeInode, type TreeModel } from './bulk-tree.js';
import { ibodyCapacityOf } from './bulk-xattr.js';
import type { ExtentLeaf } from '../format/extent.js';
import { LOST_FOUND_INO, ROOT_INO } from './special-files.js';

const LOST_FOUND_NAME = Buffer.from('lost+found');
/** A fast symlink's target and its NUL fit i_block. */
const FAST_SYMLINK_MAX = I_BLOCK_SIZE - 1;
/** Regular files this large need the large_file feature. */
const LARGE_FILE_SIZE = 2 ** 31;
/** Bytes of placed blocks handed to the sink at a time. */
const SINK_BYTES = 1 << 20;

/** What an inode of the tree holds, once placed. */
export interface PlacedInode {
  t: TreeInode;
  size: number;
  /** i_flags. */
  flags: number;
  /** i_block. */
  iblock: Uint8Array;
  /** Blocks owned: data, directory and extent tree blocks (not the xattr block). */
  blocks: number;
  /** The system.data value of an inline inode. */
  inline: Uint8Array | undefined;
}

export interface LayoutInput {
  model: TreeModel;
  alloc: BulkAllocator;
  dirFormat: BulkDirFormat;
  inodeSize: number;
  extents: boolean;
  inlineData: boolean;
  /** Physical blocks of root and lost+found as mkfs made them (reused, in logical order). */
  preallocated: ReadonlyMap<number, readonly number[]>;
  /** Where a sparse file holds data, when known. */
  ranges: (node: HostNode) => readonly DataRange[] | undefined;
  /** Checksum seed of an inode's own blocks (metadata_csum), else undefined. */
  inodeSeed(ino: number): number | undefined;
  onError(path: Buffer, e: unknown): void;
  progressFile(): void;
}

export interface TreeLayout {
  placed: PlacedInode[];
  /** Blocks to fill that were not handed to the sink. */
  pieces: DataPiece[];
  /** Bytes the pieces cover. */
  dataBytes: number;
  /** Some regular file is at least 2 GiB (large_file). */
  largeFile: boolean;
}

/** The largest system.data value an inode with no other attribute can hold (0: none). */
export function maxInlineValue(inodeSize: number, extraIsize: number): number {
  if (inodeSize <= GOOD_OLD_INODE_SIZE) return 0;
  const free = ibodyCapacityOf(inodeSize - GOOD_OLD_INODE_SIZE - extraIsize) - xattrSpaceNeeded([]) - xattrEntrySize(INLINE_DATA_NAME.length);
  return free > 0 ? free & ~3 : 0;
}

/** The system.data entry holding `value`. */
export function systemData(value: Uint8Array): XattrInput {
  return { nameIndex: INLINE_DATA_NAME_INDEX, name: Buffer.from(INLINE_DATA_NAME), value };
}

/** Reads a small host file whole (`size` bytes; what is missing reads as zeros). */
function readSmall(path: Buffer, size: number): Uint8Array {
  const out = new Uint8Array(size);
  const fd = openSync(path, 'r');
  try {
    let done = 0;
    while (done < size) {
      const n = readSync(fd, out, done, size - done, done);
      if (n === 0) break;
      done += n;
    }
  } finally {
    closeSync(fd);
  }
  return out;
}

/** Block ranges [start, end) holding data, from byte ranges (merged, rounded out to blocks). */
function blockRanges(ranges: readonly DataRange[], size: number, bs: number): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (const r of ranges) {
    const end = Math.min(r.end, size);
    if (end <= r.start) continue;
    const s = Math.floor(r.start / bs);
    const e = Math.ceil(end / bs);
    const last = out[out.length - 1];
    if (last !== undefined && s <= last[1]) last[1] = Math.max(last[1], e);
    else out.push([s, e]);
  }
  return out;
}

class Placer {
  readonly out: TreeLayout = { placed: [], pieces: [], dataBytes: 0, largeFile: false };
  private readonly bs: number;
  private readonly inlineMax: number;

  constructor(private readonly o: LayoutInput, extraIsize: number) {
    this.bs = o.dirFormat.blockSize;
    this.inlineMax = o.inlineData ? EXT4_MIN_INLINE_DATA_SIZE + maxInlineValue(o.inodeSize, extraIsize) : 0;
  }

  private node(t: TreeInode): HostNode {
    return this.o.model.nodes[t.node];
  }

  async run(sink: ((pieces: DataPiece[]) => Promise<void>) | undefined): Promise<TreeLayout> {
    const { model } = this.o;
    let handed = 0;
    for (let i = 0; i < model.nodes.length; i++) {
      const ino = model.nodeIno[i];
      if (ino === 0) continue;
      const t = model.byIno.get(ino)!;
      if (t.node !== i) continue;
      this.o.alloc.near(ino);
      this.out.placed.push(this.place(t));
      // The data of what is placed can be written while the rest is placed.
      if (sink !== undefined && this.out.dataBytes - handed >= SINK_BYTES) {
        handed = this.out.dataBytes;
        await sink(this.out.pieces.splice(0));
      }
    }
    if (sink !== undefined) await sink(this.out.pieces.splice(0));
    return this.out;
  }

  private place(t: TreeInode): PlacedInode {
    switch (t.mode & S_IFMT) {
      case S_IFDIR: return this.dir(t);
      case S_IFREG: return this.file(t);
      case S_IFLNK: return this.symlink(t);
      default: return this.special(t);
    }
  }

  private blank(t: TreeInode, size = 0, flags = 0): PlacedInode {
    return { t, size, flags, iblock: new Uint8Array(I_BLOCK_SIZE), blocks: 0, inline: undefined };
  }

  private entries(t: TreeInode): NewEntry[] {
    const { model } = this.o;
    const out: NewEntry[] = [];
    if (t.ino === ROOT_INO && !model.hostLostFound) out.push({ name: LOST_FOUND_NAME, ino: LOST_FOUND_INO, fileType: fileTypeOf(S_IFDIR) });
    for (const c of t.children ?? []) {
      const ino = model.nodeIno[c];
      out.push({ name: model.nodes[c].name, ino, fileType: fileTypeOf(model.byIno.get(ino)!.mode) });
    }
    return out;
  }

  private dir(t: TreeInode): PlacedInode {
    const { model } = this.o;
    const n = this.node(t);
    const parent = t.ino === ROOT_INO ? ROOT_INO : model.nodeIno[n.parent];
    const entries = this.entries(t);
    const special = t.ino === ROOT_INO || t.ino === LOST_FOUND_INO;
    if (this.inlineMax > 0 && !special) {
      const iblock = inlineDir(this.o.dirFormat, parent, entries);
      if (iblock !== undefined) return { t, size: EXT4_MIN_INLINE_DATA_SIZE, flags: EXT4_INLINE_DATA_FL, iblock, blocks: 0, inline: new Uint8Array(0) };
    }
    const pre = this.o.preallocated.get(t.ino) ?? [];
    const built = buildDirBlocks(this.o.dirFormat, t.ino, parent, entries, {
      // lost+found keeps its pre-sized blocks and stays linear (e2fsck fills it without an index).
      minBlocks: pre.length, linear: t.ino === LOST_FOUND_INO, inodeSeed: this.o.inodeSeed(t.ino),
    });
    const phys: Run[] = pre.map((start) => ({ start, len: 1 }));
    if (built.blocks.length > pre.length) phys.push(...this.o.alloc.take(built.blocks.length - pre.length));
    const extents: ExtentLeaf[] = [];
    let lblk = 0;
    for (const r of phys) {
      appendExtent(extents, lblk, r.start, r.len);
      for (let k = 0; k < r.len; k++) this.memory(r.start + k, built.blocks[lblk + k]);
      lblk += r.len;
    }
    const p = this.mapped(t, extents, built.blocks.length * this.bs);
    if (built.indexed) p.flags |= EXT4_INDEX_FL;
    return p;
  }

  private memory(block: number, bytes: Uint8Array): void {
    this.out.pieces.push({ block, bytes });
    this.out.dataBytes += bytes.length;
  }

  /** An extent-mapped inode: i_block, its tree blocks (placed right after its data) and the block count. */
  private mapped(t: TreeInode, extents: ExtentLeaf[], size: number): PlacedInode {
    assert(this.o.extents, 'mkfs -d builds extent-mapped files only');
    const treeCount = extentTreeBlocks(extents.length, this.bs);
    const treeBlocks: number[] = [];
    for (const r of treeCount > 0 ? this.o.alloc.take(treeCount) : []) for (let k = 0; k < r.len; k++) treeBlocks.push(r.start + k);
    const tree = encodeExtentTree(extents, treeBlocks, this.bs, this.o.inodeSeed(t.ino));
    for (const b of tree.blocks) this.memory(b.block, b.bytes);
    let blocks = treeCount;
    for (const e of extents) blocks += e.len;
    return { t, size, flags: EXT4_EXTENTS_FL, iblock: tree.root, blocks, inline: undefined };
  }

  private file(t: TreeInode): PlacedInode {
    const n = this.node(t);
    const size = n.st.size;
    const bs = this.bs;
    this.o.progressFile();
    if (size >= LARGE_FILE_SIZE) this.out.largeFile = true;
    if (this.inlineMax > 0 && size <= this.inlineMax) return this.inlineFile(t, size);
    const sparse = size > 0 && n.st.blocks * 512 < size;
    const hostRanges = sparse ? this.o.ranges(n) : undefined;
    const ranges = blockRanges(hostRanges ?? [{ start: 0, end: size }], size, bs);
    const extents: ExtentLeaf[] = [];
    for (const [start, end] of ranges) {
      let lblk = start;
      for (const r of this.o.alloc.take(end - start)) {
        appendExtent(extents, lblk, r.start, r.len);
        const offset = lblk * bs;
        const length = Math.min(r.len * bs, size - offset);
        this.out.pieces.push({ block: r.start, blocks: r.len, path: n.path, offset, length });
        this.out.dataBytes += r.len * bs;
        lblk += r.len;
      }
    }
    return this.mapped(t, extents, size);
  }

  private inlineFile(t: TreeInode, size: number): PlacedInode {
    const n = this.node(t);
    let data: Uint8Array = new Uint8Array(0);
    try {
      if (size > 0) data = readSmall(n.path, size);
    } catch (e) {
      this.o.onError(n.path, e);
      data = new Uint8Array(size);
    }
    const p = this.blank(t, size, EXT4_INLINE_DATA_FL);
    p.iblock.set(data.subarray(0, EXT4_MIN_INLINE_DATA_SIZE));
    p.inline = data.slice(EXT4_MIN_INLINE_DATA_SIZE);
    return p;
  }

  private symlink(t: TreeInode): PlacedInode {
    const target = t.target;
    assert(target !== undefined, 'a symlink has its target');
    if (target.length <= FAST_SYMLINK_MAX) {
      const p = this.blank(t, target.length);
      p.iblock.set(target);
      return p;
    }
    const block = this.o.alloc.takeOne();
    const bytes = new Uint8Array(this.bs);
    bytes.set(target);
    this.memory(block, bytes);
    return this.mapped(t, [{ lblk: 0, len: 1, unwritten: false, pblk: block }], target.length);
  }

  private special(t: TreeInode): PlacedInode {
    const p = this.blank(t);
    const type = t.mode & S_IFMT;
    if (type === S_IFCHR || type === S_IFBLK) encodeDeviceNumber(p.iblock, this.node(t).st.rdev);
    return p;
  }
}

/**
 * Places every inode of the tree; throws ENOSPC when the tree does not
 * fit. With `sink`, the blocks to fill are handed over as they are placed
 * (in placement order, a megabyte or so at a time) instead of collected.
 */
export async function layOutTree(o: LayoutInput, extraIsize: number, sink?: (pieces: DataPiece[]) => Promise<void>): Promise<TreeLayout> {
  if (!o.extents) throw new FsError('ENOTSUP', 'mkfs -d needs the extent feature');
  return new Placer(o, extraIsize).run(sink);
}
