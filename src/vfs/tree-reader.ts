/**
 * An internal way through a volume for tools that visit a whole tree, such
 * as the CLI's `cp -a`: by inode number instead of by path.
 *
 * The `promises` surface serves one path at a time: each call resolves its
 * path (a path-cache or dcache lookup), builds a Stats object and dresses
 * errors for Node. For a walk that has just read the directory entry, all of
 * that is repeated work: the entry already names the inode. This reader
 * hands out inodes by number and reads them through the very same layers
 * below (inode table with its checksum and sanity checks, directory reader,
 * iomap read path, xattr reader), so every check still runs; only the path
 * layer is left out. Errors are the layers' own (`EFSCORRUPTED` naming the
 * structure), without a syscall or path: the caller knows which path it was.
 *
 * Inodes are read through an inode table of its own that keeps none (on a
 * read-only volume; a few otherwise): a tree walk meets each inode once and
 * holds what it needs in the TreeNode, and keeping thousands of them in the
 * volume's inode cache would only give the garbage collector more live
 * objects to move.
 */
import type { Ext4Inode } from '../inode/ext4-inode.js';
import { InodeTable } from '../inode/inode-table.js';
import { ReadAheadWindow } from '../device/read-ahead.js';
import { checkRange, type HostFileRange } from '../device/block-device.js';
import type { DirEntryInfo } from '../dir/dir-reader.js';
import type { Mounted } from './mounted.js';
import { pathArg, resolve } from './namei.js';
import { rdevOf, statBlocks } from './stats.js';
import { mountedOf } from './volume.js';
import { mayHaveXattrs, xattrPairs } from './xattr-ops.js';
import type { PathLike, Volume } from './types.js';

/** What a copy needs to know of an inode, as plain numbers. */
export interface TreeNode {
  inode: Ext4Inode;
  /** Tells inodes apart within the volume: hard links share it. */
  ino: number;
  /** The volume's st_dev (a copy from a host directory may meet several file systems). */
  dev: number;
  /** i_mode: type and permission bits. */
  mode: number;
  uid: number;
  gid: number;
  nlink: number;
  size: number;
  /** Allocated space in 512-byte units, as st_blocks. */
  blocks: number;
  rdev: number;
  atimeSec: number;
  atimeNsec: number;
  mtimeSec: number;
  mtimeNsec: number;
}

export type TreeEntry = DirEntryInfo;

export class TreeReader {
  private readonly inodes: InodeTable;

  private readonly window: ReadAheadWindow | undefined;

  /** The host file under the volume's device, when its data may be read from there directly (see hostRunsSync). */
  readonly hostFile: HostFileRange | undefined;

  private constructor(private readonly m: Mounted) {
    this.inodes = new InodeTable(m.fs, m.fs.readOnly ? 0 : 16);
    // Only a volume nobody writes may serve data from a private copy of device bytes,
    // or let another thread read the device's file on its own.
    this.window = m.fs.readOnly && m.fs.device.readIntoSync !== undefined ? new ReadAheadWindow(m.fs.device) : undefined;
    this.hostFile = m.fs.readOnly ? m.fs.device.hostFile : undefined;
  }

  /** A reader for a volume opened by `openVolume`; undefined for any other Volume. */
  static of(volume: Volume): TreeReader | undefined {
    const m = mountedOf(volume);
    return m === undefined ? undefined : new TreeReader(m);
  }

  /** The inode a path names (following a final symlink when asked), as stat/lstat would find it. */
  async lookup(path: PathLike, followLast: boolean): Promise<TreeNode> {
    return this.node((await resolve(this.m, pathArg(path), followLast)).inode);
  }

  /** Inode `ino` (from a directory entry), read and validated. */
  async get(ino: number): Promise<TreeNode> {
    return this.node(await this.inodes.get(ino));
  }

  /**
   * `get` without waiting, when the inode table block can be had
   * synchronously (an image file; see BufferCache.readSync); else undefined.
   * A walk over thousands of files is mostly these calls: done without a
   * promise each, they cost a fraction.
   */
  getSync(ino: number): TreeNode | undefined {
    const inode = this.inodes.getSync(ino);
    return inode === undefined ? undefined : this.node(inode);
  }

  private node(inode: Ext4Inode): TreeNode {
    const d = inode.disk;
    return {
      inode, ino: inode.ino, dev: this.m.dev, mode: d.mode, uid: d.uid, gid: d.gid, nlink: d.linksCount, size: d.size,
      blocks: statBlocks(this.m, inode), rdev: rdevOf(inode),
      atimeSec: d.atime.sec, atimeNsec: d.atime.nsec, mtimeSec: d.mtime.sec, mtimeNsec: d.mtime.nsec,
    };
  }

  /** The entries of a directory except "." and "..", in on-disk order. */
  entries(dir: TreeNode): Promise<TreeEntry[]> {
    return this.m.dirs.entries(dir.inode);
  }

  /** Reads up to `length` bytes at `pos` into `target`; returns the count (short only at end of file). */
  read(file: TreeNode, pos: number, target: Uint8Array, length: number): Promise<number> {
    return this.m.reader.read(file.inode, pos, target, 0, length);
  }

  /**
   * `read` without waiting, or undefined when a block cannot be read
   * synchronously. File data comes through a read-ahead window (the volume
   * is read-only, see device/read-ahead.ts).
   */
  readSync(file: TreeNode, pos: number, target: Uint8Array, length: number): number | undefined {
    return this.m.reader.readSync(file.inode, pos, target, 0, length, this.window?.read);
  }

  /**
   * Where `readSync` would take [pos, pos + length) from, as positions in
   * `hostFile` (-1 for a run that reads as zeros), for a reader on another
   * thread. Every run is checked to lie inside the device, so that thread
   * reads nothing outside it (a partition's neighbours). Undefined when
   * there is no host file or the data cannot be mapped synchronously.
   */
  hostRunsSync(file: TreeNode, pos: number, length: number, visit: (filePos: number, hostPosition: number, len: number) => void): number | undefined {
    const host = this.hostFile;
    if (host === undefined) return undefined;
    const size = this.m.fs.device.size;
    return this.m.reader.mapRunsSync(file.inode, pos, length, (p, deviceOffset, len) => {
      if (deviceOffset < 0) return visit(p, -1, len);
      checkRange(size, deviceOffset, len, 'read');
      visit(p, host.position + deviceOffset, len);
    });
  }

  /** `dataRanges` without waiting, or undefined. */
  dataRangesSync(file: TreeNode): Array<{ start: number; end: number }> | undefined {
    return this.m.reader.dataRangesSync(file.inode);
  }

  /** The byte ranges that hold data (what SEEK_DATA / SEEK_HOLE would find). */
  dataRanges(file: TreeNode): Promise<Array<{ start: number; end: number }>> {
    return this.m.reader.dataRanges(file.inode);
  }

  readlink(link: TreeNode): Promise<Buffer> {
    return this.m.readlink(link.inode);
  }

  /** False when the inode certainly has no attribute to show (the common case: no need to ask `xattrs`). */
  mayHaveXattrs(node: TreeNode): boolean {
    return mayHaveXattrs(this.m, node.inode);
  }

  /** Every extended attribute as listxattr and getxattr show them. */
  xattrs(node: TreeNode): Promise<Array<{ name: string; value: Buffer }>> {
    return xattrPairs(this.m, node.inode);
  }
}
