/**
 * The files every new filesystem has, placed in mke2fs's order so that each
 * lands on the same blocks: the root directory, lost+found (pre-sized so
 * e2fsck can reconnect files without allocating), the reserved inodes, the
 * bad blocks inode, the resize inode, the journal and the orphan file.
 */
import { assert } from '../base/assert.js';
import { EXT4_EXTENTS_FL, GOOD_OLD_INODE_SIZE, S_IFDIR, S_IFREG, XATTR_IBODY_MAGIC, inodeCsumSeed, type Inode } from '../format/inode.js';
import { DIND_SLOT } from '../format/indirect.js';
import { encodeEmptyOrphanBlock } from '../format/orphan-file.js';
import { writeU32LE } from '../format/le.js';
import type { BlockMap } from './block-map.js';
import { convertedInlineDirBlock, emptyDirBlock, firstDirBlock, rootDirBlock, type DirBlockFormat } from './dir-blocks.js';
import { ExtentFile } from './extent-file.js';
import { hasFeature } from './features.js';
import { groupOfInode, groupStart, type Geometry } from './geometry.js';
import { IndirectFile } from './indirect-file.js';
import { iBlocksFor, newInode, zeroInode } from './inode-init.js';
import { journalSuperblockBlock, midpointJournalGoal } from './journal.js';
import type { Layout } from './layout.js';
import { resizeInodeBlocks } from './resize-inode.js';
import { EXTRA_ISIZE } from './superblock-init.js';

export const ROOT_INO = 2;
export const BAD_INO = 1;
export const RESIZE_INO = 7;
export const JOURNAL_INO = 8;
export const LOST_FOUND_INO = 11;
/** lost+found grows to 16 KiB (and at least 2 blocks), within the 12 direct blocks. */
const LOST_FOUND_BYTES = 16 * 1024;
/** Regular files this large need the large_file feature (libext2fs sets it when writing one). */
const LARGE_FILE_SIZE = 2 ** 31;

export interface SpecialFilesContext {
  /** Creation time, seconds. */
  time: number;
  /** Metadata checksum seed (metadata_csum), else undefined. */
  fsSeed: number | undefined;
  rootOwner: { uid: number; gid: number };
  /** Whether the journal's blocks must be zeroed (their old contents are not known to be zero). */
  zeroJournal: boolean;
}

export interface SpecialFiles {
  /** Inodes to store, by number. */
  inodes: Map<number, Inode>;
  /** Blocks with contents. */
  blocks: Array<{ block: number; bytes: Uint8Array }>;
  /** Ranges that must read as zeros. */
  zeroRanges: Array<{ start: number; count: number }>;
  /** Inode numbers in use. */
  usedInodes: number[];
  /** Inode numbers of directories. */
  directories: number[];
  /** s_jnl_blocks source (journal inode's i_block and size), when there is a journal. */
  journal: { iblock: Uint8Array; size: number } | undefined;
  /** The orphan file's inode, or 0. */
  orphanIno: number;
  /** A file at least 2 GiB long was created (mke2fs then turns large_file on). */
  needsLargeFile: boolean;
  /** The blocks of root and lost+found, in logical order (mkfs -d rewrites those directories). */
  dirBlocks: Map<number, number[]>;
}

/** ext2fs_find_inode_goal for an inode with no blocks: the start of its (flex) group. */
function inodeGoal(g: Geometry, ino: number): number {
  let group = groupOfInode(g, ino);
  if (g.sb.logGroupsPerFlex > 0) group &= ~((1 << g.sb.logGroupsPerFlex) - 1);
  return groupStart(g, group);
}

/** How many blocks lost+found gets: mke2fs's loop adds blocks until 16 KiB and 2 blocks. */
function lostFoundExpansions(blockSize: number): number {
  let size = 0;
  let n = 0;
  for (let i = 1; i < 12; i++) {
    size += blockSize;
    if (size >= LOST_FOUND_BYTES && size >= 2 * blockSize) break;
    n++;
  }
  return n;
}

/** A file's blocks as mkfs lays them out: an extent tree, or a block map without extents. */
type FileMap = { kind: 'extent'; tree: ExtentFile } | { kind: 'indirect'; tree: IndirectFile };

class Builder {
  readonly out: SpecialFiles = {
    inodes: new Map(), blocks: [], zeroRanges: [], usedInodes: [], directories: [], journal: undefined, orphanIno: 0, needsLargeFile: false,
    dirBlocks: new Map(),
  };
  readonly g: Geometry;
  readonly map: BlockMap;
  readonly bs: number;
  readonly extents: boolean;
  readonly dirFmt: DirBlockFormat;

  constructor(readonly layout: Layout, readonly ctx: SpecialFilesContext) {
    this.g = layout.geometry;
    this.map = layout.map;
    this.bs = this.g.blockSize;
    this.extents = hasFeature(this.g.sb, 'extent');
    this.dirFmt = { blockSize: this.bs, fileType: hasFeature(this.g.sb, 'filetype'), tail: ctx.fsSeed !== undefined };
  }

  seed(ino: number): number | undefined {
    return this.ctx.fsSeed === undefined ? undefined : inodeCsumSeed(this.ctx.fsSeed, ino, 0);
  }

  take(goal: number): number {
    const b = this.map.newBlock(goal);
    this.map.mark(b);
    return b;
  }

  newMap(goal: number): FileMap {
    return this.extents ? { kind: 'extent', tree: new ExtentFile(this.map, this.bs) } : { kind: 'indirect', tree: new IndirectFile(this.map, this.bs, goal) };
  }

  /** Adds one block, allocated first fit from `goal` (extents) or after the previous one (block map). */
  appendBlock(fm: FileMap, lblk: number, goal: number): number {
    if (fm.kind === 'indirect') return fm.tree.appendBlock();
    const b = this.take(goal);
    fm.tree.append(lblk, b, 1);
    return b;
  }

  /** i_block, i_flags and the blocks the mapping itself needs written; returns the tree's block count. */
  finishMap(fm: FileMap, ino: number, inode: Inode): number {
    if (fm.kind === 'extent') {
      inode.flags |= EXT4_EXTENTS_FL;
      inode.block = fm.tree.encodeRoot();
      const leaf = fm.tree.encodeLeafBlock(this.seed(ino));
      if (leaf !== undefined && fm.tree.leafBlock !== undefined) this.out.blocks.push({ block: fm.tree.leafBlock, bytes: leaf });
    } else {
      inode.block = fm.tree.encodeRoot();
      for (const n of fm.tree.encodeNodes()) this.out.blocks.push({ block: n.block, bytes: n.bytes });
    }
    return fm.tree.treeBlocks;
  }

  regularFileSize(size: number): void {
    if (size >= LARGE_FILE_SIZE) this.out.needsLargeFile = true;
  }

  root(): void {
    const goal = inodeGoal(this.g, ROOT_INO);
    const fm = this.newMap(goal);
    const b = this.appendBlock(fm, 0, goal);
    const inode = newInode(this.g.inodeSize, this.ctx.time, {
      mode: S_IFDIR | 0o755, linksCount: 3, size: this.bs, blocks: iBlocksFor(1, this.bs),
      uid: this.ctx.rootOwner.uid, gid: this.ctx.rootOwner.gid,
    });
    this.finishMap(fm, ROOT_INO, inode);
    this.out.inodes.set(ROOT_INO, inode);
    this.out.blocks.push({ block: b, bytes: rootDirBlock(this.dirFmt, LOST_FOUND_INO, this.seed(ROOT_INO)) });
    this.out.directories.push(ROOT_INO);
    this.out.dirBlocks.set(ROOT_INO, [b]);
  }

  lostFound(): void {
    const ino = LOST_FOUND_INO;
    const inline = hasFeature(this.g.sb, 'inline_data');
    const expansions = lostFoundExpansions(this.bs);
    const nblocks = inline ? expansions : expansions + 1;
    assert(nblocks >= 1, 'lost+found needs a block');
    // An inline directory's first growth converts it, allocating from the start of the filesystem.
    let goal = inline ? this.g.firstDataBlock : inodeGoal(this.g, ino);
    const fm = this.newMap(goal);
    const blocks: number[] = [];
    this.out.dirBlocks.set(ino, blocks);
    for (let lblk = 0; lblk < nblocks; lblk++) {
      const b = this.appendBlock(fm, lblk, goal);
      blocks.push(b);
      goal = b;
      const seed = this.seed(ino);
      let bytes: Uint8Array;
      if (lblk > 0) bytes = emptyDirBlock(this.dirFmt, seed);
      else if (inline) bytes = convertedInlineDirBlock(this.dirFmt, ino, ROOT_INO, seed);
      else bytes = firstDirBlock(this.dirFmt, ino, ROOT_INO, seed);
      this.out.blocks.push({ block: b, bytes });
    }
    const inode = newInode(this.g.inodeSize, this.ctx.time, { mode: S_IFDIR | 0o700, linksCount: 2, size: nblocks * this.bs });
    const tree = this.finishMap(fm, ino, inode);
    inode.blocks = iBlocksFor(nblocks + tree, this.bs);
    // Removing the inline data's system.data attribute leaves the in-inode attribute header behind.
    if (inline && inode.xattrSpace.length >= 4) writeU32LE(inode.xattrSpace, 0, XATTR_IBODY_MAGIC);
    this.out.inodes.set(ino, inode);
    this.out.directories.push(ino);
  }

  reservedInodes(): void {
    const t = { sec: this.ctx.time, nsec: 0 };
    // libext2fs stamps the bad blocks inode without an extra area; a time past
    // 2038 needs the area's epoch bits (mke2fs 1.47.0 truncates the time instead).
    const bad = { ...zeroInode(this.g.inodeSize), atime: t, mtime: t, ctime: t };
    if (this.ctx.time >= 2 ** 31 && this.g.inodeSize > GOOD_OLD_INODE_SIZE) {
      bad.extraIsize = EXTRA_ISIZE;
      bad.xattrSpace = new Uint8Array(this.g.inodeSize - GOOD_OLD_INODE_SIZE - EXTRA_ISIZE);
    }
    this.out.inodes.set(BAD_INO, bad);
    for (let ino = 3; ino < this.g.sb.firstIno; ino++) {
      if (!this.out.inodes.has(ino)) this.out.inodes.set(ino, zeroInode(this.g.inodeSize));
    }
  }

  resizeInode(): void {
    if (!hasFeature(this.g.sb, 'resize_inode')) return;
    const sbBlock = this.g.firstDataBlock === 0 && this.bs === 1024 ? 1 : this.g.firstDataBlock;
    const goal = sbBlock + this.g.descBlocks + this.g.reservedGdtBlocks + 2 + this.g.inodeBlocksPerGroup;
    const dind = this.take(goal);
    const r = resizeInodeBlocks(this.g, dind);
    for (const blk of r.blocks) this.out.blocks.push(blk);
    const apb = this.g.addrPerBlock;
    const size = (apb * apb + apb + 12) * this.bs;
    this.regularFileSize(size);
    const block = new Uint8Array(60);
    writeU32LE(block, DIND_SLOT * 4, dind);
    const inode = newInode(this.g.inodeSize, this.ctx.time, {
      mode: S_IFREG | 0o600, linksCount: 1, size, blocks: iBlocksFor(r.blockCount, this.bs), block,
    });
    this.out.inodes.set(RESIZE_INO, inode);
  }

  journal(): void {
    const n = this.layout.journalBlocks;
    if (n === 0) return;
    const fm = this.newMap(inodeGoal(this.g, JOURNAL_INO));
    let first = -1;
    if (fm.kind === 'extent') {
      // ext2fs_fallocate: free runs from the goal, each at most one extent long.
      let goal = midpointJournalGoal(this.g, this.map);
      let lblk = 0;
      while (lblk < n) {
        const run = this.map.newRange(goal, Math.min(n - lblk, 32768));
        this.map.markRange(run.start, run.len);
        fm.tree.append(lblk, run.start, run.len);
        if (first === -1) first = run.start;
        this.zero(run.start, run.len);
        lblk += run.len;
        goal = run.start + run.len;
      }
    } else {
      // Without extents the journal is allocated block by block from its group, like any block-mapped file.
      let runStart = -1;
      let runLen = 0;
      for (let lblk = 0; lblk < n; lblk++) {
        const b = fm.tree.appendBlock();
        if (first === -1) first = b;
        if (runStart + runLen === b) runLen++;
        else {
          if (runLen > 0) this.zero(runStart, runLen);
          runStart = b;
          runLen = 1;
        }
      }
      this.zero(runStart, runLen);
    }
    const size = n * this.bs;
    this.regularFileSize(size);
    const inode = newInode(this.g.inodeSize, this.ctx.time, { mode: S_IFREG | 0o600, linksCount: 1, size });
    const tree = this.finishMap(fm, JOURNAL_INO, inode);
    inode.blocks = iBlocksFor(n + tree, this.bs);
    this.out.inodes.set(JOURNAL_INO, inode);
    this.out.blocks.push({ block: first, bytes: journalSuperblockBlock(this.g, n) });
    this.out.journal = { iblock: inode.block, size };
  }

  private zero(start: number, count: number): void {
    if (this.ctx.zeroJournal && count > 0) this.out.zeroRanges.push({ start, count });
  }

  orphanFile(): void {
    const n = this.layout.orphanFileBlocks;
    if (n === 0) return;
    // ext2fs_new_inode from the root's group: the first free inode number after the reserved ones.
    let ino = this.g.sb.firstIno;
    while (this.out.inodes.has(ino)) ino++;
    this.out.orphanIno = ino;
    let goal = this.g.firstDataBlock;
    const fm = this.newMap(goal);
    for (let lblk = 0; lblk < n; lblk++) {
      const b = this.appendBlock(fm, lblk, goal);
      goal = b;
      const csum = this.ctx.fsSeed === undefined ? undefined : { fsSeed: this.ctx.fsSeed, ino, generation: 0, blockNr: b };
      this.out.blocks.push({ block: b, bytes: encodeEmptyOrphanBlock(this.bs, csum) });
    }
    const t = { sec: this.ctx.time, nsec: 0 };
    const inode = newInode(this.g.inodeSize, this.ctx.time, { mode: S_IFREG | 0o600, linksCount: 1, size: n * this.bs, atime: t, mtime: t, ctime: t });
    const tree = this.finishMap(fm, ino, inode);
    inode.blocks = iBlocksFor(n + tree, this.bs);
    this.out.inodes.set(ino, inode);
  }
}

/** Places and builds the special files; `layout.map` gains their blocks. */
export function buildSpecialFiles(layout: Layout, ctx: SpecialFilesContext): SpecialFiles {
  const b = new Builder(layout, ctx);
  b.root();
  b.lostFound();
  b.reservedInodes();
  b.resizeInode();
  b.journal();
  b.orphanFile();
  b.out.usedInodes = [...b.out.inodes.keys()].sort((x, y) => x - y);
  return b.out;
}
