/**
 * Copying host files and trees into an image: the shared engine of
 * `cp ... IMG:DEST` and `mkfs -d DIR` (which is `populateFromHost`).
 *
 * The host tree is scanned first (host-scan.ts). While python3 reads the
 * xattrs of every entry and the data ranges of sparse files in one batch
 * on the other core, the tree is created in the image in walk order,
 * through the volume's TreeWriter: each entry is created in its directory's
 * inode, by name, with its final mode and owner; a file's data follows
 * (only the ranges that hold data, so holes stay holes) and then its times.
 * Directories get their times last, once nothing more is added to them,
 * and xattrs go on at the end (setting one moves no time but ctime).
 *
 * With `archive` (cp -a, mkfs -d) everything is kept: permission bits
 * including set-ID and sticky, owners, times to the nanosecond, hard links
 * (the same host inode met twice becomes a second name of one image inode),
 * device nodes, fifos, sockets and xattrs. Without it, as GNU cp -r: new
 * entries get the source's permission bits minus the umask (directories
 * keep the sticky bit, files lose set-ID bits) and the caller's owner, and
 * times are now.
 */
import { closeSync, openSync, readlinkSync, readSync, statSync } from 'node:fs';
import { FsError, isFsError } from '../base/errors.js';
import type { Ext4Inode } from '../inode/ext4-inode.js';
import { TreeWriter } from '../vfs/tree-writer.js';
import type { Volume } from '../vfs/types.js';
import { S_IFDIR, S_IFLNK, S_IFMT, S_IFREG } from './format.js';
import { hostOpsAvailable, readDataRanges, readXattrs, type DataRange } from '../host/host-ops.js';
import { scanHost, type HostNode } from '../host/host-scan.js';
import { NO_PROGRESS, progressFor, type ProgressSink } from './progress.js';
import type { CliEnv } from './env.js';
import type { Reporter } from './report.js';

export interface PopulateOptions {
  /** Keep modes, owners, times, hard links, special files and xattrs (cp -a, mkfs -d). */
  archive: boolean;
  /** Copy directories (with everything below them); without it a directory source is reported and skipped. */
  recursive: boolean;
  /** Follow a top-level symlink source (cp without -r). */
  followTop?: boolean;
  /** Removed from the permission bits of new entries without `archive`. */
  umask: number;
  /** Owner of new entries without `archive`. */
  owner: { uid: number; gid: number };
  report: Reporter;
  /** The image file, for messages (`IMG:PATH`). */
  image: string;
  /** Called once the host tree is scanned, with its totals; returns where progress goes. */
  progress?: (totalBytes: number, totalFiles: number) => ProgressSink;
}

/** One source and where it goes. */
export interface CopySource {
  /** Host path. */
  path: Buffer;
  /** The image directory it goes into, and that directory's path (for messages and xattr calls). */
  dir: Ext4Inode;
  dirPath: string;
  /**
   * Its name there; undefined to copy a directory's contents into `dir`
   * itself (cp DIR/. IMG:/, mkfs -d), which then takes the source's
   * attributes with `archive`.
   */
  name: Buffer | undefined;
}

// 1 MiB: measured faster than 4 MiB for the host read + image write pair (the buffer stays in the CPU caches).
const CHUNK = 1 << 20;
/** How often the copy lets the event loop run (child process I/O). */
const YIELD_MS = 10;

/** The bytes of an image path below `dirPath`. */
function imagePath(dirPath: string, names: readonly Buffer[]): Buffer {
  const parts: Uint8Array[] = [Buffer.from(dirPath === '/' ? '' : dirPath.replace(/\/+$/, ''))];
  for (const n of names) parts.push(Buffer.of(0x2f), n);
  const p = Buffer.concat(parts);
  return p.length === 0 ? Buffer.from('/') : p;
}

class Populator {
  private readonly w: TreeWriter;
  /** The image inode each node became (undefined: not made, so its subtree is skipped). */
  private readonly made: Array<Ext4Inode | undefined>;
  /** First image inode of each multiply-linked host inode (`dev:ino`). */
  private readonly links = new Map<string, Ext4Inode>();
  private readonly bufs = [Buffer.allocUnsafe(CHUNK), Buffer.allocUnsafe(CHUNK)];
  /**
   * Directories this copy created: they hold only what it put there, and a
   * host directory lists each name once, so their names need no lookup
   * before a create (which is the costliest step in a big linear directory).
   */
  private readonly fresh = new Set<Ext4Inode>();

  constructor(
    private readonly vol: Volume, private readonly nodes: HostNode[], private readonly sources: readonly CopySource[],
    private readonly o: PopulateOptions, private readonly progress: ProgressSink,
  ) {
    this.w = TreeWriter.of(vol);
    this.made = new Array<Ext4Inode | undefined>(nodes.length);
  }

  /** The image path of node `i`, as bytes (names that are not UTF-8 stay exact). */
  private pathOf(i: number): Buffer {
    const names: Buffer[] = [];
    let k = i;
    for (; this.nodes[k].parent >= 0; k = this.nodes[k].parent) names.push(this.nodes[k].name);
    const src = this.sources[this.nodes[k].top];
    if (src.name !== undefined) names.push(src.name);
    return imagePath(src.dirPath, names.reverse());
  }

  /** The PATH of `IMG:PATH` for node `i`, for messages. */
  private label(i: number): string {
    return this.pathOf(i).toString('utf8');
  }

  /** Reports node `i`'s failure against the image path, or the host path when the host refused. */
  private fail(i: number, e: unknown): void {
    const where = isFsError(e) ? `${this.o.image}:${this.label(i)}` : this.nodes[i].path.toString('utf8');
    this.o.report.error(where, e);
  }

  async run(ranges: Promise<Map<Buffer, DataRange[]> | undefined>, xattrs: Promise<Map<Buffer, Map<string, Buffer>> | undefined>): Promise<void> {
    let lastYield = performance.now();
    for (let i = 0; i < this.nodes.length; i++) {
      const node = this.nodes[i];
      const parentMade = node.parent >= 0 ? this.made[node.parent] : this.sources[node.top].dir;
      if (parentMade === undefined) continue;
      // The image I/O is synchronous, so without a turn of the event loop now and then python's
      // batch (xattrs, data ranges) could not even start until the whole tree was written.
      if (performance.now() - lastYield > YIELD_MS) {
        await new Promise<void>((resolve) => setImmediate(resolve));
        lastYield = performance.now();
      }
      try {
        this.made[i] = await this.copyNode(i, node, parentMade, ranges);
      } catch (e) {
        this.fail(i, e);
      }
    }
    if (this.o.archive) {
      await this.applyXattrs(await xattrs);
      await this.finishDirs();
    }
  }

  /** Mode bits a new entry gets. */
  private permOf(node: HostNode): number {
    const mode = node.st.mode;
    if (this.o.archive) return mode & 0o7777;
    const type = mode & S_IFMT;
    if (type === S_IFLNK) return 0o777;
    return mode & (type === S_IFDIR ? 0o1777 : 0o777) & ~this.o.umask;
  }

  private ownerOf(node: HostNode): { uid: number; gid: number } {
    return this.o.archive ? { uid: node.st.uid, gid: node.st.gid } : this.o.owner;
  }

  private async copyNode(i: number, node: HostNode, dir: Ext4Inode, ranges: Promise<Map<Buffer, DataRange[]> | undefined>): Promise<Ext4Inode | undefined> {
    const type = node.st.mode & S_IFMT;
    const top = node.parent < 0 ? this.sources[node.top] : undefined;
    if (top !== undefined && type === S_IFDIR && !this.o.recursive) {
      this.o.report.fail(node.path.toString('utf8'), '-r not specified; omitting directory', 'EISDIR');
      return undefined;
    }
    if (top !== undefined && top.name === undefined) {
      // The contents go into `dir` itself, which takes the source's attributes (at the end, with its times).
      if (type !== S_IFDIR) throw new FsError('ENOTDIR');
      return dir;
    }
    const name = top?.name ?? node.name;
    const existing = this.fresh.has(dir) ? undefined : await this.w.child(dir, name);
    if (type === S_IFDIR) {
      if (existing !== undefined) {
        if (!existing.isDir) {
          this.o.report.fail(`${this.o.image}:${this.label(i)}`, 'cannot overwrite non-directory with directory', 'ENOTDIR');
          return undefined;
        }
        if (this.o.archive) await this.setOwnerAndMode(existing, node);
        return existing;
      }
      const made = await this.w.create(dir, name, { mode: S_IFDIR | this.permOf(node), ...this.ownerOf(node) });
      this.fresh.add(made);
      return made;
    }
    if (existing?.isDir === true) {
      this.o.report.fail(`${this.o.image}:${this.label(i)}`, 'cannot overwrite directory with non-directory', 'EISDIR');
      return undefined;
    }
    const linkKey = this.o.archive && node.st.nlink > 1 ? node.st.id : undefined;
    const first = linkKey === undefined ? undefined : this.links.get(linkKey);
    if (first !== undefined) {
      if (existing?.ino === first.ino) return first;
      if (existing !== undefined) await this.w.remove(dir, name, false);
      await this.w.link(first, dir, name);
      if (type === S_IFREG) {
        this.progress.bytes(node.st.size);
        this.progress.file();
      }
      return first;
    }
    let inode: Ext4Inode;
    if (type === S_IFREG && existing?.isReg === true) {
      // As cp: an existing file is overwritten in place (its inode, and without -a its mode and owner, stay).
      inode = existing;
      await this.w.truncate(inode, 0);
      if (this.o.archive) await this.setOwnerAndMode(inode, node);
    } else {
      if (existing !== undefined) await this.w.remove(dir, name, false);
      inode = await this.w.create(dir, name, this.specOf(node, type));
      if (this.o.archive && inode.disk.gid !== node.st.gid) await this.setOwnerAndMode(inode, node);
    }
    if (linkKey !== undefined) this.links.set(linkKey, inode);
    if (type === S_IFREG) {
      const size = node.st.size;
      const sparse = size > 0 && node.st.blocks * 512 < size;
      await this.copyData(inode, node, sparse ? (await ranges)?.get(node.path) : undefined);
      this.progress.file();
    }
    if (this.o.archive) await this.w.setAttrs(inode, { atime: node.st.atime, mtime: node.st.mtime });
    return inode;
  }

  private specOf(node: HostNode, type: number): { mode: number; uid: number; gid: number; rdev?: number; target?: Uint8Array } {
    const spec = { mode: type | this.permOf(node), ...this.ownerOf(node) };
    if (type === S_IFLNK) return { ...spec, target: readlinkSync(node.path, { encoding: 'buffer' }) };
    if (type !== S_IFREG) return { ...spec, rdev: node.st.rdev };
    return spec;
  }

  /** Owner, then mode (a chown of a non-directory clears set-ID bits, as chown(2) does). */
  private async setOwnerAndMode(inode: Ext4Inode, node: HostNode): Promise<void> {
    const { uid, gid } = node.st;
    const mode = node.st.mode & 0o7777;
    if (inode.disk.uid !== uid || inode.disk.gid !== gid) await this.w.setAttrs(inode, { uid, gid });
    if ((inode.mode & 0o7777) !== mode) await this.w.setAttrs(inode, { mode });
  }

  /**
   * Copies a file's bytes: `ranges` (or all of it), reading the next chunk
   * from the host while the last one is written to the image. A file that
   * ends in a hole gets its size at the end.
   */
  private async copyData(inode: Ext4Inode, node: HostNode, ranges: DataRange[] | undefined): Promise<void> {
    const size = node.st.size;
    if (size === 0) return;
    const fd = openSync(node.path, 'r');
    let pending: Promise<number> | undefined;
    try {
      let which = 0;
      for (const r of ranges ?? [{ start: 0, end: size }]) {
        let pos = r.start;
        const end = Math.min(r.end, size);
        while (pos < end) {
          const buf = this.bufs[which];
          const n = readSync(fd, buf, 0, Math.min(buf.length, end - pos), pos);
          if (n === 0) break;
          if (pending !== undefined) await pending;
          pending = this.w.write(inode, pos, buf.subarray(0, n));
          pos += n;
          this.progress.bytes(n);
          which ^= 1;
        }
      }
      if (pending !== undefined) await pending;
      pending = undefined;
    } finally {
      // A read error with a write in flight: let the write finish before the buffer is reused.
      if (pending !== undefined) await pending.catch(() => 0);
      closeSync(fd);
    }
    if (inode.size < size) await this.w.truncate(inode, size);
  }

  private async applyXattrs(all: Map<Buffer, Map<string, Buffer>> | undefined): Promise<void> {
    if (all === undefined) return;
    for (let i = 0; i < this.nodes.length; i++) {
      const attrs = all.get(this.nodes[i].path);
      if (attrs === undefined || attrs.size === 0 || this.made[i] === undefined) continue;
      for (const [name, value] of attrs) {
        try {
          await this.vol.promises.setxattr(this.pathOf(i), name, value, { noFollow: true });
        } catch (e) {
          this.fail(i, e);
        }
      }
    }
  }

  /** Directories' modes (set-ID bits included) and times, once nothing more is added below them. */
  private async finishDirs(): Promise<void> {
    for (let i = this.nodes.length - 1; i >= 0; i--) {
      const node = this.nodes[i];
      const inode = this.made[i];
      if (inode === undefined || (node.st.mode & S_IFMT) !== S_IFDIR) continue;
      try {
        await this.setOwnerAndMode(inode, node);
        await this.w.setAttrs(inode, { atime: node.st.atime, mtime: node.st.mtime });
      } catch (e) {
        this.fail(i, e);
      }
    }
  }
}

/**
 * Copies `sources` into the image. Failures are reported (one line each)
 * and the rest is still copied; the caller's Reporter says whether any
 * happened.
 */
export async function copyIntoImage(vol: Volume, sources: readonly CopySource[], o: PopulateOptions): Promise<void> {
  const scan = scanHost(sources.map((s) => s.path), sources.map((s) => s.name ?? Buffer.alloc(0)), {
    recursive: o.recursive, followTop: o.followTop ?? false,
  });
  for (const e of scan.errors) o.report.error(e.path.toString('utf8'), e.error);
  const nodes = scan.nodes;
  const sparse = nodes.filter((n) => (n.st.mode & S_IFMT) === S_IFREG && n.st.size > 0 && n.st.blocks * 512 < n.st.size).map((n) => n.path);
  // Started now, awaited when first needed: python works while the tree is created.
  const needHost = sparse.length > 0 || o.archive;
  const host = needHost ? hostOpsAvailable() : Promise.resolve(false);
  const ranges = sparse.length === 0 ? Promise.resolve(undefined) : host.then((ok) => (ok ? readDataRanges(sparse) : undefined)).then((r) => {
    for (const e of r?.errors ?? []) o.report.fail(e.path.toString(), e.message, e.code);
    return r?.ranges;
  });
  const xattrs = !o.archive ? Promise.resolve(undefined) : host.then((ok) => (ok ? readXattrs(nodes.map((n) => n.path)) : undefined)).then((r) => {
    for (const e of r?.errors ?? []) o.report.fail(e.path.toString(), e.message, e.code);
    return r?.xattrs;
  });
  // A failed batch must not go unhandled while the tree is being written.
  ranges.catch(() => undefined);
  xattrs.catch(() => undefined);
  const progress = o.progress?.(scan.bytes, scan.files) ?? NO_PROGRESS;
  try {
    await new Populator(vol, nodes, sources, o, progress).run(ranges, xattrs);
  } finally {
    progress.done();
  }
  if (needHost && !(await host)) {
    o.report.fail(undefined, 'python3 was not found: extended attributes were not copied and sparse files were copied in full');
  }
}

/**
 * `mkfs -d DIR` and `cp -a DIR/. IMG:/`: the contents of host directory
 * `dir` become the contents of the image's root, which takes `dir`'s mode,
 * owner and times; everything is kept as with `cp -a`.
 */
export async function populateFromHost(vol: Volume, dir: string, o: Omit<PopulateOptions, 'archive' | 'recursive' | 'umask' | 'owner'>): Promise<void> {
  const root = await TreeWriter.of(vol).lookup('/', true);
  if (root === undefined) throw new FsError('ENOENT', 'the image has no root directory');
  await copyIntoImage(vol, [{ path: Buffer.from(dir), dir: root, dirPath: '/', name: undefined }], {
    ...o, archive: true, recursive: true, umask: 0, owner: { uid: 0, gid: 0 },
  });
}

/** Fails with ENOTDIR / ENOENT unless `dir` is a host directory. */
export function checkSourceDir(dir: string): void {
  if (!statSync(dir).isDirectory()) throw new FsError('ENOTDIR', `${dir} is not a directory`);
}

/**
 * `mkfs -d DIR`: opens the new image, copies DIR in with populateFromHost
 * (a progress bar on a terminal unless `quiet`), and closes it, which
 * commits everything and leaves the image clean.
 */
export async function populateImage(env: CliEnv, image: string, dir: string, report: Reporter, quiet: boolean): Promise<void> {
  const vol = await env.openVolume(image, { readOnly: false });
  try {
    await populateFromHost(vol, dir, { report, image, progress: (bytes, files) => progressFor(env.stdout, bytes, files, quiet) });
  } finally {
    await vol.close();
  }
}
