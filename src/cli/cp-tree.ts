/**
 * The copy of files and trees out of an image onto the host, for `cp`.
 *
 * The walk uses readdir's file types, so a regular file costs one open of
 * the image file (its stat comes from the open handle) and no separate
 * stat. A bounded pool keeps many files in flight. What must happen after
 * the contents are in place — special files, attributes, permissions of
 * directories, times — is collected and applied once, in the right order,
 * by `cp-finish.ts`.
 *
 * Without -a this follows GNU `cp -r`: new files get the source's
 * permission bits minus the umask and minus set-user/group-ID, new
 * directories keep their sticky bit, symlinks are copied as symlinks and
 * special files recreated; owners, times, links and xattrs are not kept.
 * With -a every attribute is kept (owners only for root, as chown needs it).
 *
 * Host calls are synchronous (see cp-file.ts for why): each is a short
 * system call, and the image reads between them stay asynchronous.
 */
import { chownSync, closeSync, fchmodSync, fchownSync, lchownSync, linkSync, lstatSync, mkdirSync, symlinkSync, unlinkSync } from 'node:fs';
import { isFsError } from '../base/errors.js';
import type { BigIntStats, Volume } from '../vfs/types.js';
import { copyData, createDest } from './cp-file.js';
import { S_IFMT, S_IFREG, S_IFDIR, S_IFLNK } from './format.js';
import { TaskPool } from './pool.js';
import type { Reporter } from './report.js';
import type { HostPath } from './host-ops.js';

export interface CopyFlags { recursive: boolean; archive: boolean }

/** One file or directory to copy: where it is in which image, and where it goes. */
export interface CopyJob {
  vol: Volume;
  image: string;
  /** Path in the image: a string, or bytes below a name that is not valid UTF-8. */
  src: HostPath;
  /** Host path, likewise. */
  dest: HostPath;
  /** Directory depth below the top of this copy; directories are finished deepest first. */
  depth: number;
}

export interface DirFinish { dest: HostPath; depth: number; mode: number | undefined; atimeNs?: bigint; mtimeNs?: bigint; label: string }
export interface SpecialNode { dest: HostPath; mode: number; rdev: number; uid: number; gid: number; label: string }
export interface PendingLink { target: HostPath; dest: HostPath; label: string }
export interface TimesItem { dest: HostPath; atimeNs: bigint; mtimeNs: bigint; label: string }
export interface XattrItem { dest: HostPath; name: string; value: Buffer }

/** The work left for the end of the copy, in the order `cp-finish.ts` applies it. */
export interface Deferred {
  specials: SpecialNode[];
  /** Later names of special files, linked once the first name exists. */
  specialLinks: PendingLink[];
  xattrs: XattrItem[];
  dirs: DirFinish[];
  times: TimesItem[];
}

/** The first copy of an inode that has more names: later names become hard links to it. */
interface LinkSlot { done: Promise<HostPath | undefined>; special: boolean }

const POOL_SIZE = 32;

export class TreeCopier {
  readonly deferred: Deferred = { specials: [], specialLinks: [], xattrs: [], dirs: [], times: [] };
  private readonly pool = new TaskPool(POOL_SIZE);
  private readonly links = new Map<string, LinkSlot>();
  private readonly root: boolean;

  constructor(private readonly flags: CopyFlags, private readonly report: Reporter, private readonly umask: number) {
    this.root = process.getuid?.() === 0;
  }

  private label(job: CopyJob): string { return `${job.image}:${shown(job.src)}`; }

  /** Reports a failure against the image path, or the host path when the host refused. */
  private fail(job: CopyJob, e: unknown): void {
    const hostPath = (e as { path?: unknown }).path;
    const where = isFsError(e) ? this.label(job) : typeof hostPath === 'string' ? hostPath : shown(job.dest);
    this.report.error(where, e);
  }

  /** Copies one operand whose (l)stat the caller already made, then waits for everything it started. */
  async copyTop(job: CopyJob, st: BigIntStats): Promise<void> {
    this.pool.add(() => this.copyKnown(job, st));
    await this.pool.drain();
  }

  private async copyKnown(job: CopyJob, st: BigIntStats): Promise<void> {
    try {
      switch (Number(st.mode) & S_IFMT) {
        case S_IFDIR: return await this.copyDir(job, st);
        case S_IFREG: return await this.copyRegular(job, true);
        case S_IFLNK: return await this.copySymlink(job, st);
        default: return await this.copySpecial(job, st);
      }
    } catch (e) {
      this.fail(job, e);
    }
  }

  /** An entry found by readdir: its type comes from the directory, so files skip the stat. */
  private async copyEntry(job: CopyJob, isFile: boolean): Promise<void> {
    if (isFile) {
      try {
        await this.copyRegular(job, true);
      } catch (e) {
        this.fail(job, e);
      }
      return;
    }
    let st: BigIntStats;
    try {
      st = await job.vol.promises.lstat(job.src, { bigint: true });
    } catch (e) {
      this.fail(job, e);
      return;
    }
    await this.copyKnown(job, st);
  }

  private async copyDir(job: CopyJob, st: BigIntStats): Promise<void> {
    const mode = Number(st.mode);
    const { archive } = this.flags;
    // Created owner-writable so the contents can go in; the real mode is set at the end.
    let created = true;
    try {
      mkdirSync(job.dest, archive ? 0o700 : (mode & 0o1777) | 0o700);
    } catch (e) {
      if ((e as { code?: string }).code !== 'EEXIST') throw e;
      if (lstatSync(job.dest, { throwIfNoEntry: false })?.isDirectory() !== true) {
        this.report.fail(shown(job.dest), 'cannot overwrite non-directory with directory', 'ENOTDIR');
        return;
      }
      created = false;
    }
    if (archive) {
      if (this.root) chownSync(job.dest, Number(st.uid), Number(st.gid));
      await this.collectXattrs(job);
      this.deferred.dirs.push({
        dest: job.dest, depth: job.depth, mode: mode & 0o7777, atimeNs: st.atimeNs, mtimeNs: st.mtimeNs, label: this.label(job),
      });
    } else if (created && (mode & 0o700) !== 0o700) {
      // GNU cp -r: a new directory ends with the source's bits minus the umask (sticky kept).
      this.deferred.dirs.push({ dest: job.dest, depth: job.depth, mode: mode & 0o1777 & ~this.umask, label: this.label(job) });
    }
    // Names as bytes: one that is not valid UTF-8 is carried as a Buffer path
    // on both sides, so it is copied exactly rather than through a lossy string.
    const entries = await job.vol.promises.readdir(job.src, { withFileTypes: true, encoding: 'buffer' });
    for (const d of entries) {
      const child: CopyJob = {
        vol: job.vol, image: job.image, src: childPath(job.src, d.name), dest: childPath(job.dest, d.name), depth: job.depth + 1,
      };
      const isFile = d.isFile();
      this.pool.add(() => this.copyEntry(child, isFile));
    }
  }

  /**
   * With -a, the first name of a multiply-linked inode is copied and later
   * names wait for it and link to it. Returns the slot to settle when this
   * is the first name, `'linked'` when it was a later name and is done.
   */
  private async claimLink(job: CopyJob, st: BigIntStats, special: boolean): Promise<((dest: HostPath | undefined) => void) | 'linked' | undefined> {
    if (!this.flags.archive || st.nlink < 2n) return undefined;
    const key = `${job.image}\0${st.dev}\0${st.ino}`;
    const slot = this.links.get(key);
    if (slot === undefined) {
      let settle!: (dest: HostPath | undefined) => void;
      const done = new Promise<HostPath | undefined>((resolve) => { settle = resolve; });
      this.links.set(key, { done, special });
      return settle;
    }
    const first = await slot.done;
    if (first === undefined) return undefined; // the first name failed (and was reported): copy this one on its own
    if (slot.special) {
      this.deferred.specialLinks.push({ target: first, dest: job.dest, label: this.label(job) });
    } else {
      replaceWithLink(first, job.dest);
    }
    return 'linked';
  }

  private async copyRegular(job: CopyJob, mayLink: boolean): Promise<void> {
    const fh = await job.vol.promises.open(job.src, 'r');
    let settle: ((dest: HostPath | undefined) => void) | undefined;
    try {
      const st = await fh.stat({ bigint: true });
      if (mayLink) {
        const claim = await this.claimLink(job, st, false);
        if (claim === 'linked') return;
        settle = claim;
      }
      const mode = Number(st.mode);
      const { fd, created } = createDest(job.dest, mode & 0o777);
      try {
        await copyData(fh, Number(st.size), st.blocks, fd);
        if (this.flags.archive) {
          if (this.root) fchownSync(fd, Number(st.uid), Number(st.gid));
          // chown clears set-user/group-ID, so the exact mode goes on after it; a new file
          // created with all its bits (no special bits, nothing masked) needs no chmod.
          const perm = mode & 0o7777;
          if (!created || (perm & 0o7000) !== 0 || (perm & this.umask) !== 0) fchmodSync(fd, perm);
        }
      } finally {
        closeSync(fd);
      }
      if (this.flags.archive) {
        await this.collectXattrs(job);
        this.deferred.times.push({ dest: job.dest, atimeNs: st.atimeNs, mtimeNs: st.mtimeNs, label: this.label(job) });
      }
      settle?.(job.dest);
      settle = undefined;
    } finally {
      settle?.(undefined);
      await fh.close();
    }
  }

  private async copySymlink(job: CopyJob, st: BigIntStats): Promise<void> {
    const settle = await this.claimLink(job, st, false);
    if (settle === 'linked') return;
    try {
      // As bytes: a target need not be valid UTF-8 either.
      const target = await job.vol.promises.readlink(job.src, 'buffer');
      replaceWith(job.dest, () => symlinkSync(target, job.dest));
      if (this.flags.archive) {
        if (this.root) lchownSync(job.dest, Number(st.uid), Number(st.gid));
        await this.collectXattrs(job);
        this.deferred.times.push({ dest: job.dest, atimeNs: st.atimeNs, mtimeNs: st.mtimeNs, label: this.label(job) });
      }
      settle?.(job.dest);
    } finally {
      settle?.(undefined);
    }
  }

  /** Fifos, devices and sockets are made in one batch at the end (Node cannot mknod). */
  private async copySpecial(job: CopyJob, st: BigIntStats): Promise<void> {
    const settle = await this.claimLink(job, st, true);
    if (settle === 'linked') return;
    const mode = Number(st.mode);
    const perm = this.flags.archive ? mode & 0o7777 : mode & 0o777 & ~this.umask;
    this.deferred.specials.push({
      dest: job.dest, mode: (mode & S_IFMT) | perm, rdev: Number(st.rdev),
      uid: Number(st.uid), gid: Number(st.gid), label: this.label(job),
    });
    if (this.flags.archive) {
      await this.collectXattrs(job);
      this.deferred.times.push({ dest: job.dest, atimeNs: st.atimeNs, mtimeNs: st.mtimeNs, label: this.label(job) });
    }
    settle?.(job.dest);
  }

  private async collectXattrs(job: CopyJob): Promise<void> {
    const names = await job.vol.promises.listxattr(job.src, { noFollow: true });
    for (const name of names) {
      const value = await job.vol.promises.getxattr(job.src, name, { noFollow: true });
      this.deferred.xattrs.push({ dest: job.dest, name, value });
    }
  }
}

/** Makes a new name with `make`; an existing non-directory in the way is replaced, as `cp -f` would. */
function replaceWith(dest: HostPath, make: () => void): void {
  try {
    make();
  } catch (e) {
    if ((e as { code?: string }).code !== 'EEXIST') throw e;
    if (lstatSync(dest).isDirectory()) throw e;
    unlinkSync(dest);
    make();
  }
}

export function replaceWithLink(target: HostPath, dest: HostPath): void {
  replaceWith(dest, () => linkSync(target, dest));
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** `parent/name`, as a string when both are text, else as bytes. */
export function childPath(parent: HostPath, name: Buffer): HostPath {
  let text: string | undefined;
  let ascii = true;
  for (let i = 0; i < name.length; i++) {
    if (name[i] >= 0x80) {
      ascii = false;
      break;
    }
  }
  if (ascii) {
    text = name.toString('latin1');
  } else {
    try {
      text = utf8.decode(name);
    } catch {
      text = undefined;
    }
  }
  if (typeof parent === 'string' && text !== undefined) return parent.endsWith('/') ? parent + text : `${parent}/${text}`;
  const p = typeof parent === 'string' ? Buffer.from(parent) : parent;
  return Buffer.concat([p, p[p.length - 1] === 0x2f ? Buffer.alloc(0) : Buffer.from('/'), name]);
}

/** A path for messages (bytes that are not UTF-8 show as U+FFFD, as in ls -N). */
export function shown(p: HostPath): string {
  return typeof p === 'string' ? p : p.toString('utf8');
}

/** A key that tells paths apart whether they are strings or bytes. */
export function pathKey(p: HostPath): string {
  return typeof p === 'string' ? p : `\0${p.toString('latin1')}`;
}
