/**
 * The copy of files and trees out of an image onto the host, for `cp`.
 *
 * This side reads: it walks the source depth first, one entry at a time.
 * It makes each directory on the host itself (cp-dirs.ts) before reading
 * what is in it, and turns each file and symlink into records for the host
 * writer (cp-writer.ts), with file contents read straight into the
 * writer's batch; the writer has them created on whichever thread is free
 * (cp-apply.ts), so reading the image and creating the files overlap. What
 * must wait until all contents are in place — hard links, special files,
 * xattrs, nanosecond times, directory modes and times — is collected here
 * and applied at the end (`finish`, then cp-finish.ts).
 *
 * Without -a this follows GNU `cp -r`: new files get the source's
 * permission bits minus the umask and minus set-user/group-ID, new
 * directories keep their sticky bit, symlinks are copied as symlinks and
 * special files recreated; owners, times, links and xattrs are not kept.
 * With -a every attribute is kept (owners only for root, as chown needs it).
 */
import { AssertionError } from '../base/assert.js';
import { corrupted, isFsError } from '../base/errors.js';
import type { Volume } from '../vfs/types.js';
import { replaceWithLink } from './cp-apply.js';
import { makeDir, type DirState } from './cp-dirs.js';
import { BATCH_BYTES, FL_ABORT, FL_FIRST, FL_LAST, FL_TIMES, OpKind, type HostFailure } from './cp-ops.js';
import { hostName, joinHost, shown } from './cp-paths.js';
import { Ext4Source, PublicSource, type CopySource, type SourceEntry, type SourceNode, type XattrPair } from './cp-source.js';
import { HostWriter } from './cp-writer.js';
import { S_IFMT, S_IFREG, S_IFDIR, S_IFLNK } from './format.js';
import type { HostPath } from '../host/host-ops.js';
import type { Reporter } from './report.js';

export interface CopyFlags { recursive: boolean; archive: boolean }

/** One operand to copy: where it is in which image, and where it goes. */
export interface CopyJob {
  vol: Volume;
  image: string;
  /** Path in the image. */
  src: string;
  /** Host path. */
  dest: HostPath;
}

/** The file or symlink record deferred work belongs to (dropped when it failed), or -1. */
interface Owner { id: number }

export interface DirFinish extends Owner { dest: HostPath; depth: number; mode: number | undefined; atimeNs?: bigint; mtimeNs?: bigint; label: string }
export interface SpecialNode extends Owner { dest: HostPath; mode: number; rdev: number; uid: number; gid: number; label: string }
export interface PendingLink extends Owner { target: HostPath; dest: HostPath; label: string }
export interface TimesItem extends Owner { dest: HostPath; atimeNs: bigint; mtimeNs: bigint; label: string }
export interface XattrItem extends Owner { dest: HostPath; name: string; value: Buffer }

/** The work left for the end of the copy, in the order `cp-finish.ts` applies it. */
export interface Deferred {
  specials: SpecialNode[];
  /** Later names of special files, linked once the first name exists. */
  specialLinks: PendingLink[];
  xattrs: XattrItem[];
  dirs: DirFinish[];
  times: TimesItem[];
}

/** A directory being copied. */
interface Frame<N> { node: N; dir: DirState; src: HostPath; depth: number }

/** Where one node goes: an entry of a directory being copied, or the top of a copy. */
interface Place<N> { parent: Frame<N> | undefined; name: HostPath; top?: { src: HostPath; dest: HostPath } }

/** The first name of an inode that has more. */
interface LinkSlot { id: number; special: boolean; dest: HostPath }

/** A later name of a file or symlink, linked at the end; copied on its own if its first name failed. */
interface LaterName { first: LinkSlot; dest: HostPath; label: string; copyAlone: () => Promise<void> }

interface Run<E extends SourceEntry, N extends SourceNode> { source: CopySource<E, N>; image: string }

const NS = 1_000_000_000n;
/** Below this much room left in a batch, a large file's next piece starts a new batch. */
const MIN_PIECE = 64 * 1024;

function nsOf(sec: number, nsec: number): bigint {
  return BigInt(sec) * NS + BigInt(nsec);
}

/** Whole seconds at or after 1970: exact through Node's futimes/utimes, which take a double and refuse nothing negative. */
function wholeSeconds(n: SourceNode): boolean {
  return n.atimeNsec === 0 && n.mtimeNsec === 0 && n.atimeSec >= 0 && n.mtimeSec >= 0;
}

export class TreeCopier {
  readonly deferred: Deferred = { specials: [], specialLinks: [], xattrs: [], dirs: [], times: [] };
  private readonly writer: HostWriter;
  private readonly links = new Map<string, LinkSlot>();
  private readonly laterNames: LaterName[] = [];
  /** Records whose source could not be read: like host failures, their later names are copied alone. */
  private readonly unread = new Set<number>();
  private readonly root = process.getuid?.() === 0;
  /** The data runs of the file being queued, as (file position, host position, length) triples. */
  private readonly runs: number[] = [];
  private readonly collectRun = (filePos: number, hostPosition: number, len: number): void => {
    // A run that reads as zeros is left a hole on the host: the file's size comes from the last record.
    if (hostPosition >= 0) this.runs.push(filePos, hostPosition, len);
  };

  constructor(private readonly flags: CopyFlags, private readonly report: Reporter, private readonly umask: number, threads = true) {
    this.writer = new HostWriter({ archive: flags.archive, root: this.root, umask }, (f) => this.hostFailed(f), threads);
  }

  private hostFailed(f: HostFailure): void {
    this.report.fail(f.where, f.message, f.code);
  }

  /** A tree copy is coming: have the writer's thread start now (see HostWriter.expectTree). */
  expectTree(): void {
    this.writer.expectTree();
  }

  /** Copies one operand: `follow` copies what a final symlink points to. */
  async copyTop(job: CopyJob, follow: boolean): Promise<void> {
    const ext4 = Ext4Source.of(job.vol);
    if (ext4 !== undefined) await this.copyFrom({ source: ext4, image: job.image }, job, follow);
    else await this.copyFrom({ source: new PublicSource(job.vol), image: job.image }, job, follow);
  }

  /**
   * Has everything created, then the later names of multiply-linked files
   * linked (or, where the first name failed, copied on their own), and leaves
   * in `deferred` only what still applies.
   */
  async finish(): Promise<void> {
    try {
      await this.writer.drain();
      const failed = (id: number): boolean => this.writer.failed.has(id) || this.unread.has(id);
      let alone = false;
      for (const later of this.laterNames) {
        if (failed(later.first.id)) {
          await later.copyAlone();
          alone = true;
          continue;
        }
        try {
          replaceWithLink(later.first.dest, later.dest);
        } catch (e) {
          this.report.error(shown(later.dest), e);
        }
      }
      if (alone) await this.writer.drain();
    } finally {
      await this.writer.close();
    }
    const live = (o: Owner): boolean => !this.writer.failed.has(o.id) && !this.unread.has(o.id);
    const d = this.deferred;
    d.xattrs = d.xattrs.filter(live);
    d.times = d.times.filter(live);
  }

  /** Stops the writer without applying what is still queued (the copy is failing anyway). */
  async abort(): Promise<void> {
    await this.writer.close();
  }

  private async copyFrom<E extends SourceEntry, N extends SourceNode>(run: Run<E, N>, job: CopyJob, follow: boolean): Promise<void> {
    const place: Place<N> = { parent: undefined, name: job.dest, top: { src: job.src, dest: job.dest } };
    let node: N;
    try {
      node = await run.source.top(job.src, follow);
    } catch (e) {
      this.fail(run, place, e);
      return;
    }
    if ((node.mode & S_IFMT) === S_IFDIR) {
      this.writer.expectTree();
      await this.copyTree(run, node, place);
    } else {
      await this.copyNode(run, node, place, true);
    }
  }

  private label(run: Run<SourceEntry, SourceNode>, place: Place<unknown>): string {
    return `${run.image}:${shown(srcOf(place))}`;
  }

  /** Reports a failure against the image path, or the host path when the host refused. */
  private fail(run: Run<SourceEntry, SourceNode>, place: Place<unknown>, e: unknown): void {
    if (e instanceof AssertionError) throw e;
    const hostPath = (e as { path?: unknown }).path;
    const where = isFsError(e) ? this.label(run, place) : typeof hostPath === 'string' ? hostPath : shown(destOf(place));
    this.report.error(where, e);
  }

  private async copyNode<E extends SourceEntry, N extends SourceNode>(run: Run<E, N>, node: N, place: Place<N>, mayLink: boolean): Promise<void> {
    try {
      switch (node.mode & S_IFMT) {
        case S_IFREG: return await this.copyFile(run, node, place, mayLink);
        case S_IFLNK: return await this.copySymlink(run, node, place, mayLink);
        default: return await this.copySpecial(run, node, place);
      }
    } catch (e) {
      this.fail(run, place, e);
    }
  }

  /**
   * A directory and everything below it, depth first with an explicit stack
   * (a deep tree must not exhaust the call stack). Each directory is made
   * before its entries are read; its mode and times are set at the end. A
   * directory that cannot be made is reported and its contents skipped.
   */
  private async copyTree<E extends SourceEntry, N extends SourceNode>(run: Run<E, N>, top: N, topPlace: Place<N>): Promise<void> {
    // ext4 directories have one parent: meeting one twice means a cycle on a corrupt image.
    const seen = new Set<string>();
    const stack: Array<{ node: N; place: Place<N> }> = [{ node: top, place: topPlace }];
    while (stack.length > 0) {
      const { node, place } = stack.pop()!;
      let frame: Frame<N>;
      let entries: E[];
      try {
        const key = `${node.dev}:${node.ino}`;
        if (seen.has(key)) throw corrupted('directory', node.ino, 'is reached a second time (directory cycle)');
        seen.add(key);
        frame = await this.openDir(run, node, place);
        entries = await run.source.entries(node);
      } catch (e) {
        this.fail(run, place, e);
        continue;
      }
      const subdirs: Array<{ node: N; place: Place<N> }> = [];
      for (const entry of entries) {
        const child: Place<N> = { parent: frame, name: hostName(entry.name, entry.text) };
        let n: N;
        try {
          n = run.source.nodeSync?.(entry) ?? (await run.source.node(entry));
        } catch (e) {
          this.fail(run, child, e);
          continue;
        }
        const type = n.mode & S_IFMT;
        if (type === S_IFDIR) subdirs.push({ node: n, place: child });
        else if (type !== S_IFREG || !this.copySmallFile(run, n, child)) await this.copyNode(run, n, child, true);
      }
      // Reversed, so they come off the stack in directory order.
      for (let i = subdirs.length - 1; i >= 0; i--) stack.push(subdirs[i]);
    }
  }

  private async room(): Promise<void> {
    if (!this.writer.hasRoom()) await this.writer.next();
  }

  /** `length` bytes of the writer's batch to read into (length <= BATCH_BYTES). */
  private async space(length: number): Promise<Uint8Array> {
    const s = this.writer.space(length);
    if (s !== undefined) return s;
    await this.writer.next();
    return this.writer.space(length)!;
  }

  private async xattrsOf<N extends SourceNode>(run: Run<SourceEntry, N>, node: N): Promise<XattrPair[]> {
    return run.source.mayHaveXattrs?.(node) === false ? [] : run.source.xattrs(node);
  }

  /** Makes the directory on the host and records what its end needs. */
  private async openDir<N extends SourceNode>(run: Run<SourceEntry, N>, node: N, place: Place<N>): Promise<Frame<N>> {
    const dest = destOf(place);
    const mode = node.mode;
    const label = this.label(run, place);
    const made = makeDir(dest, mode, node.uid, node.gid, place.parent?.dir, { archive: this.flags.archive, root: this.root, umask: this.umask });
    const frame: Frame<N> = { node, dir: made.dir, src: srcOf(place), depth: depthOf(place) };
    if (this.flags.archive) {
      this.deferXattrs(await this.xattrsOf(run, node), dest, -1);
      this.deferred.dirs.push({
        dest, depth: frame.depth, mode: mode & 0o7777, atimeNs: nsOf(node.atimeSec, node.atimeNsec),
        mtimeNs: nsOf(node.mtimeSec, node.mtimeNsec), label, id: -1,
      });
    } else if (!made.existed && (mode & 0o700) !== 0o700) {
      // GNU cp -r: a new directory ends with the source's bits minus the umask (sticky kept).
      this.deferred.dirs.push({ dest, depth: frame.depth, mode: mode & 0o1777 & ~this.umask, label, id: -1 });
    }
    return frame;
  }

  /**
   * With -a, the first name of a multiply-linked inode is copied and later
   * names become links to it at the end. Returns the record id for this name,
   * or undefined when it is a later name (and taken care of).
   */
  private claim<E extends SourceEntry, N extends SourceNode>(run: Run<E, N>, node: N, place: Place<N>, mayLink: boolean, special: boolean): number | undefined {
    const id = this.writer.newId();
    if (!mayLink || !this.flags.archive || node.nlink < 2) return id;
    const key = `${run.image}\0${node.dev}\0${node.ino}`;
    const first = this.links.get(key);
    if (first === undefined) {
      this.links.set(key, { id, special, dest: destOf(place) });
      return id;
    }
    if (first.special) {
      this.deferred.specialLinks.push({ target: first.dest, dest: destOf(place), label: this.label(run, place), id: -1 });
    } else {
      this.laterNames.push({ first, dest: destOf(place), label: this.label(run, place), copyAlone: () => this.copyNode(run, node, place, false) });
    }
    return undefined;
  }

  /**
   * The common case without waiting: a small dense file with one name and
   * no xattrs, read straight into the current batch. Returns false, having
   * done nothing, when the file is not such a case or something would have
   * to wait; `copyFile` then does it.
   */
  private copySmallFile<E extends SourceEntry, N extends SourceNode>(run: Run<E, N>, node: N, place: Place<N>): boolean {
    const { archive } = this.flags;
    const size = node.size;
    const source = run.source;
    if (archive && (node.nlink >= 2 || source.mayHaveXattrs?.(node) !== false)) return false;
    if (source.hostFd !== undefined) {
      const done = this.copyFromHost(run, node, place, source.hostFd);
      if (done !== undefined) return done;
    }
    if (size > BATCH_BYTES || node.blocks * 512 < size || source.readSync === undefined) return false;
    const w = this.writer;
    const into = w.space(size);
    if (into === undefined) return false;
    const id = w.newId();
    const dest = destOf(place);
    const newGid = place.parent?.dir.newGid ?? -1;
    let n: number | undefined;
    try {
      n = source.readSync(node, 0, into, size);
    } catch (e) {
      this.unreadable(run, node, place, id, e);
      return true;
    }
    if (n === undefined) return false;
    const times = archive && wholeSeconds(node);
    w.push(OpKind.FILE, id, newGid, dest, node, n, 0, size, FL_FIRST | FL_LAST | (times ? FL_TIMES : 0), 0);
    if (archive && !times) this.deferAttrs(run, node, place, [], id, true);
    return true;
  }

  /** The data runs of a file in the source's host file (a copy of them), or undefined when they cannot be mapped now. */
  private hostRuns<E extends SourceEntry, N extends SourceNode>(run: Run<E, N>, node: N): number[] | undefined {
    this.runs.length = 0;
    const mapped = run.source.hostRunsSync?.(node, 0, node.size, this.collectRun);
    return mapped === undefined ? undefined : this.runs.slice();
  }

  /** As cp does for a file it cannot read: it is made and left empty, with no attributes. */
  private unreadable(run: Run<SourceEntry, SourceNode>, node: SourceNode, place: Place<unknown>, id: number, e: unknown): void {
    this.writer.push(OpKind.FILE, id, place.parent?.dir.newGid ?? -1, destOf(place), node, 0, 0, 0, FL_FIRST | FL_ABORT, 0);
    this.unread.add(id);
    this.fail(run, place, e);
  }

  /**
   * `copySmallFile` for a source whose contents lie in a host file: the
   * file's data runs are mapped here and queued as FL_HOST records, which
   * the applier reads and writes itself, so this thread never touches the
   * contents and a file of any size or sparseness costs a record per run.
   * Undefined when the contents are not in the host file (inline data).
   */
  private copyFromHost<E extends SourceEntry, N extends SourceNode>(run: Run<E, N>, node: N, place: Place<N>, fd: number): boolean | undefined {
    const w = this.writer;
    const source = run.source;
    if (source.hostRunsSync === undefined || !w.hasRoom()) return false;
    const runs = this.runs;
    runs.length = 0;
    let mapped: number | undefined;
    try {
      mapped = source.hostRunsSync(node, 0, node.size, this.collectRun);
    } catch (e) {
      this.unreadable(run, node, place, w.newId(), e);
      return true;
    }
    if (mapped === undefined) return undefined;
    // More runs than the batch holds: copyFile waits where it must.
    if (!w.hasRoom(Math.max(1, runs.length / 3))) return false;
    const id = w.newId();
    const { archive } = this.flags;
    const dest = destOf(place);
    const newGid = place.parent?.dir.newGid ?? -1;
    const times = archive && wholeSeconds(node);
    const last = FL_LAST | (times ? FL_TIMES : 0);
    if (runs.length === 0) {
      w.push(OpKind.FILE, id, newGid, dest, node, 0, 0, node.size, FL_FIRST | last, 0);
    } else {
      for (let i = 0; i < runs.length; i += 3) {
        const flags = (i === 0 ? FL_FIRST : 0) | (i + 3 === runs.length ? last : 0);
        w.pushHost(id, newGid, dest, node, fd, runs[i + 1], runs[i + 2], runs[i], node.size, flags);
      }
    }
    if (archive && !times) this.deferAttrs(run, node, place, [], id, true);
    return true;
  }

  private async copyFile<E extends SourceEntry, N extends SourceNode>(run: Run<E, N>, node: N, place: Place<N>, mayLink: boolean): Promise<void> {
    const id = this.claim(run, node, place, mayLink, false);
    if (id === undefined) return;
    const w = this.writer;
    const { archive } = this.flags;
    const dest = destOf(place);
    const newGid = place.parent?.dir.newGid ?? -1;
    const size = node.size;
    const last = FL_LAST | (archive && wholeSeconds(node) ? FL_TIMES : 0);
    let started = false;
    let xattrs: XattrPair[] = [];
    try {
      const fd = run.source.hostFd;
      const runs = fd === undefined ? undefined : this.hostRuns(run, node);
      if (size > 0 && size <= BATCH_BYTES && node.blocks * 512 >= size && runs === undefined) {
        // Dense and small: one read straight into the batch, one record.
        const into = w.space(size) ?? (await this.space(size));
        const n = run.source.readSync?.(node, 0, into, size) ?? (await run.source.read(node, 0, into, size));
        if (archive) xattrs = await this.xattrsOf(run, node);
        w.push(OpKind.FILE, id, newGid, dest, node, n, 0, size, FL_FIRST | last, 0);
        started = true;
      } else {
        if (runs !== undefined) {
          // The contents stay in the image file: a record per run (see copyFromHost).
          for (let i = 0; i < runs.length; i += 3) {
            await this.room();
            w.pushHost(id, newGid, dest, node, fd!, runs[i + 1], runs[i + 2], runs[i], 0, started ? 0 : FL_FIRST);
            started = true;
          }
        } else {
          // Only the ranges that hold data: holes stay holes on the host too.
          const ranges = size === 0 ? [] : (run.source.dataRangesSync?.(node) ?? (await run.source.dataRanges(node)));
          for (const r of ranges) {
            for (let pos = r.start; pos < r.end;) {
              // A piece fills what is left of the batch, unless that is little.
              const want = Math.min(r.end - pos, BATCH_BYTES);
              let free = w.free();
              if (free < want && free < MIN_PIECE) {
                await w.next();
                free = w.free();
              }
              const into = w.space(Math.min(want, free))!;
              const n = run.source.readSync?.(node, pos, into, into.length) ?? (await run.source.read(node, pos, into, into.length));
              if (n === 0) break;
              w.push(OpKind.FILE, id, newGid, dest, node, n, pos, 0, started ? 0 : FL_FIRST, 0);
              started = true;
              pos += n;
            }
          }
        }
        if (archive) xattrs = await this.xattrsOf(run, node);
        await this.room();
        w.push(OpKind.FILE, id, newGid, dest, node, 0, 0, size, (started ? 0 : FL_FIRST) | last, 0);
        started = true;
      }
    } catch (e) {
      // As cp does, the file stays as far as it got, with no attributes.
      this.unread.add(id);
      await this.room();
      w.push(OpKind.FILE, id, newGid, dest, node, 0, 0, 0, (started ? 0 : FL_FIRST) | FL_ABORT, 0);
      throw e;
    }
    if (archive) this.deferAttrs(run, node, place, xattrs, id, (last & FL_TIMES) === 0);
  }

  private async copySymlink<E extends SourceEntry, N extends SourceNode>(run: Run<E, N>, node: N, place: Place<N>, mayLink: boolean): Promise<void> {
    const id = this.claim(run, node, place, mayLink, false);
    if (id === undefined) return;
    let target: Buffer;
    let xattrs: XattrPair[];
    try {
      // As bytes: a target need not be valid UTF-8 either.
      target = await run.source.readlink(node);
      xattrs = this.flags.archive ? await this.xattrsOf(run, node) : [];
    } catch (e) {
      this.unread.add(id);
      throw e;
    }
    await this.room();
    const w = this.writer;
    w.push(OpKind.SYMLINK, id, -1, destOf(place), node, 0, 0, 0, 0, w.target(target));
    if (this.flags.archive) this.deferAttrs(run, node, place, xattrs, id, true);
  }

  /** Fifos, devices and sockets are made in one batch at the end (Node cannot mknod). */
  private async copySpecial<E extends SourceEntry, N extends SourceNode>(run: Run<E, N>, node: N, place: Place<N>): Promise<void> {
    const id = this.claim(run, node, place, true, true);
    if (id === undefined) return;
    const mode = node.mode;
    const perm = this.flags.archive ? mode & 0o7777 : mode & 0o777 & ~this.umask;
    this.deferred.specials.push({
      dest: destOf(place), mode: (mode & S_IFMT) | perm, rdev: node.rdev, uid: node.uid, gid: node.gid, label: this.label(run, place), id,
    });
    if (this.flags.archive) this.deferAttrs(run, node, place, await this.xattrsOf(run, node), id, true);
  }

  /** Xattrs, and times that the writer does not set on the open file. */
  private deferAttrs(run: Run<SourceEntry, SourceNode>, node: SourceNode, place: Place<unknown>, xattrs: XattrPair[], id: number, times: boolean): void {
    if (xattrs.length === 0 && !times) return;
    const dest = destOf(place);
    this.deferXattrs(xattrs, dest, id);
    if (times) {
      this.deferred.times.push({
        dest, atimeNs: nsOf(node.atimeSec, node.atimeNsec), mtimeNs: nsOf(node.mtimeSec, node.mtimeNsec), label: this.label(run, place), id,
      });
    }
  }

  private deferXattrs(xattrs: XattrPair[], dest: HostPath, id: number): void {
    for (const x of xattrs) this.deferred.xattrs.push({ dest, name: x.name, value: x.value, id });
  }
}

function srcOf(p: Place<unknown>): HostPath {
  return p.parent === undefined ? p.top!.src : joinHost(p.parent.src, p.name);
}

function destOf(p: Place<unknown>): HostPath {
  return p.parent === undefined ? p.top!.dest : joinHost(p.parent.dir.path, p.name);
}

function depthOf(p: Place<unknown>): number {
  return p.parent === undefined ? 0 : p.parent.depth + 1;
}
