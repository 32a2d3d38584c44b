/**
 * The `node:fs/promises`-like surface of a volume (read side). Each call
 * resolves its path, does its work through the layers below, and dresses
 * any error in Node's form: `code`, negative `errno`, the `syscall` Node
 * would name and the `path` the caller gave.
 */
import { corrupted, FsError } from '../base/errors.js';
import type { Ext4Inode } from '../inode/ext4-inode.js';
import { EXT4_FT_DIR, EXT4_FT_UNKNOWN } from '../format/dirent.js';
import type { Mounted } from './mounted.js';
import { displayPath, pathArg, resolve, type PathArg } from './namei.js';
import { Ext4BigIntStats, Ext4Stats } from './stats.js';
import { Ext4Dir, Ext4Dirent, fileTypeFromMode } from './dirent.js';
import { Ext4FileHandle, checkReadFileSize } from './file-handle.js';
import { getXattr, listXattrNames, removeXattrOf, setXattrOf } from './xattr-ops.js';
import type { BigIntStats, Dir, Dirent, FileHandle, PathLike, StatFs, StatOptions, Stats, VolumePromises } from './types.js';
import { readData } from './file-io.js';
import * as W from './write-calls.js';

const F_OK = 0;
const W_OK = 2;
const X_OK = 1;

type Encoding = BufferEncoding | 'buffer' | null | undefined;

/** Wraps a call so its FsErrors carry Node's syscall and path. */
async function call<T>(syscall: string, path: unknown, fn: (p: PathArg) => Promise<T>): Promise<T> {
  const p = pathArg(path);
  try {
    return await fn(p);
  } catch (e) {
    if (e instanceof FsError) throw e.withContext(syscall, displayPath(p));
    throw e;
  }
}

/** As `call`, for the two-path calls (rename, link, symlink, copyFile): errors name both, as Node's do. */
async function call2<T>(syscall: string, a: unknown, b: unknown, fn: (a: PathArg, b: PathArg) => Promise<T>): Promise<T> {
  const pa = pathArg(a);
  const pb = pathArg(b);
  try {
    return await fn(pa, pb);
  } catch (e) {
    if (e instanceof FsError) throw e.withContext(syscall, displayPath(pa), displayPath(pb));
    throw e;
  }
}

type WriteOptions = { encoding?: BufferEncoding | null; mode?: number; flag?: string } | BufferEncoding | null;

function writeOptions(options: WriteOptions | undefined): { encoding?: BufferEncoding | null; mode?: number; flag?: string } {
  if (typeof options === 'string') return { encoding: options };
  return options ?? {};
}

function encodingOf(options: unknown): Encoding {
  if (typeof options === 'string') return options as BufferEncoding | 'buffer';
  if (options !== null && typeof options === 'object' && 'encoding' in options) return (options as { encoding?: Encoding }).encoding;
  return undefined;
}

function decodeName(e: { name: Uint8Array; text: string | undefined }, encoding: Encoding): string | Buffer {
  if (e.text !== undefined && (encoding === undefined || encoding === null || encoding === 'utf8' || encoding === 'utf-8')) return e.text;
  const b = Buffer.from(e.name.buffer, e.name.byteOffset, e.name.length);
  return encoding === 'buffer' ? Buffer.from(b) : b.toString(encoding ?? 'utf8');
}

/** A recursive listing must not meet the same directory twice (a directory cycle on a corrupt image). */
function noCycle(seen: Set<number>, dir: Ext4Inode, child: number): void {
  if (seen.has(child)) throw corrupted('directory', dir.ino, `subdirectory inode ${child} was already listed (directory cycle)`);
  seen.add(child);
}

export class Ext4Promises implements VolumePromises {
  private readonly open_ = new Set<Ext4FileHandle>();

  constructor(private readonly m: Mounted) {}

  stat(path: PathLike, options?: StatOptions & { bigint?: false }): Promise<Stats>;
  stat(path: PathLike, options: StatOptions & { bigint: true }): Promise<BigIntStats>;
  stat(path: PathLike, options?: StatOptions): Promise<Stats | BigIntStats> {
    return call('stat', path, async (p) => this.statOf((await resolve(this.m, p, true)).inode, options));
  }

  lstat(path: PathLike, options?: StatOptions & { bigint?: false }): Promise<Stats>;
  lstat(path: PathLike, options: StatOptions & { bigint: true }): Promise<BigIntStats>;
  lstat(path: PathLike, options?: StatOptions): Promise<Stats | BigIntStats> {
    return call('lstat', path, async (p) => this.statOf((await resolve(this.m, p, false)).inode, options));
  }

  private statOf(inode: Ext4Inode, options?: StatOptions): Stats | BigIntStats {
    return options?.bigint ? new Ext4BigIntStats(this.m, inode) : new Ext4Stats(this.m, inode);
  }

  readdir(path: PathLike, options?: { withFileTypes?: false; encoding?: BufferEncoding | null; recursive?: boolean } | BufferEncoding | null): Promise<string[]>;
  readdir(path: PathLike, options: { withFileTypes?: false; encoding: 'buffer'; recursive?: boolean } | 'buffer'): Promise<Buffer[]>;
  readdir(path: PathLike, options: { withFileTypes: true; encoding: 'buffer'; recursive?: boolean }): Promise<Array<Dirent<Buffer>>>;
  readdir(path: PathLike, options: { withFileTypes: true; encoding?: BufferEncoding | null; recursive?: boolean }): Promise<Dirent[]>;
  readdir(path: PathLike, options?: unknown): Promise<string[] | Buffer[] | Dirent[] | Array<Dirent<Buffer>>> {
    const o = (options !== null && typeof options === 'object' ? options : {}) as { withFileTypes?: boolean; recursive?: boolean };
    const encoding = encodingOf(options);
    return call('scandir', path, async (p) => {
      const { inode } = await resolve(this.m, p, true);
      if (!inode.isDir) throw new FsError('ENOTDIR');
      if (o.withFileTypes) {
        return encoding === 'buffer'
          ? this.direntsOf(inode, displayPath(p), o.recursive === true, true)
          : this.direntsOf(inode, displayPath(p), o.recursive === true, false);
      }
      const names: Array<string | Buffer> = [];
      const queue: Array<{ dir: Ext4Inode; prefix: string }> = [{ dir: inode, prefix: '' }];
      const seen = new Set<number>([inode.ino]);
      while (queue.length > 0) {
        const { dir, prefix } = queue.shift()!;
        for (const e of await this.m.dirs.list(dir)) {
          const name = decodeName(e, encoding);
          names.push(prefix === '' ? name : typeof name === 'string' ? `${prefix}/${name}` : Buffer.concat([Buffer.from(`${prefix}/`), name]));
          if (o.recursive && (await this.entryType(e.ino, e.fileType)) === EXT4_FT_DIR) {
            noCycle(seen, dir, e.ino);
            queue.push({ dir: await this.m.inodes.get(e.ino), prefix: prefix === '' ? String(name) : `${prefix}/${String(name)}` });
          }
        }
      }
      return names as string[] | Buffer[];
    });
  }

  private async entryType(ino: number, fileType: number): Promise<number> {
    if (fileType !== EXT4_FT_UNKNOWN && this.m.fs.hasFileType) return fileType;
    return fileTypeFromMode((await this.m.inodes.get(ino)).mode);
  }

  private async direntsOf(dir: Ext4Inode, path: string, recursive: boolean, asBuffer: true): Promise<Array<Dirent<Buffer>>>;
  private async direntsOf(dir: Ext4Inode, path: string, recursive: boolean, asBuffer: false): Promise<Dirent[]>;
  private async direntsOf(dir: Ext4Inode, path: string, recursive: boolean, asBuffer: boolean): Promise<Array<Dirent<string | Buffer>>> {
    const out: Array<Dirent<string | Buffer>> = [];
    const queue: Array<{ dir: Ext4Inode; path: string }> = [{ dir, path }];
    const seen = new Set<number>([dir.ino]);
    while (queue.length > 0) {
      const cur = queue.shift()!;
      for (const e of await this.m.dirs.list(cur.dir)) {
        const type = await this.entryType(e.ino, e.fileType);
        const text = decodeName(e, 'utf8') as string;
        out.push(new Ext4Dirent(asBuffer ? (decodeName(e, 'buffer')) : text, cur.path, type));
        if (recursive && type === EXT4_FT_DIR) {
          noCycle(seen, cur.dir, e.ino);
          queue.push({ dir: await this.m.inodes.get(e.ino), path: cur.path.endsWith('/') ? cur.path + text : `${cur.path}/${text}` });
        }
      }
    }
    return out;
  }

  readFile(path: PathLike, options?: { encoding?: null; flag?: string } | null): Promise<Buffer>;
  readFile(path: PathLike, options: { encoding: BufferEncoding; flag?: string } | BufferEncoding): Promise<string>;
  readFile(path: PathLike, options?: unknown): Promise<Buffer | string> {
    const encoding = encodingOf(options);
    const flag = options !== null && typeof options === 'object' ? (options as { flag?: string }).flag : undefined;
    return call('open', path, async (p) => {
      const inode = await W.openInode(this.m, p, W.parseOpenFlags(flag));
      if (inode.isDir) throw new FsError('EISDIR', undefined, 'read');
      checkReadFileSize(inode.size);
      const buf = Buffer.allocUnsafe(inode.size);
      const n = await readData(this.m, inode, 0, buf, 0, inode.size);
      const out = n === inode.size ? buf : buf.subarray(0, n);
      return encoding && encoding !== 'buffer' ? out.toString(encoding) : out;
    });
  }

  open(path: PathLike, flags?: string | number, mode?: number): Promise<FileHandle> {
    return call('open', path, async (p) => {
      const f = W.parseOpenFlags(flags);
      const inode = await W.openInode(this.m, p, f, mode ?? 0o666);
      const h = new Ext4FileHandle(this.m, inode, displayPath(p), (closed) => this.open_.delete(closed), f);
      this.open_.add(h);
      return h;
    });
  }

  writeFile(path: PathLike, data: W.WriteData, options?: WriteOptions): Promise<void> {
    const o = writeOptions(options);
    return call('open', path, (p) => W.writeWhole(this.m, p, data, o.flag ?? 'w', o.mode ?? 0o666, o.encoding));
  }

  appendFile(path: PathLike, data: W.WriteData, options?: WriteOptions): Promise<void> {
    const o = writeOptions(options);
    return call('open', path, (p) => W.writeWhole(this.m, p, data, o.flag ?? 'a', o.mode ?? 0o666, o.encoding));
  }

  mkdir(path: PathLike, options?: { recursive?: boolean; mode?: number } | number): Promise<string | undefined> {
    const o = typeof options === 'number' ? { mode: options } : options ?? {};
    return call('mkdir', path, (p) => W.makeDirectory(this.m, p, o.mode ?? 0o777, o.recursive === true));
  }

  rmdir(path: PathLike): Promise<void> {
    return call('rmdir', path, (p) => W.rmdirPath(this.m, p));
  }

  rm(path: PathLike, options?: { recursive?: boolean; force?: boolean }): Promise<void> {
    return call('rm', path, (p) => W.removePath(this.m, p, options?.recursive === true, options?.force === true));
  }

  unlink(path: PathLike): Promise<void> {
    return call('unlink', path, (p) => W.unlinkPath(this.m, p));
  }

  rename(oldPath: PathLike, newPath: PathLike): Promise<void> {
    return call2('rename', oldPath, newPath, (a, b) => W.renamePath(this.m, a, b));
  }

  link(existingPath: PathLike, newPath: PathLike): Promise<void> {
    return call2('link', existingPath, newPath, (a, b) => W.linkPath(this.m, a, b));
  }

  symlink(target: PathLike, path: PathLike, _type?: string | null): Promise<void> {
    return call2('symlink', target, path, (a, b) => W.symlinkPath(this.m, a, b));
  }

  truncate(path: PathLike, len = 0): Promise<void> {
    return call('open', path, (p) => W.truncatePath(this.m, p, len));
  }

  chmod(path: PathLike, mode: number): Promise<void> {
    return call('chmod', path, (p) => W.chmodPath(this.m, p, mode, true));
  }

  chown(path: PathLike, uid: number, gid: number): Promise<void> {
    return call('chown', path, (p) => W.chownPath(this.m, p, uid, gid, true));
  }

  lchown(path: PathLike, uid: number, gid: number): Promise<void> {
    return call('lchown', path, (p) => W.chownPath(this.m, p, uid, gid, false));
  }

  utimes(path: PathLike, atime: W.TimeArg, mtime: W.TimeArg): Promise<void> {
    return call('utime', path, (p) => W.utimesPath(this.m, p, atime, mtime, true));
  }

  lutimes(path: PathLike, atime: W.TimeArg, mtime: W.TimeArg): Promise<void> {
    return call('lutime', path, (p) => W.utimesPath(this.m, p, atime, mtime, false));
  }

  copyFile(src: PathLike, dest: PathLike, mode = 0): Promise<void> {
    return call2('copyfile', src, dest, (a, b) => W.copyFilePath(this.m, a, b, mode));
  }

  mkdtemp(prefix: string): Promise<string> {
    return call('mkdtemp', `${prefix}XXXXXX`, () => W.makeTempDir(this.m, prefix));
  }

  /** Creates a device node, fifo, socket or empty file (mknod(2); ext4kit's own call). */
  mknod(path: PathLike, mode: number, rdev = 0): Promise<void> {
    return call('mknod', path, (p) => W.mknodPath(this.m, p, mode, rdev));
  }

  readlink(path: PathLike, options?: { encoding?: BufferEncoding | null } | BufferEncoding | null): Promise<string>;
  readlink(path: PathLike, options: { encoding: 'buffer' } | 'buffer'): Promise<Buffer>;
  readlink(path: PathLike, options?: unknown): Promise<string | Buffer> {
    const encoding = encodingOf(options);
    return call('readlink', path, async (p) => {
      const { inode } = await resolve(this.m, p, false);
      if (!inode.isSymlink) throw new FsError('EINVAL');
      const target = await this.m.readlink(inode);
      return encoding === 'buffer' ? target : target.toString(encoding ?? 'utf8');
    });
  }

  realpath(path: PathLike): Promise<string> {
    return call('realpath', path, async (p) => (await resolve(this.m, p, true)).path);
  }

  access(path: PathLike, mode: number = F_OK): Promise<void> {
    return call('access', path, async (p) => {
      const { inode } = await resolve(this.m, p, true);
      if ((mode & W_OK) !== 0 && !this.m.writable) throw new FsError('EROFS');
      // Checked as root would be: execute needs an x bit somewhere unless it is a directory.
      if ((mode & X_OK) !== 0 && !inode.isDir && (inode.mode & 0o111) === 0) throw new FsError('EACCES');
    });
  }

  opendir(path: PathLike): Promise<Dir> {
    return call('opendir', path, async (p) => {
      const { inode } = await resolve(this.m, p, true);
      if (!inode.isDir) throw new FsError('ENOTDIR');
      return new Ext4Dir(displayPath(p), await this.direntsOf(inode, displayPath(p), false, false));
    });
  }

  statfs(path: PathLike): Promise<StatFs> {
    return call('statfs', path, async (p) => {
      await resolve(this.m, p, true);
      const sb = this.m.fs.sb;
      return {
        type: 0xef53, bsize: this.m.fs.blockSize, blocks: sb.blocksCount, bfree: sb.freeBlocksCount,
        bavail: Math.max(0, sb.freeBlocksCount - sb.reservedBlocksCount), files: sb.inodesCount, ffree: sb.freeInodesCount,
      };
    });
  }

  getxattr(path: PathLike, name: string, options?: { noFollow?: boolean }): Promise<Buffer> {
    return call('getxattr', path, async (p) => getXattr(this.m, (await resolve(this.m, p, !options?.noFollow)).inode, name));
  }

  listxattr(path: PathLike, options?: { noFollow?: boolean }): Promise<string[]> {
    return call('listxattr', path, async (p) => listXattrNames(this.m, (await resolve(this.m, p, !options?.noFollow)).inode));
  }

  setxattr(path: PathLike, name: string, value: string | Uint8Array, options?: { flag?: 'create' | 'replace'; noFollow?: boolean }): Promise<void> {
    const bytes = typeof value === 'string' ? Buffer.from(value, 'utf8') : value;
    return call('setxattr', path, async (p) => setXattrOf(this.m, (await resolve(this.m, p, !options?.noFollow)).inode, name, bytes, options?.flag));
  }

  removexattr(path: PathLike, name: string, options?: { noFollow?: boolean }): Promise<void> {
    return call('removexattr', path, async (p) => removeXattrOf(this.m, (await resolve(this.m, p, !options?.noFollow)).inode, name));
  }

  /** Handles still open (closed by `volume.close()`). */
  openHandles(): Ext4FileHandle[] {
    return [...this.open_];
  }
}
