/**
 * Applies batches of file records (cp-ops.ts) to the host with synchronous
 * system calls, on whichever thread has the batch (cp-writer.ts).
 *
 * Synchronous calls because each is short (1-3 us from a warm cache) and
 * the libuv thread pool round trip of an asynchronous one costs 15-30 us;
 * a tree of 9,000 files makes about 40,000 of them.
 *
 * The rules are GNU cp's: a new file gets the source's permission bits
 * (minus the umask without -a); an existing file is truncated and
 * overwritten in place; a symlink replaces a non-directory in its way. With
 * -a owners are set (as root, and only where they differ: cp-dirs.ts), then
 * the exact mode (chown clears set-ID bits), and whole-second times on the
 * open file. What needs the whole tree in place first (directory modes and
 * times, hard links, xattrs, special files, nanosecond times) is left to
 * the end of the copy.
 *
 * A failure is reported against the host path and the record's id; the
 * rest of a file that failed is skipped.
 */
import {
  closeSync, fchmodSync, fchownSync, fstatSync, ftruncateSync, futimesSync, lchownSync, linkSync, lstatSync, openSync, readSync, symlinkSync,
  unlinkSync, writeSync,
} from 'node:fs';
import { assert, AssertionError } from '../base/assert.js';
import { FsError } from '../base/errors.js';
import { ReadAheadWindow } from '../device/read-ahead.js';
import { ownedAlready } from './cp-dirs.js';
import { F, FL_ABORT, FL_FIRST, FL_HOST, FL_LAST, FL_TIMES, OP_STRIDE, OpKind } from './cp-ops.js';
import type { ApplyOptions, BatchMessage, HostFailure } from './cp-ops.js';
import { shown } from './cp-paths.js';
import type { HostPath } from '../host/host-ops.js';
import { describeError } from './report.js';

/** A file being written across records. */
interface OpenFile { id: number; fd: number; path: HostPath; created: boolean; end: number }

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

/**
 * Reads from a host file that holds file contents (the image: FL_HOST
 * records), with a read-ahead window: the files of a tree lie mostly one
 * after another in the image, so one read serves dozens of small ones.
 */
class HostSource {
  private readonly window: ReadAheadWindow;
  /** For pieces too long for the window. */
  private scratch: Uint8Array | undefined;

  constructor(private readonly fd: number) {
    const size = fstatSync(fd).size;
    this.window = new ReadAheadWindow({ size, readIntoSync: (offset, into) => readFull(fd, into, offset) });
  }

  /** Copies `length` bytes at `position` of the host file to `out` at `pos`. */
  copy(out: number, position: number, length: number, pos: number): void {
    const v = this.window.view(position, length);
    if (v !== undefined) return writeAll(out, v, 0, length, pos);
    const scratch = (this.scratch ??= new Uint8Array(SCRATCH));
    for (let done = 0; done < length;) {
      const n = Math.min(SCRATCH, length - done);
      const into = scratch.subarray(0, n);
      readFull(this.fd, into, position + done);
      writeAll(out, into, 0, n, pos + done);
      done += n;
    }
  }
}

/** Chunk of a long piece read from a host file. */
const SCRATCH = 1 << 20;

function readFull(fd: number, into: Uint8Array, position: number): void {
  for (let done = 0; done < into.length;) {
    const n = readSync(fd, into, done, into.length - done, position + done);
    // The walk checked the range against the device, so a short image file changed under us.
    if (n === 0) throw new FsError('EIO', `the image file ends before byte ${position + into.length}`, 'read');
    done += n;
  }
}

/** A path that came through structured clone arrives as a plain Uint8Array: Node's fs wants a Buffer. */
function asHostPath(p: HostPath | Uint8Array): HostPath {
  return typeof p === 'string' || Buffer.isBuffer(p) ? p : Buffer.from(p.buffer, p.byteOffset, p.length);
}

export class HostApplier {
  private file: OpenFile | undefined;
  /** A file whose first piece failed: its other pieces are skipped. */
  private skipping = -1;
  /** Host files FL_HOST records read from, by fd. */
  private readonly sources = new Map<number, HostSource>();

  constructor(private readonly opts: ApplyOptions) {}

  /** Nothing is half done: no file is open between records. */
  get idle(): boolean {
    return this.file === undefined;
  }

  apply(batch: BatchMessage): HostFailure[] {
    const ops = new Float64Array(batch.ops, 0, batch.count * OP_STRIDE);
    const data = new Uint8Array(batch.data);
    const failures: HostFailure[] = [];
    for (let i = 0; i < batch.count; i++) {
      const r = i * OP_STRIDE;
      const id = ops[r + F.ID];
      if (id === this.skipping) continue;
      let path: HostPath | undefined;
      try {
        if ((ops[r + F.KIND] as OpKind) === OpKind.SYMLINK) {
          path = asHostPath(batch.names[i]);
          this.symlink(ops, r, path, asHostPath(batch.targets[ops[r + F.REF]]));
        } else {
          if ((ops[r + F.FLAGS] & FL_FIRST) !== 0) {
            assert(this.file === undefined, 'a file starts while another is open');
            path = asHostPath(batch.names[i]);
            const { fd, created } = createDest(path, ops[r + F.MODE] & 0o777);
            this.file = { id, fd, path, created, end: 0 };
          }
          this.filePiece(ops, r, data);
        }
      } catch (e) {
        // A bug is not a failed file: let it stop the copy.
        if (e instanceof AssertionError) throw e;
        this.skipping = id;
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
        const hostPath = (e as { path?: unknown }).path;
        const { message, code } = describeError(e);
        failures.push({ id, where: typeof hostPath === 'string' ? hostPath : path === undefined ? undefined : shown(path), message, code });
      }
    }
    return failures;
  }

  private hostSource(fd: number): HostSource {
    let s = this.sources.get(fd);
    if (s === undefined) {
      s = new HostSource(fd);
      this.sources.set(fd, s);
    }
    return s;
  }

  private symlink(ops: Float64Array, r: number, path: HostPath, target: HostPath): void {
    replaceWith(path, () => symlinkSync(target, path));
    if (this.opts.archive && this.opts.root) lchownSync(path, ops[r + F.UID], ops[r + F.GID]);
  }

  /** A piece of the open file: its bytes, and on the last piece its length and attributes. */
  private filePiece(ops: Float64Array, r: number, data: Uint8Array): void {
    const f = this.file;
    assert(f !== undefined && f.id === ops[r + F.ID], 'file piece without its file');
    const flags = ops[r + F.FLAGS];
    if ((flags & FL_ABORT) !== 0) {
      // The source could not be read (already reported): keep what was written, set nothing.
      this.file = undefined;
      closeSync(f.fd);
      return;
    }
    const len = ops[r + F.LEN];
    const pos = ops[r + F.POS];
    if (len > 0) {
      if ((flags & FL_HOST) !== 0) this.hostSource(ops[r + F.REF]).copy(f.fd, ops[r + F.DATA], len, pos);
      else writeAll(f.fd, data, ops[r + F.DATA], len, pos);
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
      if (root && !(f.created && ownedAlready(ops[r + F.NEW_GID], uid, gid))) fchownSync(f.fd, uid, gid);
      // chown clears set-user/group-ID, so the exact mode goes on after it; a new file
      // created with all its bits (no special bits, nothing masked) needs no chmod.
      const perm = ops[r + F.MODE] & 0o7777;
      if (!f.created || (perm & 0o7000) !== 0 || (perm & umask) !== 0) fchmodSync(f.fd, perm);
      if ((flags & FL_TIMES) !== 0) futimesSync(f.fd, ops[r + F.ATIME], ops[r + F.MTIME]);
    }
    this.file = undefined;
    closeSync(f.fd);
  }
}
