/**
 * Everything an open volume is made of, wired together once: the mounted
 * superblock state, the inode table, the directory reader and the file data
 * reader. The vfs calls go through this object.
 */
import type { Ext4Super } from '../super/ext4-super.js';
import { InodeTable } from '../inode/inode-table.js';
import type { Ext4Inode } from '../inode/ext4-inode.js';
import { inlineData } from '../inode/inline.js';
import { DirReader } from '../dir/dir-reader.js';
import { ClockCache } from '../cache/clock-cache.js';
import { FileReader } from '../iomap/buffered-read.js';
import { corrupted, FsError } from '../base/errors.js';
import { inodeBlocks512, I_BLOCK_SIZE } from '../format/inode.js';
import type { StatContext } from './stats.js';
import type { InodeContext } from '../inode/inode-context.js';
import type { Orphans } from '../inode/orphan.js';
import { realClock, type Clock } from '../base/clock.js';

let nextDev = 0xe4000;

/** What the path cache remembers of a walk: the inode reached and its canonical path. */
export interface CachedWalk {
  ino: number;
  parentIno: number | undefined;
  path: string;
}

/**
 * How the memory budget (OpenVolumeOptions.cacheBytes) is shared: the buffer
 * cache counts bytes itself; the object caches get entry counts scaled from
 * the budget by a rough size per entry, so a smaller budget shrinks them all.
 * At the default 64 MiB: 16,384 inodes, 262,144 names, 65,536 paths.
 */
function cacheSizes(cacheBytes: number): { inodes: number; names: number; paths: number } {
  return {
    inodes: Math.max(256, Math.floor(cacheBytes / 4096)),
    names: Math.max(4096, Math.floor(cacheBytes / 256)),
    paths: Math.max(1024, Math.floor(cacheBytes / 1024)),
  };
}

export class Mounted implements StatContext, InodeContext {
  /**
   * Results of recent path walks, keyed by the follow flag and the path as
   * given. Tools that call lstat, open and listxattr on the same path walk it
   * once. Sound while the namespace cannot change (read-only volumes); the
   * write path must clear it on every namespace change.
   */
  readonly pathCache: ClockCache<string, CachedWalk>;
  readonly inodes: InodeTable;
  readonly dirs: DirReader;
  readonly reader: FileReader;
  readonly dev = nextDev++;
  readonly blockSize: number;

  /** Owner and umask of files this volume creates (default: the process's ids, umask 022). */
  creator: { uid: number; gid: number; umask: number } | undefined = undefined;

  /** The orphan records of a writable volume (loaded at open). */
  private orphans_: Orphans | undefined;

  constructor(readonly fs: Ext4Super, cacheBytes: number, readonly clock: Clock = realClock) {
    const sizes = cacheSizes(cacheBytes);
    this.pathCache = new ClockCache(sizes.paths);
    this.inodes = new InodeTable(fs, sizes.inodes);
    this.dirs = new DirReader(fs, sizes.names);
    this.reader = new FileReader(fs);
    this.blockSize = fs.blockSize;
  }

  get orphans(): Orphans {
    if (this.orphans_ === undefined) throw new FsError('EROFS');
    return this.orphans_;
  }

  set orphans(o: Orphans) {
    this.orphans_ = o;
  }

  get writable(): boolean {
    return this.fs.journal !== undefined;
  }

  blocks512(inode: Ext4Inode): number {
    return inodeBlocks512(inode.disk, this.fs.sb);
  }

  /**
   * A symlink's target bytes (Linux: `ext4_get_link`). Fast symlinks keep the
   * target in i_block and own no data blocks; slow ones keep it in one data
   * block (or inline data). A target must be 1..blocksize-1 bytes.
   */
  async readlink(inode: Ext4Inode): Promise<Buffer> {
    if (!inode.isSymlink) throw new FsError('EINVAL');
    const size = inode.size;
    if (size === 0 || size >= this.fs.blockSize) throw corrupted('inode', inode.ino, `symlink target length ${size} is invalid`);
    if (inode.hasInlineData) {
      const target = inlineData(this.fs, inode);
      if (target.length !== size) throw corrupted('inode', inode.ino, `inline symlink target of ${size} bytes is not all stored`);
      return Buffer.from(target);
    }
    const eaBlocks = inode.disk.fileAcl !== 0 ? this.fs.blockSize / 512 : 0;
    if (this.blocks512(inode) - eaBlocks === 0) {
      if (size >= I_BLOCK_SIZE) throw corrupted('inode', inode.ino, `fast symlink of ${size} bytes does not fit in i_block`);
      return Buffer.from(inode.disk.block.subarray(0, size));
    }
    const buf = Buffer.alloc(size);
    const n = await this.reader.read(inode, 0, buf, 0, size);
    if (n !== size) throw corrupted('inode', inode.ino, 'symlink target is shorter than its size');
    return buf;
  }
}
