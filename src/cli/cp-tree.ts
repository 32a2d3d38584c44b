/**
 * The copy of files and trees out of an image onto the host, for `cp`.
 *
 * This side reads: it walks the source depth first, one entry at a time,
 * and turns each into records for the host writer (cp-writer.ts), with file
 * contents read straight into the writer's batch. The host calls themselves
 * happen in cp-apply.ts, on a worker thread for a tree, so reading the image
 * and creating the files overlap. What must wait until all contents are in
 * place — special files, xattrs, nanosecond times, directory modes and
 * times — is collected here and applied by cp-finish.ts.
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
import { BATCH_BYTES, FL_ABORT, FL_FIRST, FL_KEEP, FL_LAST, FL_TIMES, OpKind, type HostFailure } from './cp-ops.js';
import { hostName, joinHost, shown } from './cp-paths.js';
import { Ext4Source, PublicSource, type CopySource, type SourceEntry, type SourceNode, type XattrPair } from './cp-source.js';
import { HostWriter } from './cp-writer.js';
import { S_IFMT, S_IFREG, S_IFDIR, S_IFLNK } from './format.js';
import type { HostPath } from './host-ops.js';
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

/** Where deferred work belongs: dropped when its record, or its directory, failed on the host. */
interface Owner { id: number; dir: number }

export interface DirFinish extends Owner { dest: HostPath; depth: number; mode: number | undefined; atimeNs?: bigint; mtimeNs?: bigint; label: string; onlyIfCreated?: boolean }
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
interface Frame<N> { node: N; id: number; src: HostPath; dest: HostPath; depth: number }

/** Where one node goes: an entry of a directory being copied, or the top of a copy. */
interface Place<N> { parent: Frame<N> | undefined; name: HostPath; top?: { src: HostPath; dest: HostPath } }

/** The first name of an inode that has more. */
interface LinkSlot { id: number; special: boolean; dest: HostPath }

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
  /** LINK records, and how to copy that name on its own if its first name never got made. */
  private readonly redo = new Map<number, () => Promise<void>>();

  constructor(private readonly flags: CopyFlags, private readonly report: Reporter, private readonly umask: number, threads = true) {
    const root = process.getuid?.() === 0;
    this.writer = new HostWriter({ archive: flags.archive, root, umask }, (f) => this.hostFailed(f), threads);
  }

  private hostFailed(f: HostFailure): void {
    this.report.fail(f.where, f.message ?? 'failed', f.code);
  }

  /** Copies one operand: `follow` copies what a final symlink points to. */
  async copyTop(job: CopyJob, follow: boolean): Promise<void> {
    const ext4 = Ext4Source.of(job.vol);
    if (ext4 !== undefined) await this.copyFrom({ source: ext4, image: job.image }, job, follow);
    else await this.copyFrom({ source: new PublicSource(job.vol), image: job.image }, job, follow);
  }

  /**
   * Applies everything on the host, copies on their own the later names whose
   * first name failed, and leaves in `deferred` only what still applies.
   */
  async finish(): Promise<void> {
    try {
      await this.writer.drain();
      const again = this.writer.unlinked.splice(0);
      for (const id of again) await this.redo.get(id)?.();
      if (again.length > 0) await this.writer.drain();
    } finally {
      await this.writer.close();
    }
    const { failed, existed } = this.writer;
    const live = (o: Owner): boolean => !failed.has(o.id) && !failed.has(o.dir);
    const d = this.deferred;
    d.specials = d.specials.filter(live);
    d.specialLinks = d.specialLinks.filter(live);
    d.xattrs = d.xattrs.filter(live);
    d.times = d.times.filter(live);
    d.dirs = d.dirs.filter((x) => live(x) && !(x.onlyIfCreated === true && existed.has(x.id)));
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
    }
    else await this.copyNode(run, node, place, true);
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
   * before its entries; its mode and times are set at the end.
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
        frame = await this.makeDir(run, node, place);
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

  private async xattrsOf<N extends SourceNode>(run: Run<SourceEntry, N>, node: N): Promise<XattrPair[]> {
    return run.source.mayHaveXattrs?.(node) === false ? [] : run.source.xattrs(node);
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

  private async makeDir<N extends SourceNode>(run: Run<SourceEntry, N>, node: N, place: Place<N>): Promise<Frame<N>> {
    const w = this.writer;
    const id = w.newId();
    const dir = dirOf(place);
    const frame: Frame<N> = { node, id, src: srcOf(place), dest: destOf(place), depth: depthOf(place) };
    const mode = node.mode;
    const label = this.label(run, place);
    if (this.flags.archive) {
      this.deferXattrs(await this.xattrsOf(run, node), frame.dest, id, dir);
      this.deferred.dirs.push({
        dest: frame.dest, depth: frame.depth, mode: mode & 0o7777, atimeNs: nsOf(node.atimeSec, node.atimeNsec),
        mtimeNs: nsOf(node.mtimeSec, node.mtimeNsec), label, id, dir,
      });
    } else if ((mode & 0o700) !== 0o700) {
      // GNU cp -r: a new directory ends with the source's bits minus the umask (sticky kept).
      this.deferred.dirs.push({ dest: frame.dest, depth: frame.depth, mode: mode & 0o1777 & ~this.umask, label, id, dir, onlyIfCreated: true });
    }
    await this.room();
    w.push(OpKind.MKDIR, id, dir, nameOf(place), node, 0, 0, 0, 0, 0);
    return frame;
  }

  /**
   * With -a, the first name of a multiply-linked inode is copied and later
   * names become links to it. Returns true when this was a later name (and
   * its LINK record is out), false when it is to be copied (it may be the
   * first name: `keep` then tells the writer to remember it).
   */
  private async linked<E extends SourceEntry, N extends SourceNode>(
    run: Run<E, N>, node: N, place: Place<N>, id: number, special: boolean,
  ): Promise<{ linked: boolean; keep: boolean }> {
    if (!this.flags.archive || node.nlink < 2) return { linked: false, keep: false };
    const key = `${run.image}\0${node.dev}\0${node.ino}`;
    const slot = this.links.get(key);
    if (slot === undefined) {
      this.links.set(key, { id, special, dest: destOf(place) });
      return { linked: false, keep: true };
    }
    if (slot.special) {
      this.deferred.specialLinks.push({ target: slot.dest, dest: destOf(place), label: this.label(run, place), id, dir: dirOf(place) });
      return { linked: true, keep: false };
    }
    await this.room();
    this.writer.push(OpKind.LINK, id, dirOf(place), nameOf(place), undefined, 0, 0, 0, 0, slot.id);
    this.redo.set(id, () => this.copyNode(run, node, place, false));
    return { linked: true, keep: false };
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
    if (size > BATCH_BYTES || node.blocks * 512 < size || source.readSync === undefined) return false;
    if (archive && (node.nlink >= 2 || source.mayHaveXattrs?.(node) !== false)) return false;
    const w = this.writer;
    const into = w.space(size);
    if (into === undefined) return false;
    const id = w.newId();
    const dir = dirOf(place);
    const name = nameOf(place);
    let n: number | undefined;
    try {
      n = source.readSync(node, 0, into, size);
    } catch (e) {
      // As cp does, the file is made and left empty, with no attributes.
      w.push(OpKind.FILE, id, dir, name, node, 0, 0, 0, FL_FIRST | FL_ABORT, 0);
      this.fail(run, place, e);
      return true;
    }
    if (n === undefined) return false;
    const times = archive && wholeSeconds(node);
    w.push(OpKind.FILE, id, dir, name, node, n, 0, size, FL_FIRST | FL_LAST | (times ? FL_TIMES : 0), 0);
    if (archive && !times) this.deferAttrs(run, node, place, [], id, true);
    return true;
  }

  /** A record id for a file or symlink, unless it is a later name (then linked, and undefined). */
  private async claim<E extends SourceEntry, N extends SourceNode>(
    run: Run<E, N>, node: N, place: Place<N>, mayLink: boolean,
  ): Promise<{ id: number; keep: boolean } | undefined> {
    const id = this.writer.newId();
    if (!mayLink) return { id, keep: false };
    const l = await this.linked(run, node, place, id, false);
    return l.linked ? undefined : { id, keep: l.keep };
  }

  private async copyFile<E extends SourceEntry, N extends SourceNode>(run: Run<E, N>, node: N, place: Place<N>, mayLink: boolean): Promise<void> {
    const w = this.writer;
    const claimed = await this.claim(run, node, place, mayLink);
    if (claimed === undefined) return;
    const { id, keep } = claimed;
    const { archive } = this.flags;
    const dir = dirOf(place);
    const name = nameOf(place);
    const size = node.size;
    const last = FL_LAST | (keep ? FL_KEEP : 0) | (archive && wholeSeconds(node) ? FL_TIMES : 0);
    let started = false;
    let xattrs: XattrPair[] = [];
    try {
      if (size > 0 && size <= BATCH_BYTES && node.blocks * 512 >= size) {
        // Dense and small, as most files are: one read straight into the batch, one record.
        const into = w.space(size) ?? (await this.space(size));
        const n = run.source.readSync?.(node, 0, into, size) ?? (await run.source.read(node, 0, into, size));
        if (archive) xattrs = await this.xattrsOf(run, node);
        w.push(OpKind.FILE, id, dir, name, node, n, 0, size, FL_FIRST | last, 0);
        started = true;
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
            w.push(OpKind.FILE, id, dir, name, node, n, pos, 0, started ? 0 : FL_FIRST, 0);
            started = true;
            pos += n;
          }
        }
        if (archive) xattrs = await this.xattrsOf(run, node);
        await this.room();
        w.push(OpKind.FILE, id, dir, name, node, 0, 0, size, (started ? 0 : FL_FIRST) | last, 0);
        started = true;
      }
    } catch (e) {
      // As cp does, the file stays as far as it got, with no attributes.
      await this.room();
      w.push(OpKind.FILE, id, dir, name, node, 0, 0, 0, (started ? 0 : FL_FIRST) | FL_ABORT, 0);
      throw e;
    }
    if (archive) this.deferAttrs(run, node, place, xattrs, id, (last & FL_TIMES) === 0);
  }

  private async copySymlink<E extends SourceEntry, N extends SourceNode>(run: Run<E, N>, node: N, place: Place<N>, mayLink: boolean): Promise<void> {
    const w = this.writer;
    const claimed = await this.claim(run, node, place, mayLink);
    if (claimed === undefined) return;
    const { id, keep } = claimed;
    // As bytes: a target need not be valid UTF-8 either.
    const target = await run.source.readlink(node);
    const xattrs = this.flags.archive ? await this.xattrsOf(run, node) : [];
    await this.room();
    w.push(OpKind.SYMLINK, id, dirOf(place), nameOf(place), node, 0, 0, 0, keep ? FL_KEEP : 0, w.target(target));
    if (this.flags.archive) this.deferAttrs(run, node, place, xattrs, id, true);
  }

  /** Fifos, devices and sockets are made in one batch at the end (Node cannot mknod). */
  private async copySpecial<E extends SourceEntry, N extends SourceNode>(run: Run<E, N>, node: N, place: Place<N>): Promise<void> {
    const id = this.writer.newId();
    if ((await this.linked(run, node, place, id, true)).linked) return;
    const mode = node.mode;
    const perm = this.flags.archive ? mode & 0o7777 : mode & 0o777 & ~this.umask;
    const dir = dirOf(place);
    this.deferred.specials.push({
      dest: destOf(place), mode: (mode & S_IFMT) | perm, rdev: node.rdev, uid: node.uid, gid: node.gid, label: this.label(run, place), id, dir,
    });
    if (this.flags.archive) this.deferAttrs(run, node, place, await this.xattrsOf(run, node), id, true);
  }

  /** Xattrs, and times that the writer does not set on the open file. */
  private deferAttrs(run: Run<SourceEntry, SourceNode>, node: SourceNode, place: Place<unknown>, xattrs: XattrPair[], id: number, times: boolean): void {
    if (xattrs.length === 0 && !times) return;
    const dest = destOf(place);
    const dir = dirOf(place);
    this.deferXattrs(xattrs, dest, id, dir);
    if (times) {
      this.deferred.times.push({
        dest, atimeNs: nsOf(node.atimeSec, node.atimeNsec), mtimeNs: nsOf(node.mtimeSec, node.mtimeNsec), label: this.label(run, place), id, dir,
      });
    }
  }

  private deferXattrs(xattrs: XattrPair[], dest: HostPath, id: number, dir: number): void {
    for (const x of xattrs) this.deferred.xattrs.push({ dest, name: x.name, value: x.value, id, dir });
  }
}

function srcOf(p: Place<unknown>): HostPath {
  return p.parent === undefined ? p.top!.src : joinHost(p.parent.src, p.name);
}

function destOf(p: Place<unknown>): HostPath {
  return p.parent === undefined ? p.top!.dest : joinHost(p.parent.dest, p.name);
}

/** The parent's MKDIR id, or -1 at the top (whose record name is the whole destination path). */
function dirOf(p: Place<unknown>): number {
  return p.parent === undefined ? -1 : p.parent.id;
}

function nameOf(p: Place<unknown>): HostPath {
  return p.parent === undefined ? p.top!.dest : p.name;
}

function depthOf(p: Place<unknown>): number {
  return p.parent === undefined ? 0 : p.parent.depth + 1;
}
