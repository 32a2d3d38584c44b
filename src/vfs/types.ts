/**
 * The public shape of a volume: what `openVolume` returns and what the CLI
 * and users program against. `promises` mirrors `node:fs/promises` for the
 * calls ext4 can serve; xattr calls and `mknod` have ext4kit's own names.
 */
import type { Readable, Writable } from 'node:stream';
import type { Clock } from '../base/clock.js';

/** What `stat` returns: the fields and predicates of Node's `fs.Stats`. */
export interface StatsBase<T extends number | bigint> {
  dev: T; ino: T; mode: T; nlink: T; uid: T; gid: T; rdev: T;
  size: T; blksize: T; blocks: T;
  atimeMs: T; mtimeMs: T; ctimeMs: T; birthtimeMs: T;
  atime: Date; mtime: Date; ctime: Date; birthtime: Date;
  isFile(): boolean; isDirectory(): boolean; isSymbolicLink(): boolean;
  isBlockDevice(): boolean; isCharacterDevice(): boolean; isFIFO(): boolean; isSocket(): boolean;
}
export type Stats = StatsBase<number>;
export interface BigIntStats extends StatsBase<bigint> {
  atimeNs: bigint; mtimeNs: bigint; ctimeNs: bigint; birthtimeNs: bigint;
}

export interface StatOptions { bigint?: boolean }

/**
 * Node's `fs.Dirent`: a name and its type from the directory entry (no inode
 * read). With `encoding: 'buffer'` the name is the stored bytes.
 */
export interface Dirent<Name extends string | Buffer = string> {
  name: Name;
  /** The directory that was read (Node 20 calls it `path`, later `parentPath`). */
  parentPath: string;
  path: string;
  isFile(): boolean; isDirectory(): boolean; isSymbolicLink(): boolean;
  isBlockDevice(): boolean; isCharacterDevice(): boolean; isFIFO(): boolean; isSocket(): boolean;
}

export interface StatFs {
  type: number; bsize: number; blocks: number; bfree: number; bavail: number; files: number; ffree: number;
}

export interface ReadResult { bytesRead: number; buffer: Uint8Array }

export interface ReadStreamOptions { start?: number; end?: number; highWaterMark?: number }

export interface WriteResult<T> { bytesWritten: number; buffer: T }

export interface WriteStreamOptions { start?: number; highWaterMark?: number; autoClose?: boolean }

/** An open file, like `fs.promises.FileHandle`. */
export interface FileHandle {
  /** A small integer unique among this volume's open files (not an OS descriptor). */
  readonly fd: number;
  read(buffer: Uint8Array, offset?: number, length?: number, position?: number | bigint | null): Promise<ReadResult>;
  read(options?: { buffer?: Uint8Array; offset?: number; length?: number; position?: number | bigint | null }): Promise<ReadResult>;
  readFile(options?: { encoding?: BufferEncoding | null } | BufferEncoding | null): Promise<Buffer | string>;
  stat(options?: StatOptions & { bigint?: false }): Promise<Stats>;
  stat(options: StatOptions & { bigint: true }): Promise<BigIntStats>;
  createReadStream(options?: ReadStreamOptions): Readable;
  /**
   * The byte ranges [start, end) that hold data, in order; everything else
   * reads as zeros (holes, and unwritten extents). What SEEK_DATA/SEEK_HOLE
   * would find: lets a copy stay sparse without reading the holes.
   */
  dataRanges(): Promise<Array<{ start: number; end: number }>>;
  write(buffer: Uint8Array, offset?: number, length?: number, position?: number | null): Promise<WriteResult<Uint8Array>>;
  write(data: string, position?: number | null, encoding?: BufferEncoding): Promise<WriteResult<string>>;
  writev(buffers: Uint8Array[], position?: number | null): Promise<{ bytesWritten: number; buffers: Uint8Array[] }>;
  writeFile(data: Uint8Array | string, options?: { encoding?: BufferEncoding | null } | BufferEncoding | null): Promise<void>;
  appendFile(data: Uint8Array | string, options?: { encoding?: BufferEncoding | null } | BufferEncoding | null): Promise<void>;
  truncate(len?: number): Promise<void>;
  sync(): Promise<void>;
  datasync(): Promise<void>;
  chmod(mode: number): Promise<void>;
  chown(uid: number, gid: number): Promise<void>;
  utimes(atime: number | string | Date, mtime: number | string | Date): Promise<void>;
  createWriteStream(options?: WriteStreamOptions): Writable;
  close(): Promise<void>;
}

export interface Dir extends AsyncIterable<Dirent> {
  readonly path: string;
  read(): Promise<Dirent | null>;
  close(): Promise<void>;
}

export interface ReaddirOptions { withFileTypes?: boolean; encoding?: BufferEncoding | 'buffer' | null; recursive?: boolean }

/**
 * A path inside the image ('/' is its root; relative paths start there too).
 * A string's UTF-8 bytes are the names, as in Node; a Buffer gives the bytes
 * exactly, for names that are not valid UTF-8.
 */
export type PathLike = string | Buffer | URL;

/** The `node:fs/promises`-like surface of a volume. */
export interface VolumePromises {
  stat(path: PathLike, options?: StatOptions & { bigint?: false }): Promise<Stats>;
  stat(path: PathLike, options: StatOptions & { bigint: true }): Promise<BigIntStats>;
  lstat(path: PathLike, options?: StatOptions & { bigint?: false }): Promise<Stats>;
  lstat(path: PathLike, options: StatOptions & { bigint: true }): Promise<BigIntStats>;
  readdir(path: PathLike, options?: { withFileTypes?: false; encoding?: BufferEncoding | null; recursive?: boolean } | BufferEncoding | null): Promise<string[]>;
  readdir(path: PathLike, options: { withFileTypes?: false; encoding: 'buffer'; recursive?: boolean } | 'buffer'): Promise<Buffer[]>;
  readdir(path: PathLike, options: { withFileTypes: true; encoding: 'buffer'; recursive?: boolean }): Promise<Array<Dirent<Buffer>>>;
  readdir(path: PathLike, options: { withFileTypes: true; encoding?: BufferEncoding | null; recursive?: boolean }): Promise<Dirent[]>;
  readFile(path: PathLike, options?: { encoding?: null; flag?: string } | null): Promise<Buffer>;
  readFile(path: PathLike, options: { encoding: BufferEncoding; flag?: string } | BufferEncoding): Promise<string>;
  open(path: PathLike, flags?: string | number, mode?: number): Promise<FileHandle>;
  readlink(path: PathLike, options?: { encoding?: BufferEncoding | null } | BufferEncoding | null): Promise<string>;
  readlink(path: PathLike, options: { encoding: 'buffer' } | 'buffer'): Promise<Buffer>;
  realpath(path: PathLike): Promise<string>;
  access(path: PathLike, mode?: number): Promise<void>;
  opendir(path: PathLike): Promise<Dir>;
  statfs(path: PathLike): Promise<StatFs>;
  /** Value of one extended attribute, by its full name (`user.foo`, `security.selinux`, `system.posix_acl_access`, ...). ENODATA if absent. */
  getxattr(path: PathLike, name: string, options?: { noFollow?: boolean }): Promise<Buffer>;
  /** Full names of all extended attributes (not including ext4's internal `system.data`). */
  listxattr(path: PathLike, options?: { noFollow?: boolean }): Promise<string[]>;
  /**
   * setxattr(2), ext4kit's own call: sets `name` to `value` (ACLs in the form
   * getxattr returns). `flag` 'create' fails with EEXIST if the attribute
   * exists, 'replace' with ENODATA if it does not.
   */
  setxattr(path: PathLike, name: string, value: string | Uint8Array, options?: { flag?: 'create' | 'replace'; noFollow?: boolean }): Promise<void>;
  /** removexattr(2), ext4kit's own call. ENODATA if absent. */
  removexattr(path: PathLike, name: string, options?: { noFollow?: boolean }): Promise<void>;

  writeFile(path: PathLike, data: string | Uint8Array, options?: { encoding?: BufferEncoding | null; mode?: number; flag?: string } | BufferEncoding | null): Promise<void>;
  appendFile(path: PathLike, data: string | Uint8Array, options?: { encoding?: BufferEncoding | null; mode?: number; flag?: string } | BufferEncoding | null): Promise<void>;
  /** Returns, with `recursive`, the first directory created (undefined if none). */
  mkdir(path: PathLike, options?: { recursive?: boolean; mode?: number } | number): Promise<string | undefined>;
  rmdir(path: PathLike): Promise<void>;
  rm(path: PathLike, options?: { recursive?: boolean; force?: boolean }): Promise<void>;
  unlink(path: PathLike): Promise<void>;
  rename(oldPath: PathLike, newPath: PathLike): Promise<void>;
  link(existingPath: PathLike, newPath: PathLike): Promise<void>;
  symlink(target: PathLike, path: PathLike, type?: string | null): Promise<void>;
  truncate(path: PathLike, len?: number): Promise<void>;
  chmod(path: PathLike, mode: number): Promise<void>;
  chown(path: PathLike, uid: number, gid: number): Promise<void>;
  lchown(path: PathLike, uid: number, gid: number): Promise<void>;
  utimes(path: PathLike, atime: number | string | Date, mtime: number | string | Date): Promise<void>;
  lutimes(path: PathLike, atime: number | string | Date, mtime: number | string | Date): Promise<void>;
  copyFile(src: PathLike, dest: PathLike, mode?: number): Promise<void>;
  mkdtemp(prefix: string): Promise<string>;
  /** mknod(2): a device node (S_IFCHR / S_IFBLK with `rdev`), fifo, socket or empty file. ext4kit's own call. */
  mknod(path: PathLike, mode: number, rdev?: number): Promise<void>;
}

export interface VolumeInfo {
  /** Bytes per block: 1024, 2048, 4096 (or 65536 on some arches). */
  blockSize: number;
  blocksCount: number;
  freeBlocksCount: number;
  reservedBlocksCount: number;
  inodesCount: number;
  freeInodesCount: number;
  inodeSize: number;
  groupCount: number;
  blocksPerGroup: number;
  inodesPerGroup: number;
  /** Feature names as dumpe2fs prints them (`has_journal`, `extent`, `64bit`, ...). */
  features: string[];
  uuid: string;
  label: string;
  /** `clean`, `not clean`, with ` with errors` appended as dumpe2fs does. */
  state: string;
  lastMountedOn: string;
  createdTime: Date | undefined;
  lastMountTime: Date | undefined;
  lastWriteTime: Date | undefined;
  mountCount: number;
  /** Linux, Hurd, ... */
  creatorOs: string;
  revision: number;
  journalInode: number;
  checksumType: string | undefined;
  sizeBytes: number;
}

export interface Volume {
  readonly promises: VolumePromises;
  readonly readOnly: boolean;
  info(): VolumeInfo;
  /** Makes every change so far durable: commits the journal and flushes the device. */
  sync(): Promise<void>;
  /** Closes open files, commits, writes everything home, marks the filesystem clean. */
  close(): Promise<void>;
}

export interface OpenVolumeOptions {
  readOnly?: boolean;
  /** Byte offset of the filesystem inside the file/device (a partition in a disk image). */
  offset?: number;
  /** Length in bytes of the filesystem region (default: to the end of the device). */
  length?: number;
  /** Memory budget for cached metadata and file data, in bytes (default 64 MiB). */
  cacheBytes?: number;
  /**
   * For a path target: requests up to this many bytes are served with
   * synchronous calls on the main thread (default 128 KiB; larger ones go
   * through libuv's thread pool). A tool that does one thing at a time, such
   * as the CLI, gains from a large value: no thread hop per request, and on
   * a busy machine no wait for a pool thread to be scheduled.
   */
  syncIoMax?: number;
  /** Time source for timestamps and the journal's commit timer (tests pass a virtual clock). */
  clock?: Clock;
}
