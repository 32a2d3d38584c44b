/**
 * The writing calls of `volume.promises`, with Node's semantics on top of
 * the namespace and file operations: open flags, writeFile / appendFile,
 * recursive mkdir and rm, copyFile, mkdtemp. Each returns what Node returns
 * and throws what Node throws (codes, and Node's own ERR_* for argument
 * errors).
 */
import { randomBytes } from 'node:crypto';
import type { Ext4Inode } from '../inode/ext4-inode.js';
import type { Mounted } from './mounted.js';
import { FsError, type ErrorCode } from '../base/errors.js';
import * as I from '../format/inode.js';
import { resolve, type PathArg } from './namei.js';
import { createNode, defaultCreator, linkNode, lookupChild, lookupParent, removeNode, renameNode, type Creator } from './namespace.js';
import { holdInode, readData, releaseInode, truncateTo, writeAt } from './file-io.js';
import { setAttributes, toTimestamp } from '../inode/setattr.js';
import { O_ACCMODE, O_APPEND, O_CREAT, O_DIRECTORY, O_EXCL, O_NOFOLLOW, O_RDWR, O_SYNC, O_TRUNC, O_WRONLY } from './open-flags.js';


/** Node's flag strings (lib/internal/fs/utils.js stringToFlags) as open(2) bits. */
export function parseOpenFlags(flags: string | number | undefined, dflt = 'r'): number {
  if (typeof flags === 'number') return flags;
  switch (flags ?? dflt) {
    case 'r': return 0;
    case 'rs': case 'sr': return O_SYNC;
    case 'r+': return O_RDWR;
    case 'rs+': case 'sr+': return O_RDWR | O_SYNC;
    case 'w': return O_TRUNC | O_CREAT | O_WRONLY;
    case 'wx': case 'xw': return O_TRUNC | O_CREAT | O_WRONLY | O_EXCL;
    case 'w+': return O_TRUNC | O_CREAT | O_RDWR;
    case 'wx+': case 'xw+': return O_TRUNC | O_CREAT | O_RDWR | O_EXCL;
    case 'a': return O_APPEND | O_CREAT | O_WRONLY;
    case 'ax': case 'xa': return O_APPEND | O_CREAT | O_WRONLY | O_EXCL;
    case 'as': case 'sa': return O_APPEND | O_CREAT | O_WRONLY | O_SYNC;
    case 'a+': return O_APPEND | O_CREAT | O_RDWR;
    case 'ax+': case 'xa+': return O_APPEND | O_CREAT | O_RDWR | O_EXCL;
    case 'as+': case 'sa+': return O_APPEND | O_CREAT | O_RDWR | O_SYNC;
    default:
      throw Object.assign(new TypeError(`The value "${String(flags)}" is invalid for option "flags"`), { code: 'ERR_INVALID_ARG_VALUE' });
  }
}

/** The creator of new files on this volume (process ids and umask as Node's fs applies them). */
export function creatorOf(m: Mounted): Creator {
  return m.creator ?? defaultCreator();
}

/**
 * Resolves `p` for open(2): creating a regular file when O_CREAT asks and
 * the name is free, truncating with O_TRUNC. Returns the inode to open.
 */
export async function openInode(m: Mounted, p: PathArg, flags: number, mode = 0o666): Promise<Ext4Inode> {
  const wantsWrite = (flags & O_ACCMODE) !== 0;
  if (wantsWrite || (flags & (O_CREAT | O_TRUNC)) !== 0) {
    if (!m.writable) throw new FsError('EROFS');
  }
  const inode = (flags & O_CREAT) !== 0
    ? await openCreating(m, p, flags, mode)
    : (await resolve(m, p, (flags & O_NOFOLLOW) === 0)).inode;
  if ((flags & O_NOFOLLOW) !== 0 && inode.isSymlink) throw new FsError('ELOOP');
  if ((flags & O_DIRECTORY) !== 0 && !inode.isDir) throw new FsError('ENOTDIR');
  if (inode.isDir && (wantsWrite || (flags & O_CREAT) !== 0)) throw new FsError('EISDIR');
  if ((flags & O_TRUNC) !== 0 && wantsWrite && inode.isReg && inode.size > 0) await truncateTo(m, inode, 0);
  return inode;
}

/** Linux MAXSYMLINKS. */
const MAX_SYMLINKS = 40;
/** Linux PATH_MAX, counting the terminating NUL. */
const PATH_MAX = 4096;

/**
 * open(2) with O_CREAT (Linux: open_last_lookups): a trailing slash is
 * EISDIR; an existing name is opened (EEXIST with O_EXCL); a symlink is
 * followed to its target, which is created there if missing (a dangling
 * symlink gets its file); a free name gets a new regular file.
 */
async function openCreating(m: Mounted, p: PathArg, flags: number, mode: number): Promise<Ext4Inode> {
  const excl = (flags & O_EXCL) !== 0;
  let path = p;
  for (let links = 0; ;) {
    const parent = await lookupParent(m, path, excl ? 'openExcl' : 'open');
    const { dir, name, parentPath } = parent;
    const existing = await lookupChild(m, dir, name);
    if (existing === undefined) {
      const who = creatorOf(m);
      try {
        // The parent is walked already: create there without walking again.
        return await createNode(m, path, { mode: I.S_IFREG | (mode & 0o7777 & ~who.umask) }, who, parent);
      } catch (e) {
        // Someone created it between the two looks: start again (EEXIST with O_EXCL).
        if (e instanceof FsError && e.code === 'EEXIST' && !excl) continue;
        throw e;
      }
    }
    if (excl) throw new FsError('EEXIST');
    if (!existing.isSymlink || (flags & O_NOFOLLOW) !== 0) return existing;
    if (++links > MAX_SYMLINKS) throw new FsError('ELOOP');
    const target = await m.readlink(existing);
    const base = typeof parentPath === 'string' ? Buffer.from(parentPath, 'utf8') : Buffer.from(parentPath);
    path = target[0] === 0x2f ? target : Buffer.concat([base, Buffer.from('/'), target]);
  }
}

export type WriteData = string | Uint8Array;

function toBytes(data: WriteData, encoding: BufferEncoding | null | undefined): Uint8Array {
  if (typeof data === 'string') return Buffer.from(data, encoding ?? 'utf8');
  if (data instanceof Uint8Array) return data;
  throw Object.assign(new TypeError('The "data" argument must be of type string or an instance of Buffer, TypedArray, or DataView.'), { code: 'ERR_INVALID_ARG_TYPE' });
}

/** fs.writeFile / fs.appendFile: open with the flag (default 'w' / 'a'), write everything, close. */
export async function writeWhole(m: Mounted, p: PathArg, data: WriteData, flag: string, mode: number, encoding: BufferEncoding | null | undefined): Promise<void> {
  const flags = parseOpenFlags(flag);
  const inode = await openInode(m, p, flags, mode);
  if (!inode.isReg) throw new FsError('EINVAL', 'not a regular file');
  holdInode(inode);
  try {
    await writeAll(m, inode, (flags & O_APPEND) !== 0 ? 'append' : 0, toBytes(data, encoding));
  } finally {
    await releaseInode(m, inode);
  }
}

/**
 * Writes all of `data` as Node's writeFile does: write(2) may take only part
 * (the disk filled up), so it writes the rest until that fails with ENOSPC,
 * which is thrown — never a silent short write.
 */
export async function writeAll(m: Mounted, inode: Ext4Inode, pos: number | 'append', data: Uint8Array): Promise<void> {
  let done = 0;
  let at = pos;
  while (done < data.length) {
    const r = await writeAt(m, inode, at, data.subarray(done));
    done += r.written;
    if (at !== 'append') at = r.end;
  }
}

/** fs.mkdir; with `recursive`, creates missing parents and returns the first directory created. */
export async function makeDirectory(m: Mounted, p: PathArg, mode: number, recursive: boolean): Promise<string | undefined> {
  const who = creatorOf(m);
  // Linux's vfs_mkdir keeps only the permission and sticky bits of the mode (setgid comes from the parent).
  const dirMode = I.S_IFDIR | (mode & 0o1777 & ~who.umask);
  if (!recursive) {
    await createNode(m, p, { mode: dirMode }, who);
    return undefined;
  }
  return makeDirectories(m, typeof p === 'string' ? Buffer.from(p, 'utf8') : Buffer.from(p), dirMode, who);
}

/** The error code of an FsError (anything else propagates). */
async function errorCodeOf(fn: () => Promise<unknown>): Promise<string | undefined> {
  try {
    await fn();
    return undefined;
  } catch (e) {
    if (e instanceof FsError) return e.code;
    throw e;
  }
}

/**
 * Recursive mkdir exactly as Node does it on Linux (node_file.cc MKDirp):
 * a stack of path strings; a missing parent (ENOENT) pushes the path and
 * then its parent (the bytes before the last '/'); an intermediate path
 * that exists is fine if it is a directory (ENOTDIR otherwise); the path
 * itself existing as a directory is success, as anything else EEXIST.
 * Returns the first directory created.
 */
async function makeDirectories(m: Mounted, path: Buffer, dirMode: number, who: Creator): Promise<string | undefined> {
  const stack: Buffer[] = [path];
  let first: string | undefined;
  for (;;) {
    const next = stack.pop();
    if (next === undefined) return first;
    let code = await errorCodeOf(() => createNode(m, next, { mode: dirMode }, who));
    if (code === undefined) {
      first ??= next.toString('utf8');
      continue;
    }
    if (code === 'EACCES' || code === 'ENOSPC' || code === 'ENOTDIR' || code === 'EPERM') throw new FsError(code);
    if (code === 'ENOENT') {
      const cut = next.lastIndexOf(0x2f);
      const parent = cut <= 0 ? Buffer.from('/') : next.subarray(0, cut);
      if (!parent.equals(next)) {
        stack.push(next, parent);
        continue;
      }
      if (stack.length > 0) continue;
      code = 'EEXIST';
    }
    let isDir = false;
    const statCode = await errorCodeOf(async () => {
      isDir = (await resolve(m, next, true)).inode.isDir;
    });
    if (code === 'EEXIST' && stack.length > 0) {
      if (statCode === undefined && isDir) continue;
      throw new FsError('ENOTDIR');
    }
    if (statCode !== undefined) throw new FsError(statCode as ErrorCode);
    if (!isDir) throw new FsError('EEXIST');
    return first;
  }
}

/** fs.rm: files and symlinks; directories with `recursive` (depth first); missing paths ignored with `force`. */
export async function removePath(m: Mounted, p: PathArg, recursive: boolean, force: boolean): Promise<void> {
  const { dir, name } = await lookupParent(m, p, 'unlink').catch((e: unknown) => {
    if (force && e instanceof FsError && e.code === 'ENOENT') return { dir: undefined, name: undefined };
    throw e;
  });
  if (dir === undefined || name === undefined) return;
  const inode = await lookupChild(m, dir, name);
  if (inode === undefined) {
    if (force) return;
    throw new FsError('ENOENT');
  }
  if (!inode.isDir) {
    await removeNode(m, p, false);
    return;
  }
  if (!recursive) {
    throw Object.assign(new Error(`Path is a directory: rm returned EISDIR (is a directory) ${typeof p === 'string' ? p : ''}`), {
      code: 'ERR_FS_EISDIR', errno: 21, syscall: 'rm',
    });
  }
  const base = typeof p === 'string' ? p.replace(/\/+$/, '') : Buffer.from(p).toString('utf8').replace(/\/+$/, '');
  for (const e of await m.dirs.list(inode)) {
    const child = e.text !== undefined ? `${base}/${e.text}` : Buffer.concat([Buffer.from(`${base}/`), e.name]);
    await removePath(m, child, true, force);
  }
  await removeNode(m, p, true);
}

export async function unlinkPath(m: Mounted, p: PathArg): Promise<void> {
  await removeNode(m, p, false);
}

export async function rmdirPath(m: Mounted, p: PathArg): Promise<void> {
  await removeNode(m, p, true);
}

export async function renamePath(m: Mounted, from: PathArg, to: PathArg): Promise<void> {
  await renameNode(m, from, to);
}

export async function linkPath(m: Mounted, existing: PathArg, p: PathArg): Promise<void> {
  await linkNode(m, existing, p);
}

export async function symlinkPath(m: Mounted, target: PathArg, p: PathArg): Promise<void> {
  const who = creatorOf(m);
  const bytes = typeof target === 'string' ? Buffer.from(target, 'utf8') : Buffer.from(target);
  // The target is copied in (getname) before anything is looked up: these come first on Linux.
  if (bytes.length === 0) throw new FsError('ENOENT');
  if (bytes.length >= PATH_MAX) throw new FsError('ENAMETOOLONG');
  await createNode(m, p, { mode: I.S_IFLNK | 0o777, target: bytes }, who);
}

export async function mknodPath(m: Mounted, p: PathArg, mode: number, rdev: number): Promise<void> {
  const who = creatorOf(m);
  const type = mode & I.S_IFMT;
  const allowed = [I.S_IFREG, I.S_IFCHR, I.S_IFBLK, I.S_IFIFO, I.S_IFSOCK];
  if (!allowed.includes(type === 0 ? I.S_IFREG : type)) throw new FsError('EINVAL');
  await createNode(m, p, { mode: (type === 0 ? I.S_IFREG : type) | (mode & 0o7777 & ~who.umask), rdev }, who);
}

export async function truncatePath(m: Mounted, p: PathArg, len: number): Promise<void> {
  const { inode } = await resolve(m, p, true);
  if (inode.isDir) throw new FsError('EISDIR');
  await truncateTo(m, inode, len);
}

export async function chmodPath(m: Mounted, p: PathArg, mode: number, follow: boolean): Promise<void> {
  const { inode } = await resolve(m, p, follow);
  await setAttributes(m, inode, { mode });
}

export async function chownPath(m: Mounted, p: PathArg, uid: number, gid: number, follow: boolean): Promise<void> {
  const { inode } = await resolve(m, p, follow);
  await setAttributes(m, inode, { uid, gid });
}

export type TimeArg = number | string | Date;

export async function utimesPath(m: Mounted, p: PathArg, atime: TimeArg, mtime: TimeArg, follow: boolean): Promise<void> {
  const { inode } = await resolve(m, p, follow);
  await setAttributes(m, inode, { atime: toTimestamp(atime), mtime: toTimestamp(mtime) });
}

const COPYFILE_EXCL = 1;
const COPY_CHUNK = 8 << 20;

/** fs.copyFile: the source's bytes and mode into a new or truncated destination. */
export async function copyFilePath(m: Mounted, src: PathArg, dest: PathArg, mode: number): Promise<void> {
  const { inode: from } = await resolve(m, src, true);
  if (from.isDir) throw new FsError('EISDIR');
  const flags = O_WRONLY | O_CREAT | O_TRUNC | ((mode & COPYFILE_EXCL) !== 0 ? O_EXCL : 0);
  const to = await openInode(m, dest, flags, from.mode & 0o7777);
  if (to.ino === from.ino) return;
  holdInode(from);
  holdInode(to);
  try {
    const buf = new Uint8Array(Math.min(COPY_CHUNK, Math.max(1, from.size)));
    let pos = 0;
    while (pos < from.size) {
      const n = await readData(m, from, pos, buf, 0, Math.min(buf.length, from.size - pos));
      if (n === 0) break;
      await writeAll(m, to, pos, buf.subarray(0, n));
      pos += n;
    }
    await setAttributes(m, to, { mode: from.mode & 0o7777 });
  } finally {
    await releaseInode(m, from);
    await releaseInode(m, to);
  }
}

/** fs.mkdtemp: the prefix plus six random characters, mode 0700. */
export async function makeTempDir(m: Mounted, prefix: string): Promise<string> {
  const chars = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
  for (let attempt = 0; attempt < 100; attempt++) {
    const suffix = [...randomBytes(6)].map((b) => chars[b % chars.length]).join('');
    const path = `${prefix}${suffix}`;
    try {
      await createNode(m, path, { mode: I.S_IFDIR | 0o700 }, creatorOf(m));
      return path;
    } catch (e) {
      if (!(e instanceof FsError && e.code === 'EEXIST')) throw e;
    }
  }
  throw new FsError('EEXIST');
}
