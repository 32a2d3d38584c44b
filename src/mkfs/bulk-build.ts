/**
 * mkfs -d's bulk builder: the host tree laid out in memory right after the
 * mkfs layout is computed, and written once, the way mke2fs -d fills a new
 * image: no journal, no allocator searches, no per-file transactions.
 *
 *  1. `scanTree` (before the target is touched): one walk of the host
 *     tree (host/host-scan.ts); the python helper starts reading every
 *     entry's xattrs and the data ranges of sparse files in the background
 *     (host/host-ops.ts).
 *  2. `BulkBuild.plan`: inode numbers and link counts (bulk-tree.ts), then
 *     every directory built and every block placed in walk order
 *     (bulk-layout.ts), marking the mkfs block map.
 *  3. `writeData`: file contents and the blocks built in memory, in large
 *     ascending writes (bulk-data.ts).
 *  4. `finish`: once the xattrs have arrived, the inodes are encoded with
 *     them (bulk-inodes.ts); mkfs then derives bitmaps, descriptors and
 *     the superblock from the block map and the inode list as for an empty
 *     filesystem.
 *
 * The journal stays empty and clean: nothing here goes through it.
 */
import { statSync } from 'node:fs';
import { FsError } from '../base/errors.js';
import type { BlockDevice } from '../device/block-device.js';
import { effectiveHashVersion } from '../format/dirhash.js';
import { inodeCsumSeed, S_IFDIR, S_IFMT, S_IFREG } from '../format/inode.js';
import { readTreeAttrs, type HostOpError, type TreeAttrs } from '../host/host-ops.js';
import { scanHost, type HostNode } from '../host/host-scan.js';
import { BulkAllocator } from './bulk-alloc.js';
import { DataWriter } from './bulk-data.js';
import { finishInodes, generationOf } from './bulk-inodes.js';
import { layOutTree, type TreeLayout } from './bulk-layout.js';
import { buildTreeModel, type TreeModel } from './bulk-tree.js';
import { hasFeature } from './features.js';
import { InodeTables } from './inode-tables.js';
import type { Layout } from './layout.js';
import type { MkfsPopulate, MkfsProgress } from './options.js';
import type { SpecialFiles } from './special-files.js';
import { EXTRA_ISIZE } from './superblock-init.js';

/** A scanned host tree, and the python helper's walk for xattrs and sparse files on its way. */
export interface ScannedTree {
  source: MkfsPopulate;
  nodes: HostNode[];
  /** Undefined when python3 is missing (no xattrs, sparse files copied in full) or its walk failed (reported). */
  attrs: Promise<TreeAttrs | undefined>;
  /** Some regular file holds fewer blocks than bytes: its holes are needed before blocks are placed. */
  sparse: boolean;
  /** The key of a node's path in `attrs` (relative to the source, latin1). */
  relKey: (node: HostNode) => string;
  progress: MkfsProgress;
  report: (path: Buffer, e: unknown) => void;
}

const NO_PROGRESS: MkfsProgress = { bytes() {}, file() {}, done() {} };

function hostOpError(e: HostOpError): Error {
  return Object.assign(new Error(e.message), { code: e.code });
}

/**
 * Scans `source.dir` (following it if it is a symlink), with the python
 * helper walking the same tree on another core for what Node cannot ask
 * (xattrs, SEEK_DATA). Throws when the directory itself cannot be read;
 * entries below it that cannot be read are reported.
 */
export function scanTree(source: MkfsPopulate): ScannedTree {
  const report = (path: Buffer, e: unknown): void => {
    if (source.onError === undefined) throw e;
    source.onError(path, e);
  };
  if (!statSync(source.dir).isDirectory()) throw new FsError('ENOTDIR', `${source.dir} is not a directory`);
  const top = Buffer.from(source.dir);
  const attrs = readTreeAttrs(top).then((a) => {
    if (a === undefined) report(top, new FsError('ENOTSUP', 'python3 was not found: extended attributes were not copied and sparse files were copied in full'));
    for (const e of a?.errors ?? []) report(Buffer.from(e.path), hostOpError(e));
    return a;
  }, (e: unknown) => {
    report(top, e);
    return undefined;
  });
  // Awaited only later: a failure reported by `report` must not count as unhandled meanwhile.
  attrs.catch(() => undefined);
  const scan = scanHost([top], [Buffer.alloc(0)], { recursive: true, followTop: true });
  for (const e of scan.errors) {
    if (e.path.equals(top)) throw e.error;
    report(e.path, e.error);
  }
  const nodes = scan.nodes;
  const sparse = nodes.some((n) => (n.st.mode & S_IFMT) === S_IFREG && n.st.size > 0 && n.st.blocks * 512 < n.st.size);
  // Paths below the source are the source, a '/' unless it ends in one, then the relative path.
  const skip = top.length + (top[top.length - 1] === 0x2f ? 0 : 1);
  const relKey = (n: HostNode): string => (n.parent < 0 ? '' : n.path.toString('latin1', skip));
  const progress = source.progress?.(scan.bytes, scan.files) ?? NO_PROGRESS;
  return { source, nodes, attrs, sparse, relKey, progress, report };
}

export interface BulkContext {
  layout: Layout;
  files: SpecialFiles;
  /** Creation time, seconds. */
  time: number;
  uuid: Uint8Array;
  /** Metadata checksum seed (metadata_csum), else undefined. */
  fsSeed: number | undefined;
}

export class BulkBuild {
  private constructor(
    private readonly tree: ScannedTree, private readonly ctx: BulkContext, private readonly model: TreeModel,
    private readonly alloc: BulkAllocator, private readonly placed: TreeLayout, private readonly writer: DataWriter | undefined,
  ) {}

  /**
   * Lays the tree out; the block map gains every block it uses. Given a
   * device (one that reads as zeros, so nothing needs zeroing first), the
   * data is written as it is placed; `writeData` then finishes it.
   */
  static async plan(tree: ScannedTree, ctx: BulkContext, device?: BlockDevice): Promise<BulkBuild> {
    const g = ctx.layout.geometry;
    const sb = g.sb;
    const model = buildTreeModel(tree.nodes, {
      used: new Set(ctx.files.inodes.keys()), inodesCount: sb.inodesCount, blockSize: g.blockSize,
      dirNlink: hasFeature(sb, 'dir_nlink'), onError: tree.report,
    });
    const attrs = tree.sparse ? await tree.attrs : undefined;
    const alloc = new BulkAllocator(g, ctx.layout.map);
    const extraIsize = g.inodeSize > 128 ? EXTRA_ISIZE : 0;
    const writer = device === undefined ? undefined : dataWriter(tree, device, g.blockSize);
    const placed = await layOutTree({
      model, alloc, inodeSize: g.inodeSize, extents: hasFeature(sb, 'extent'), inlineData: hasFeature(sb, 'inline_data'),
      dirFormat: {
        blockSize: g.blockSize, fileType: hasFeature(sb, 'filetype'), tail: ctx.fsSeed !== undefined,
        dirIndex: hasFeature(sb, 'dir_index'), largeDir: hasFeature(sb, 'large_dir'),
        hashVersion: sb.defHashVersion, effectiveHashVersion: effectiveHashVersion(sb.defHashVersion, sb.flags), seed: sb.hashSeed,
      },
      preallocated: ctx.files.dirBlocks,
      ranges: (n) => attrs?.ranges.get(tree.relKey(n)),
      inodeSeed: (ino) => (ctx.fsSeed === undefined ? undefined : inodeCsumSeed(ctx.fsSeed, ino, generationOf(ctx.uuid, ino))),
      onError: tree.report,
      progressFile: () => tree.progress.file(),
    }, extraIsize, writer === undefined ? undefined : (pieces) => writer.add(pieces));
    // Root (and lost+found, when the host has one) were rebuilt: their first blocks now come from the tree.
    const rebuilt = new Set<number>();
    for (const p of placed.placed) for (const b of ctx.files.dirBlocks.get(p.t.ino) ?? []) rebuilt.add(b);
    ctx.files.blocks = ctx.files.blocks.filter((b) => !rebuilt.has(b.block));
    return new BulkBuild(tree, ctx, model, alloc, placed, writer);
  }

  /** Some regular file is 2 GiB or more (the large_file feature). */
  get largeFile(): boolean {
    return this.placed.largeFile;
  }

  /** Bytes `writeData` writes. */
  get dataBytes(): number {
    return this.placed.dataBytes;
  }

  /** Directories of the tree (root included). */
  get directories(): number[] {
    return this.placed.placed.filter((p) => (p.t.mode & S_IFMT) === S_IFDIR).map((p) => p.t.ino);
  }

  /** Writes every file's data and every block built in memory (what `plan` has not written yet). */
  async writeData(device: BlockDevice): Promise<void> {
    if (this.writer !== undefined) await this.writer.end();
    else await dataWriter(this.tree, device, this.ctx.layout.geometry.blockSize).writeAll(this.placed.pieces);
  }

  /**
   * Encodes every inode, the special files' and the tree's (waiting for the
   * xattrs first); attribute blocks join the special files' blocks.
   */
  async finish(): Promise<InodeTables> {
    const g = this.ctx.layout.geometry;
    const attrs = await this.tree.attrs;
    const tables = new InodeTables(g, this.ctx.fsSeed);
    for (const [ino, inode] of this.ctx.files.inodes) tables.put(ino, inode);
    const xattrBlocks = finishInodes(this.placed.placed, this.model.nodes, {
      inodeSize: g.inodeSize, extraIsize: g.inodeSize > 128 ? EXTRA_ISIZE : 0, blockSize: g.blockSize, time: this.ctx.time, uuid: this.ctx.uuid,
      xattrs: (n) => attrs?.xattrs.get(this.tree.relKey(n)), alloc: this.alloc, tables, fsSeed: this.ctx.fsSeed, onError: this.tree.report,
    });
    this.ctx.files.blocks.push(...xattrBlocks);
    return tables;
  }

  /** The copy is over. */
  done(): void {
    this.tree.progress.done();
  }
}

function dataWriter(tree: ScannedTree, device: BlockDevice, blockSize: number): DataWriter {
  return new DataWriter(device, blockSize, tree.report, (n) => tree.progress.bytes(n));
}
