/**
 * Operations that change the namespace (Linux: the ext4 inode operations in
 * fs/ext4/namei.c, with the VFS's locking around them): create, mkdir,
 * mknod, symlink, link, unlink, rmdir, rename.
 *
 * Locking. Every namespace change holds the volume's namespace mutex (the
 * role of Linux's s_vfs_rename_mutex, widened to all namespace changes),
 * then takes the rwsem of every inode it touches — directories and their
 * children — in ascending inode number (DESIGN.md §3). Data operations hold
 * one inode's rwsem and never the namespace mutex, so no cycle can form.
 * Lookups on a writable volume read a directory under its rwsem shared.
 *
 * Each change is one journal handle, entered only after every check that
 * can fail (ENOENT, EEXIST, ENOTEMPTY, EMLINK, ENOSPC by reservation):
 * nothing is ever half done. An inode whose last link goes is put on the
 * orphan list in that same handle and freed when the last file handle on
 * it closes (or right away when none is open).
 */
import { Ext4Inode } from '../inode/ext4-inode.js';
import type { Mounted } from './mounted.js';
import type { BlockReservation } from '../alloc/block-alloc.js';
import { allocatorsOf } from '../alloc/allocators.js';
import { createInode } from '../inode/inode-create.js';
import { allowInlineData } from '../inode/inline-write.js';
import { evictInode } from '../inode/truncate.js';
import { journalOf, nowTimestamp } from '../inode/inode-context.js';
import { ORPHAN_CREDITS } from '../inode/orphan.js';
import { reserve } from '../iomap/file-write.js';
import { getOrAllocateBlocks, maxNewMetadataBlocks, blockChangeCredits } from '../extent/file-blocks.js';
import { FsError, type ErrorCode } from '../base/errors.js';
import { Mutex } from '../base/locks.js';
import * as I from '../format/inode.js';
import { EXT4_NAME_LEN } from '../format/dirent.js';
import { resolve, type PathArg } from './namei.js';
import { fileTypeFromMode } from './dirent.js';
import {
  addEntry, checkAddEntry, deleteEntry, dirInsertCredits, initDirBlocks, isEmptyDir, maxDirInsertBlocks, replaceEntry, setDotDot,
} from '../dir/dir-write.js';

/** i_links_count limit (Linux: EXT4_LINK_MAX). */
export const EXT4_LINK_MAX = 65000;

const namespaceLocks = new WeakMap<Mounted, Mutex>();
function nsLock(m: Mounted): Mutex {
  let l = namespaceLocks.get(m);
  if (l === undefined) {
    l = new Mutex('volume.namespace');
    namespaceLocks.set(m, l);
  }
  return l;
}

/** Who creates files: the process's ids, as Node's fs does. */
export interface Creator {
  uid: number;
  gid: number;
  umask: number;
}

let processCreator: Creator | undefined;

/** The process's ids (read once) and umask 022. */
export function defaultCreator(): Creator {
  return (processCreator ??= { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0, umask: 0o022 });
}

/** A path split into the directory that holds its last component and that component's bytes. */
export interface ParentAndName {
  dir: Ext4Inode;
  name: Uint8Array;
  /** The path ended in '/': the last component must be a directory. */
  mustBeDir: boolean;
  /** The path up to (not including) the last component: where a relative symlink target found there starts. */
  parentPath: PathArg;
}

/** The call a parent lookup is for: each answers '.', '..' and '/' as a last component with its own error. */
export type ParentUse = 'create' | 'open' | 'openExcl' | 'unlink' | 'rmdir' | 'rename';

/** Linux: do_mkdirat & co. (EEXIST), do_unlinkat (EISDIR), do_rmdir, do_renameat2 (EBUSY). */
const NOT_A_NAME: Record<ParentUse, { dot: ErrorCode; dotdot: ErrorCode; root: ErrorCode }> = {
  create: { dot: 'EEXIST', dotdot: 'EEXIST', root: 'EEXIST' },
  // open(O_CREAT): the name is an existing directory (do_open), and O_EXCL's EEXIST comes first.
  open: { dot: 'EISDIR', dotdot: 'EISDIR', root: 'EISDIR' },
  openExcl: { dot: 'EEXIST', dotdot: 'EEXIST', root: 'EEXIST' },
  unlink: { dot: 'EISDIR', dotdot: 'EISDIR', root: 'EISDIR' },
  rmdir: { dot: 'EINVAL', dotdot: 'ENOTEMPTY', root: 'EBUSY' },
  rename: { dot: 'EBUSY', dotdot: 'EBUSY', root: 'EBUSY' },
};

/** What the last component of a path is (Linux: LAST_NORM, LAST_DOT, LAST_DOTDOT, LAST_ROOT). */
type LastKind = 'name' | 'dot' | 'dotdot' | 'root';

/** Resolves everything but the last component (Linux: filename_parentat) and classifies the last one. */
async function walkParent(m: Mounted, p: PathArg): Promise<ParentAndName & { kind: LastKind }> {
  const bytes = typeof p === 'string' ? Buffer.from(p, 'utf8') : Buffer.from(p);
  let end = bytes.length;
  while (end > 0 && bytes[end - 1] === 0x2f) end--;
  const mustBeDir = end < bytes.length;
  let start = end;
  while (start > 0 && bytes[start - 1] !== 0x2f) start--;
  const name = Buffer.from(bytes.subarray(start, end));
  const parentBytes = bytes.subarray(0, start);
  const parentPath: PathArg = parentBytes.length === 0 ? '/' : (typeof p === 'string' ? parentBytes.toString('utf8') : parentBytes);
  const { inode: dir } = await resolve(m, parentPath, true);
  if (!dir.isDir) throw new FsError('ENOTDIR');
  const kind: LastKind = name.length === 0 ? 'root' : name.length === 1 && name[0] === 0x2e ? 'dot'
    : name.length === 2 && name[0] === 0x2e && name[1] === 0x2e ? 'dotdot' : 'name';
  return { dir, name, mustBeDir, parentPath, kind };
}

/** '.', '..' or '/' as the last component of a call that needs a name: that call's error. */
function judgeLast(kind: LastKind, use: ParentUse): void {
  if (kind !== 'name') throw new FsError(NOT_A_NAME[use][kind]);
}

/**
 * Resolves everything but the last component, then judges the last one, in
 * Linux's order: errors of the walk first, then '.', '..' or '/', then a
 * name too long to exist (found when it is looked up).
 */
export async function lookupParent(m: Mounted, p: PathArg, use: ParentUse): Promise<ParentAndName> {
  const r = await walkParent(m, p);
  judgeLast(r.kind, use);
  // open(O_CREAT) refuses a trailing slash before it looks the name up (Linux: open_last_lookups).
  if ((use === 'open' || use === 'openExcl') && r.mustBeDir) throw new FsError('EISDIR');
  if (r.name.length > EXT4_NAME_LEN) throw new FsError('ENAMETOOLONG');
  return r;
}

/**
 * A directory inode and a name in it, for callers that already hold the
 * directory (a tree import: no path walk per file). Checks what
 * lookupParent would have: a directory, and a single component.
 */
export function parentAndName(dir: Ext4Inode, name: Uint8Array): ParentAndName {
  if (!dir.isDir) throw new FsError('ENOTDIR');
  if (name.length === 0 || name.includes(0x2f) || name.includes(0)) throw new FsError('EINVAL', 'not a single file name');
  if (name.length > EXT4_NAME_LEN) throw new FsError('ENAMETOOLONG');
  if ((name.length === 1 && name[0] === 0x2e) || (name.length === 2 && name[0] === 0x2e && name[1] === 0x2e)) throw new FsError('EEXIST');
  return { dir, name, mustBeDir: false, parentPath: '' };
}

function isParentAndName(p: PathArg | ParentAndName): p is ParentAndName {
  return typeof p === 'object' && !(p instanceof Uint8Array);
}

/** The inode `name` names in `dir`, or undefined. */
export async function lookupChild(m: Mounted, dir: Ext4Inode, name: Uint8Array): Promise<Ext4Inode | undefined> {
  const e = await m.dirs.lookupBytes(dir, name);
  return e === undefined ? undefined : m.inodes.get(e.ino);
}

/** Takes the rwsem of each inode (deduplicated) in ascending inode order; returns the release. */
async function lockInodes(inodes: ReadonlyArray<Ext4Inode | undefined>): Promise<() => void> {
  const sorted = [...new Set(inodes.filter((i): i is Ext4Inode => i !== undefined))].sort((a, b) => a.ino - b.ino);
  const held: Ext4Inode[] = [];
  try {
    for (const i of sorted) {
      await i.rwsem.lockExclusive();
      held.push(i);
    }
  } catch (e) {
    for (const i of held.reverse()) i.rwsem.unlockExclusive();
    throw e;
  }
  return () => {
    for (const i of held.reverse()) i.rwsem.unlockExclusive();
  };
}

/**
 * Runs a namespace change under the namespace mutex. A change that removes
 * or moves a name (`removesNames`) invalidates cached path walks, which may
 * lead through it; a new name cannot make any cached walk wrong (failed
 * walks are not cached).
 */
async function namespaceChange<T>(m: Mounted, fn: () => Promise<T>, removesNames = false): Promise<T> {
  journalOf(m);
  return nsLock(m).with(async () => {
    try {
      return await fn();
    } finally {
      if (removesNames) m.pathCache.clear();
    }
  });
}

function touchDir(m: Mounted, dir: Ext4Inode): void {
  const now = nowTimestamp(m);
  dir.disk.mtime = now;
  dir.disk.ctime = now;
}

/** Linux ext4_inc_count for a directory gaining a subdirectory: an indexed directory past the limit counts 1 ("many"). */
function incDirLinks(dir: Ext4Inode): void {
  dir.disk.linksCount++;
  if (dir.isIndexedDir && (dir.disk.linksCount > EXT4_LINK_MAX || dir.disk.linksCount === 2)) dir.disk.linksCount = 1;
}

/** Linux ext4_dec_count: a directory never drops below 2 this way (1 stays "many"). */
function decDirLinks(dir: Ext4Inode): void {
  if (dir.disk.linksCount > 2) dir.disk.linksCount--;
}

function checkDirCanGrow(dir: Ext4Inode): void {
  if (!dir.isIndexedDir && dir.disk.linksCount >= EXT4_LINK_MAX) throw new FsError('EMLINK');
}

/** Reserves what an insert into `dir` (plus `extra` blocks) may allocate, and an inode if `inode`. */
async function reserveForInsert(m: Mounted, dir: Ext4Inode, extra: number): Promise<BlockReservation> {
  return reserve(m, maxDirInsertBlocks(m.fs, dir) + extra);
}

export interface NewNode {
  mode: number;
  /** Device number for character and block devices. */
  rdev?: number;
  /** Symlink target. */
  target?: Uint8Array;
}

/**
 * Creates a file, directory, device node, fifo, socket or symlink at `p`
 * (Linux: ext4_create / ext4_mkdir / ext4_mknod / ext4_symlink). EEXIST if
 * the name is taken.
 */
export async function createNode(m: Mounted, p: PathArg, node: NewNode, who: Creator, parent?: ParentAndName): Promise<Ext4Inode> {
  return namespaceChange(m, async () => {
    const { dir, name, mustBeDir } = parent ?? (await lookupParent(m, p, 'create'));
    const type = node.mode & I.S_IFMT;
    const unlock = await lockInodes([dir]);
    try {
      if (dir.disk.linksCount === 0) throw new FsError('ENOENT');
      if ((await m.dirs.lookupBytes(dir, name)) !== undefined) throw new FsError('EEXIST');
      // A free name with a trailing slash can only become a directory (Linux: filename_create).
      if (mustBeDir && type !== I.S_IFDIR) throw new FsError('ENOENT');
      if (type === I.S_IFDIR) checkDirCanGrow(dir);
      // The handle allocates the inode before the entry goes in: whatever
      // the insert could refuse (a full index) must be known before.
      const addPlan = await checkAddEntry(m.fs, dir, name);
      const fs = m.fs;
      const bs = fs.blockSize;
      const isSymlink = type === I.S_IFLNK;
      const target = node.target ?? new Uint8Array(0);
      if (isSymlink && (target.length === 0 || target.length >= bs)) throw new FsError(target.length === 0 ? 'ENOENT' : 'ENAMETOOLONG');
      const slowSymlink = isSymlink && target.length >= I.I_BLOCK_SIZE;
      const needsBlock = type === I.S_IFDIR || slowSymlink;
      const inodeRes = allocatorsOf(fs).inodes.reserve();
      let r: BlockReservation;
      try {
        r = await reserveForInsert(m, dir, needsBlock ? 1 + maxNewMetadataBlocks(fs, dir) : 0);
      } catch (e) {
        inodeRes.release();
        throw e;
      }
      try {
        const credits = 8 + dirInsertCredits(fs, dir) + (needsBlock ? blockChangeCredits(fs, dir) : 0);
        return await journalOf(m).run(credits, async (h) => {
          let mode = node.mode & (I.S_IFMT | 0o7777);
          let gid = who.gid;
          // A setgid directory hands its group down, and its setgid bit to subdirectories.
          if ((dir.mode & I.S_ISGID) !== 0) {
            gid = dir.disk.gid;
            if (type === I.S_IFDIR) mode |= I.S_ISGID;
          }
          const inode = await createInode(m, h, {
            mode, uid: who.uid, gid, parent: dir,
            extents: type === I.S_IFREG || type === I.S_IFDIR || slowSymlink,
          });
          inodeRes.take();
          // A new regular file may keep its data in the inode (Linux: EXT4_STATE_MAY_INLINE_DATA).
          if (type === I.S_IFREG) allowInlineData(fs, inode);
          if (type === I.S_IFDIR) {
            inode.disk.linksCount = 2;
            await initDirBlocks(fs, h, inode, dir.ino, r);
            incDirLinks(dir);
          } else {
            inode.disk.linksCount = 1;
          }
          if (type === I.S_IFCHR || type === I.S_IFBLK) I.encodeDeviceNumber(inode.disk.block, node.rdev ?? 0);
          if (isSymlink) await writeSymlinkTarget(m, h, inode, target, r);
          await addEntry(fs, h, dir, name, inode.ino, fileTypeFromMode(mode), r, addPlan);
          touchDir(m, dir);
          await m.inodes.writeInode(h, inode);
          await m.inodes.writeInode(h, dir);
          return inode;
        });
      } finally {
        r.release();
        inodeRes.release();
      }
    } finally {
      unlock();
    }
  });
}

/** A fast symlink keeps its target in i_block; a longer one gets a data block (Linux: ext4_symlink). */
async function writeSymlinkTarget(m: Mounted, h: Parameters<typeof createInode>[1], inode: Ext4Inode, target: Uint8Array, r: BlockReservation): Promise<void> {
  const fs = m.fs;
  inode.disk.size = target.length;
  if (target.length < I.I_BLOCK_SIZE) {
    inode.disk.block.fill(0);
    inode.disk.block.set(target);
    return;
  }
  const run = await inode.dataSem.withExclusive(() => getOrAllocateBlocks({ fs, h, inode, r }, 0, 1));
  const block = new Uint8Array(fs.blockSize);
  block.set(target);
  await fs.device.write(run.pblk * fs.blockSize, block);
}

/** Adds a name for an existing inode (Linux: ext4_link). */
export async function linkNode(m: Mounted, existing: PathArg | Ext4Inode, p: PathArg | ParentAndName): Promise<void> {
  await namespaceChange(m, async () => {
    const inode = existing instanceof Ext4Inode ? existing : (await resolve(m, existing, false)).inode;
    const { dir, name, mustBeDir } = isParentAndName(p) ? p : await lookupParent(m, p, 'create');
    const unlock = await lockInodes([dir, inode]);
    try {
      // Linux's order: the new name (filename_create), then what may be linked (vfs_link).
      if ((await m.dirs.lookupBytes(dir, name)) !== undefined) throw new FsError('EEXIST');
      if (mustBeDir) throw new FsError('ENOENT');
      if (inode.isDir) throw new FsError('EPERM');
      if (inode.disk.linksCount === 0) throw new FsError('ENOENT');
      if (inode.disk.linksCount >= EXT4_LINK_MAX) throw new FsError('EMLINK');
      const r = await reserveForInsert(m, dir, 0);
      try {
        await journalOf(m).run(4 + dirInsertCredits(m.fs, dir), async (h) => {
          await addEntry(m.fs, h, dir, name, inode.ino, fileTypeFromMode(inode.mode), r);
          inode.disk.linksCount++;
          inode.disk.ctime = nowTimestamp(m);
          touchDir(m, dir);
          await m.inodes.writeInode(h, inode);
          await m.inodes.writeInode(h, dir);
        });
      } finally {
        r.release();
      }
    } finally {
      unlock();
    }
  });
}

/** Drops a link of `victim` inside handle work: orphan it when none is left. */
async function dropLink(m: Mounted, h: Parameters<typeof createInode>[1], victim: Ext4Inode, wasDir: boolean): Promise<void> {
  if (wasDir) victim.disk.linksCount = 0;
  else victim.disk.linksCount--;
  victim.disk.ctime = nowTimestamp(m);
  if (victim.disk.linksCount === 0) {
    await m.orphans.add(h, victim);
    if (victim.refCount > 0) victim.orphaned = true;
  }
  await m.inodes.writeInode(h, victim);
}

/** After the handle: an inode with no links and nobody holding it is freed now. */
async function reapIfUnused(m: Mounted, victim: Ext4Inode): Promise<void> {
  if (victim.disk.linksCount === 0 && victim.refCount === 0) await evictInode(m, victim);
}

/** Removes a name (Linux: ext4_unlink / ext4_rmdir). */
export async function removeNode(m: Mounted, p: PathArg | ParentAndName, expectDir: boolean): Promise<void> {
  await namespaceChange(m, async () => {
    const { dir, name, mustBeDir } = isParentAndName(p) ? p : await lookupParent(m, p, expectDir ? 'rmdir' : 'unlink');
    const victim = await lookupChild(m, dir, name);
    if (victim === undefined) throw new FsError('ENOENT');
    if (expectDir && !victim.isDir) throw new FsError('ENOTDIR');
    if (!expectDir && victim.isDir) throw new FsError('EISDIR');
    if (!expectDir && mustBeDir) throw new FsError('ENOTDIR');
    if (expectDir && victim.ino === 2) throw new FsError('EBUSY');
    const unlock = await lockInodes([dir, victim]);
    try {
      if (expectDir && !(await isEmptyDir(m.fs, victim))) throw new FsError('ENOTEMPTY');
      await journalOf(m).run(8 + ORPHAN_CREDITS, async (h) => {
        await deleteEntry(m.fs, h, dir, name);
        if (expectDir) decDirLinks(dir);
        touchDir(m, dir);
        await dropLink(m, h, victim, expectDir);
        await m.inodes.writeInode(h, dir);
      });
      await reapIfUnused(m, victim);
    } finally {
      unlock();
    }
  }, true);
}

/** Whether `dir` is `ancestor` or lies below it (walking '..' up to the root). */
async function isInside(m: Mounted, dir: Ext4Inode, ancestor: Ext4Inode): Promise<boolean> {
  let cur = dir;
  for (let steps = 0; steps <= m.fs.sb.inodesCount; steps++) {
    if (cur.ino === ancestor.ino) return true;
    if (cur.ino === I.ROOT_INO) return false;
    cur = await m.inodes.get(await m.dirs.parent(cur));
  }
  return true;
}

/** Moves a name, replacing what the new name named (Linux: ext4_rename). */
export async function renameNode(m: Mounted, from: PathArg, to: PathArg): Promise<void> {
  await namespaceChange(m, async () => {
    // Linux's order (do_renameat2, vfs_rename): both walks, '.', '..' or '/', the source, the target,
    // trailing slashes on a non-directory, the two ancestry traps, then the types.
    const src = await walkParent(m, from);
    const dst = await walkParent(m, to);
    judgeLast(src.kind, 'rename');
    judgeLast(dst.kind, 'rename');
    if (src.name.length > EXT4_NAME_LEN) throw new FsError('ENAMETOOLONG');
    const moving = await lookupChild(m, src.dir, src.name);
    if (moving === undefined) throw new FsError('ENOENT');
    if (dst.name.length > EXT4_NAME_LEN) throw new FsError('ENAMETOOLONG');
    const victim = await lookupChild(m, dst.dir, dst.name);
    if ((src.mustBeDir || dst.mustBeDir) && !moving.isDir) throw new FsError('ENOTDIR');
    if (src.dir.ino !== dst.dir.ino) {
      // A directory cannot move below itself; nor can anything replace a directory it lies below.
      if (moving.isDir && (await isInside(m, dst.dir, moving))) throw new FsError('EINVAL');
      if (victim?.isDir === true && (await isInside(m, src.dir, victim))) throw new FsError('ENOTEMPTY');
    }
    if (victim !== undefined && victim.ino === moving.ino) return;
    if (victim !== undefined) {
      if (moving.isDir && !victim.isDir) throw new FsError('ENOTDIR');
      if (!moving.isDir && victim.isDir) throw new FsError('EISDIR');
    }
    const crossDir = src.dir.ino !== dst.dir.ino;
    const unlock = await lockInodes([src.dir, dst.dir, moving, victim]);
    try {
      if (victim?.isDir === true && !(await isEmptyDir(m.fs, victim))) throw new FsError('ENOTEMPTY');
      if (moving.isDir && crossDir && victim === undefined) checkDirCanGrow(dst.dir);
      const r = await reserveForInsert(m, dst.dir, 0);
      try {
        await journalOf(m).run(16 + dirInsertCredits(m.fs, dst.dir) + ORPHAN_CREDITS, async (h) => {
          const fs = m.fs;
          const type = fileTypeFromMode(moving.mode);
          if (victim !== undefined) await replaceEntry(fs, h, dst.dir, dst.name, moving.ino, type);
          else await addEntry(fs, h, dst.dir, dst.name, moving.ino, type, r);
          await deleteEntry(fs, h, src.dir, src.name);
          // As ext4_rename: the old parent loses the moved directory's '..'; the new one gains it,
          // unless it replaces a directory there, whose '..' it takes over.
          if (moving.isDir) {
            if (crossDir) await setDotDot(fs, h, moving, dst.dir.ino);
            decDirLinks(src.dir);
            if (victim === undefined) incDirLinks(dst.dir);
          }
          if (victim !== undefined) await dropLink(m, h, victim, victim.isDir);
          moving.disk.ctime = nowTimestamp(m);
          touchDir(m, src.dir);
          touchDir(m, dst.dir);
          await m.inodes.writeInode(h, moving);
          await m.inodes.writeInode(h, src.dir);
          if (crossDir) await m.inodes.writeInode(h, dst.dir);
        });
      } finally {
        r.release();
      }
      if (victim !== undefined) await reapIfUnused(m, victim);
    } finally {
      unlock();
    }
  }, true);
}
