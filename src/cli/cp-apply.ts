/**
 * Applies batches of copy operations (cp-ops.ts) to the host with
 * synchronous system calls, on whichever thread runs it: the main thread
 * for small copies, a worker for trees (cp-worker.ts).
 *
 * Synchronous calls because each is short (1-3 us from a warm cache) and
 * the libuv thread pool round trip of an asynchronous one costs 15-30 us;
 * a tree of 9,000 files makes about 40,000 of them.
 *
 * The rules are GNU cp's: a new file gets the source's permission bits
 * (minus the umask without -a); an existing file is truncated and
 * overwritten in place; an existing directory is merged into; a symlink or
 * hard link replaces a non-directory in its way. With -a owners are set
 * (as root), then the exact mode (chown clears set-ID bits), and whole-second
 * times on the open file. What needs the whole tree in place first —
 * directory modes and times, xattrs, special files, nanosecond times — is
 * left to cp-finish.ts.
 *
 * chown is left out where it would change nothing: for an entry this copy
 * created, owned by us, in a directory whose group new entries certainly
 * get (see `DirState`). That is most of a tree copied by root from an image
 * of root's files.
 *
 * A failure is reported against the host path and the record's id; what
 * depends on it (entries of a directory that could not be made, the rest of
 * a file) is skipped without another message.
 */
import {
  chownSync, closeSync, fchmodSync, fchownSync, ftruncateSync, futimesSync, lchownSync, linkSync, lstatSync, mkdirSync,
  openSync, symlinkSync, unlinkSync, writeSync,
} from 'node:fs';
import { assert, AssertionError } from '../base/assert.js';
import { F, FL_ABORT, FL_FIRST, FL_KEEP, FL_LAST, FL_TIMES, OP_STRIDE, OpKind } from './cp-ops.js';
import type { ApplyOptions, BatchMessage, BatchResult, HostFailure } from './cp-ops.js';
import { joinHost, shown } from './cp-paths.js';
import type { HostPath } from './host-ops.js';
import { describeError } from './report.js';

/** A file being written across records. */
interface OpenFile { id: number; fd: number; path: HostPath; created: boolean; end: number; dir: DirState | undefined }

const S_ISGID = 0o2000;

/**
 * A directory made (or merged into) by the copy. `newGid` is the group a new
 * entry in it certainly gets, learnt from the directory itself after it was
 * made and chowned: set only when the directory is ours (so the file system
 * gives new entries our uid) and both rules Linux file systems use agree —
 * the System V rule (the directory's group if it is set-group-ID, else our
 * egid) and the BSD rule of `grpid` mounts (always the directory's group).
 */
interface DirState { path: HostPath; newGid: number | undefined }

/** What an applier knows that later records depend on; handed to a worker that takes over. */
export interface ApplierState {
  dirs: Array<[number, DirState]>;
  failed: number[];
  kept: Array<[number, HostPath]>;
}

function writeAll(fd: number, data: Uint8Array, offset: number, length: number, position: number): void {
  let done = 0;
  while (done < length) {
    const n = writeSync(fd, data, offset + done, length - done, position + done);
    assert(n > 0, 'write made no progress');
    done += n;
  }
}

/**
 * Opens the destination for writing with `mode` for a new file. An existing
 * file is truncated and keeps its mode, as cp does; O_EXCL first tells the
 * caller which case it was, so a fresh file needs no chmod.
 */
function createDest(dest: HostPath, mode: number): { fd: number; created: boolean } {
  try {
    return { fd: openSync(dest, 'wx', mode), created: true };
  } catch (e) {
    if ((e as { code?: string }).code !== 'EEXIST') throw e;
    return { fd: openSync(dest, 'w', mode), created: false };
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

/** A path that came through structured clone arrives as a plain Uint8Array: Node's fs wants a Buffer. */
function asHostPath(p: HostPath | Uint8Array): HostPath {
  return typeof p === 'string' || Buffer.isBuffer(p) ? p : Buffer.from(p.buffer, p.byteOffset, p.length);
}

export class HostApplier {
  /** MKDIR id -> the directory. */
  private readonly dirs: Map<number, DirState>;
  /** Ids of records that failed: their dependants are skipped. */
  private readonly failed: Set<number>;
  /** First names of multiply-linked files, for the LINK records of later names. */
  private readonly kept: Map<number, HostPath>;
  private file: OpenFile | undefined;
  private readonly euid = process.geteuid?.() ?? -1;
  private readonly egid = process.getegid?.() ?? -1;

  constructor(private readonly opts: ApplyOptions, state?: ApplierState) {
    this.dirs = new Map(state?.dirs);
    this.failed = new Set(state?.failed);
    this.kept = new Map(state?.kept);
  }

  /** Nothing is half done: no file is open between records. */
  get idle(): boolean {
    return this.file === undefined;
  }

  state(): ApplierState {
    assert(this.idle, 'applier state taken with a file open');
    return { dirs: [...this.dirs], failed: [...this.failed], kept: [...this.kept] };
  }

  apply(batch: BatchMessage): BatchResult {
    const ops = new Float64Array(batch.ops, 0, batch.count * OP_STRIDE);
    const data = new Uint8Array(batch.data);
    const result: BatchResult = { failures: [], existed: [] };
    for (let i = 0; i < batch.count; i++) {
      const r = i * OP_STRIDE;
      const id = ops[r + F.ID];
      // A later piece of a file that already failed.
      if (this.failed.has(id)) continue;
      const dir = ops[r + F.DIR];
      if (dir >= 0 && this.failed.has(dir)) {
        this.failed.add(id);
        result.failures.push({ id, silent: true });
        continue;
      }
      let path: HostPath | undefined;
      try {
        if ((ops[r + F.KIND] as OpKind) === OpKind.FILE && (ops[r + F.FLAGS] & FL_FIRST) === 0) {
          this.filePiece(ops, r, data);
          continue;
        }
        path = this.pathOf(dir, batch.names[i]);
        const failure = this.applyOne(ops, r, path, data, batch.targets, result);
        if (failure !== undefined) {
          this.failed.add(id);
          result.failures.push(failure);
        }
      } catch (e) {
        // A bug is not a failed file: let it stop the copy.
        if (e instanceof AssertionError) throw e;
        this.failed.add(id);
        const open = this.file;
        if (open !== undefined && open.id === id) {
          this.file = undefined;
          path ??= open.path;
          try {
            closeSync(open.fd);
          } catch {
            // The error that got us here is the one to report.
          }
        }
        result.failures.push(this.failure(id, e, path));
      }
    }
    return result;
  }

  private failure(id: number, e: unknown, path: HostPath | undefined): HostFailure {
    const hostPath = (e as { path?: unknown }).path;
    const where = typeof hostPath === 'string' ? hostPath : path === undefined ? undefined : shown(path);
    const { message, code } = describeError(e);
    return { id, silent: false, where, message, code };
  }

  private pathOf(dir: number, name: HostPath | Uint8Array): HostPath {
    if (dir < 0) return asHostPath(name);
    const parent = this.dirs.get(dir);
    assert(parent !== undefined, () => `directory record ${dir} comes before its entries`);
    return joinHost(parent.path, name);
  }

  /** Whether a new entry of `dir` already has the owner `uid`:`gid` (see DirState). */
  private ownedAlready(dir: DirState | undefined, uid: number, gid: number): boolean {
    return dir?.newGid !== undefined && uid === this.euid && gid === dir.newGid;
  }

  /** The directory at `path` as it is now: its owner, and what it gives new entries. */
  private inspect(path: HostPath): { uid: number; gid: number; state: DirState } {
    const st = lstatSync(path);
    let newGid: number | undefined;
    if (st.uid === this.euid) {
      if ((st.mode & S_ISGID) !== 0) newGid = st.gid;
      else if (st.gid === this.egid) newGid = this.egid;
    }
    return { uid: st.uid, gid: st.gid, state: { path, newGid } };
  }

  /** The first record of a subject; returns a failure that is not an exception. */
  private applyOne(ops: Float64Array, r: number, path: HostPath, data: Uint8Array, targets: Uint8Array[], result: BatchResult): HostFailure | undefined {
    const { archive, root } = this.opts;
    const id = ops[r + F.ID];
    const dir = ops[r + F.DIR];
    const mode = ops[r + F.MODE];
    const flags = ops[r + F.FLAGS];
    switch (ops[r + F.KIND] as OpKind) {
      case OpKind.MKDIR: {
        let created = true;
        try {
          // Owner-writable so the contents can go in; the real mode is set at the end.
          mkdirSync(path, archive ? 0o700 : (mode & 0o1777) | 0o700);
        } catch (e) {
          if ((e as { code?: string }).code !== 'EEXIST') throw e;
          if (lstatSync(path, { throwIfNoEntry: false })?.isDirectory() !== true) {
            return { id, silent: false, where: shown(path), message: 'cannot overwrite non-directory with directory', code: 'ENOTDIR' };
          }
          result.existed.push(id);
          created = false;
        }
        if (!(archive && root)) {
          this.dirs.set(id, { path, newGid: undefined });
          return undefined;
        }
        const uid = ops[r + F.UID];
        const gid = ops[r + F.GID];
        const parent = dir >= 0 ? this.dirs.get(dir) : undefined;
        const skipped = created && this.ownedAlready(parent, uid, gid);
        if (!skipped) chownSync(path, uid, gid);
        let now = this.inspect(path);
        if (skipped && (now.uid !== uid || now.gid !== gid)) {
          // The file system did not follow the rules after all: chown all that is made there from now on.
          parent!.newGid = undefined;
          chownSync(path, uid, gid);
          now = this.inspect(path);
        }
        this.dirs.set(id, now.state);
        return undefined;
      }
      case OpKind.FILE: {
        assert(this.file === undefined, 'a file starts while another is open');
        const { fd, created } = createDest(path, mode & 0o777);
        this.file = { id, fd, path, created, end: 0, dir: dir >= 0 ? this.dirs.get(dir) : undefined };
        this.filePiece(ops, r, data);
        return undefined;
      }
      case OpKind.SYMLINK: {
        const target = asHostPath(targets[ops[r + F.REF]]);
        replaceWith(path, () => symlinkSync(target, path));
        if (archive && root) lchownSync(path, ops[r + F.UID], ops[r + F.GID]);
        if ((flags & FL_KEEP) !== 0) this.kept.set(id, path);
        return undefined;
      }
      case OpKind.LINK: {
        const first = this.kept.get(ops[r + F.REF]);
        if (first === undefined) return { id, silent: true, linkTargetMissing: true };
        replaceWithLink(first, path);
        return undefined;
      }
      default:
        throw new AssertionError(`unknown copy record kind ${ops[r + F.KIND]}`);
    }
  }

  /** A piece of the open file: its bytes, and on the last piece its length and attributes. */
  private filePiece(ops: Float64Array, r: number, data: Uint8Array): void {
    const f = this.file;
    assert(f !== undefined && f.id === ops[r + F.ID], 'file piece without its file');
    const flags = ops[r + F.FLAGS];
    if ((flags & FL_ABORT) !== 0) {
      // The source could not be read (already reported): keep what was written, set nothing.
      this.file = undefined;
      this.failed.add(f.id);
      closeSync(f.fd);
      return;
    }
    const len = ops[r + F.LEN];
    const pos = ops[r + F.POS];
    if (len > 0) {
      writeAll(f.fd, data, ops[r + F.DATA], len, pos);
      f.end = Math.max(f.end, pos + len);
    }
    if ((flags & FL_LAST) === 0) return;
    // The tail hole (or a file that is all hole) gets its length without writing zeros.
    const size = ops[r + F.SIZE];
    if (f.end < size) ftruncateSync(f.fd, size);
    const { archive, root, umask } = this.opts;
    if (archive) {
      const uid = ops[r + F.UID];
      const gid = ops[r + F.GID];
      if (root && !(f.created && this.ownedAlready(f.dir, uid, gid))) fchownSync(f.fd, uid, gid);
      // chown clears set-user/group-ID, so the exact mode goes on after it; a new file
      // created with all its bits (no special bits, nothing masked) needs no chmod.
      const perm = ops[r + F.MODE] & 0o7777;
      if (!f.created || (perm & 0o7000) !== 0 || (perm & umask) !== 0) fchmodSync(f.fd, perm);
      if ((flags & FL_TIMES) !== 0) futimesSync(f.fd, ops[r + F.ATIME], ops[r + F.MTIME]);
    }
    this.file = undefined;
    closeSync(f.fd);
    if ((flags & FL_KEEP) !== 0) this.kept.set(f.id, f.path);
  }
}
