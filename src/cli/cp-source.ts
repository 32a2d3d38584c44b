/**
 * Where a copy reads from. Two ways into a volume, behind one interface:
 *
 *  - an image opened by ext4kit: by inode number through the engine's tree
 *    reader (vfs/tree-reader.ts), which skips the path layer but not one
 *    check below it;
 *  - any other `Volume` (a stand-in in tests): through `volume.promises`,
 *    path by path, as every user of the library would.
 */
import type { BigIntStats, FileHandle, Volume } from '../vfs/types.js';
import { TreeReader, type TreeEntry, type TreeNode } from '../vfs/tree-reader.js';
import { hostName, joinHost } from './cp-paths.js';
import type { DataRange, HostPath } from '../host/host-ops.js';

/** What a copy needs to know of a file, directory or link, as plain numbers (see TreeNode). */
export type SourceNode = Omit<TreeNode, 'inode'>;

export interface SourceEntry {
  name: Uint8Array;
  /** The name as a string when it is valid UTF-8 and known already. */
  text: string | undefined;
}

export interface XattrPair { name: string; value: Buffer }

export interface CopySource<E extends SourceEntry, N extends SourceNode> {
  /** What `path` names: stat (following a final symlink) or lstat. */
  top(path: HostPath, follow: boolean): Promise<N>;
  /** The entries of a directory, except "." and "..". */
  entries(dir: N): Promise<E[]>;
  /** lstat of an entry. */
  node(entry: E): Promise<N>;
  /** Reads up to `length` bytes at `pos` into `target`; short only at end of file. */
  read(file: N, pos: number, target: Uint8Array, length: number): Promise<number>;
  dataRanges(file: N): Promise<DataRange[]>;
  readlink(link: N): Promise<Buffer>;
  xattrs(node: N): Promise<XattrPair[]>;

  // Optional shortcuts: the same answers without waiting, or undefined when
  // they cannot be had synchronously (then the call above is made).
  nodeSync?(entry: E): N | undefined;
  readSync?(file: N, pos: number, target: Uint8Array, length: number): number | undefined;
  dataRangesSync?(file: N): DataRange[] | undefined;
  /** False when `xattrs` would certainly return nothing. */
  mayHaveXattrs?(node: N): boolean;
  /**
   * The fd of a host file that holds the source's file contents as they are
   * (the image file of a read-only volume), for `hostRunsSync`.
   */
  readonly hostFd?: number;
  /**
   * Where `readSync` would take [pos, pos + length) from, as positions in
   * the `hostFd` file (-1 for a run that reads as zeros); undefined when it
   * cannot say without waiting.
   */
  hostRunsSync?(file: N, pos: number, length: number, visit: (filePos: number, hostPosition: number, len: number) => void): number | undefined;
}

/** An image opened by ext4kit, read by inode. */
export class Ext4Source implements CopySource<TreeEntry, TreeNode> {
  readonly hostFd: number | undefined;

  private constructor(private readonly reader: TreeReader) {
    this.hostFd = reader.hostFile?.fd;
  }

  static of(vol: Volume): Ext4Source | undefined {
    const reader = TreeReader.of(vol);
    return reader === undefined ? undefined : new Ext4Source(reader);
  }

  top(path: HostPath, follow: boolean): Promise<TreeNode> {
    return this.reader.lookup(path, follow);
  }

  entries(dir: TreeNode): Promise<TreeEntry[]> {
    return this.reader.entries(dir);
  }

  node(entry: TreeEntry): Promise<TreeNode> {
    return this.reader.get(entry.ino);
  }

  read(file: TreeNode, pos: number, target: Uint8Array, length: number): Promise<number> {
    return this.reader.read(file, pos, target, length);
  }

  dataRanges(file: TreeNode): Promise<DataRange[]> {
    return this.reader.dataRanges(file);
  }

  readlink(link: TreeNode): Promise<Buffer> {
    return this.reader.readlink(link);
  }

  xattrs(node: TreeNode): Promise<XattrPair[]> {
    return this.reader.xattrs(node);
  }

  nodeSync(entry: TreeEntry): TreeNode | undefined {
    return this.reader.getSync(entry.ino);
  }

  readSync(file: TreeNode, pos: number, target: Uint8Array, length: number): number | undefined {
    return this.reader.readSync(file, pos, target, length);
  }

  dataRangesSync(file: TreeNode): DataRange[] | undefined {
    return this.reader.dataRangesSync(file);
  }

  mayHaveXattrs(node: TreeNode): boolean {
    return this.reader.mayHaveXattrs(node);
  }

  hostRunsSync(file: TreeNode, pos: number, length: number, visit: (filePos: number, hostPosition: number, len: number) => void): number | undefined {
    return this.reader.hostRunsSync(file, pos, length, visit);
  }
}

interface PathNode extends SourceNode { path: HostPath }
interface PathEntry extends SourceEntry { path: HostPath }

const NS = 1_000_000_000n;

function fromStats(path: HostPath, st: BigIntStats): PathNode {
  const a = st.atimeNs;
  const m = st.mtimeNs;
  // Floor division, so times before 1970 split into a negative second and a positive remainder.
  const sec = (t: bigint): number => Number(t >= 0n ? t / NS : -((-t + NS - 1n) / NS));
  const nsec = (t: bigint): number => Number(((t % NS) + NS) % NS);
  return {
    path, ino: Number(st.ino), dev: Number(st.dev), mode: Number(st.mode), uid: Number(st.uid), gid: Number(st.gid),
    nlink: Number(st.nlink), size: Number(st.size), blocks: Number(st.blocks), rdev: Number(st.rdev),
    atimeSec: sec(a), atimeNsec: nsec(a), mtimeSec: sec(m), mtimeNsec: nsec(m),
  };
}

/** Any Volume, through its fs/promises-like surface. */
export class PublicSource implements CopySource<PathEntry, PathNode> {
  constructor(private readonly vol: Volume) {}

  async top(path: HostPath, follow: boolean): Promise<PathNode> {
    const p = this.vol.promises;
    return fromStats(path, follow ? await p.stat(path, { bigint: true }) : await p.lstat(path, { bigint: true }));
  }

  async entries(dir: PathNode): Promise<PathEntry[]> {
    const list = await this.vol.promises.readdir(dir.path, { withFileTypes: true, encoding: 'buffer' });
    return list.map((d) => ({ name: d.name, text: undefined, path: joinHost(dir.path, hostName(d.name)) }));
  }

  async node(entry: PathEntry): Promise<PathNode> {
    return fromStats(entry.path, await this.vol.promises.lstat(entry.path, { bigint: true }));
  }

  async read(file: PathNode, pos: number, target: Uint8Array, length: number): Promise<number> {
    return this.withHandle(file, async (fh) => {
      let done = 0;
      while (done < length) {
        const { bytesRead } = await fh.read(target, done, length - done, pos + done);
        if (bytesRead === 0) break;
        done += bytesRead;
      }
      return done;
    });
  }

  async dataRanges(file: PathNode): Promise<DataRange[]> {
    return this.withHandle(file, (fh) => fh.dataRanges());
  }

  readlink(link: PathNode): Promise<Buffer> {
    return this.vol.promises.readlink(link.path, 'buffer');
  }

  async xattrs(node: PathNode): Promise<XattrPair[]> {
    const p = this.vol.promises;
    const out: XattrPair[] = [];
    for (const name of await p.listxattr(node.path, { noFollow: true })) {
      out.push({ name, value: await p.getxattr(node.path, name, { noFollow: true }) });
    }
    return out;
  }

  private async withHandle<T>(file: PathNode, fn: (fh: FileHandle) => Promise<T>): Promise<T> {
    const fh = await this.vol.promises.open(file.path, 'r');
    try {
      return await fn(fh);
    } finally {
      await fh.close();
    }
  }
}
