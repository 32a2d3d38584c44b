/**
 * The two real filesystems the model is run against, behind one small
 * interface: an ext4kit volume on an image made by mkfs.ext4 (the thing
 * under test), and a directory of the host served by the Linux kernel
 * through node:fs (the check that the model's rules are Linux's).
 */
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { openVolume, type Volume } from '../../../src/index.js';
import { fsckClean } from '../../helpers/fsck.js';

/** The stat fields compared (both Node's BigIntStats and ext4kit's have them). */
export interface RealStat {
  mode: bigint;
  nlink: bigint;
  uid: bigint;
  gid: bigint;
  size: bigint;
  ino: bigint;
  rdev: bigint;
  atimeNs: bigint;
  mtimeNs: bigint;
}

export interface RealHandle {
  write(buffer: Uint8Array, offset: number, length: number, position: number | null): Promise<{ bytesWritten: number }>;
  read(buffer: Uint8Array, offset: number, length: number, position: number | null): Promise<{ bytesRead: number }>;
  truncate(len: number): Promise<void>;
  stat(): Promise<RealStat>;
  close(): Promise<void>;
}

/** The calls the model runs, on paths inside the target (already mapped). */
export interface RealFs {
  stat(p: string): Promise<RealStat>;
  lstat(p: string): Promise<RealStat>;
  readdir(p: string): Promise<string[]>;
  readFile(p: string): Promise<Buffer>;
  writeFile(p: string, data: Uint8Array, flag: string, mode: number): Promise<void>;
  appendFile(p: string, data: Uint8Array, mode: number): Promise<void>;
  mkdir(p: string, mode: number, recursive: boolean): Promise<string | undefined>;
  rmdir(p: string): Promise<void>;
  unlink(p: string): Promise<void>;
  rename(a: string, b: string): Promise<void>;
  link(a: string, b: string): Promise<void>;
  symlink(target: string, p: string): Promise<void>;
  readlink(p: string): Promise<Buffer>;
  truncate(p: string, len: number): Promise<void>;
  chmod(p: string, mode: number): Promise<void>;
  chown(p: string, uid: number, gid: number): Promise<void>;
  utimes(p: string, atime: number, mtime: number): Promise<void>;
  open(p: string, flag: string, mode: number): Promise<RealHandle>;
  mknod(p: string, mode: number, rdev: number): Promise<void>;
  /** Extended attributes (the volume only: the host side would need a helper process per call). */
  xattrs?: {
    get(p: string, name: string, follow: boolean): Promise<Buffer>;
    list(p: string, follow: boolean): Promise<string[]>;
    set(p: string, name: string, value: Buffer, flag: 'create' | 'replace' | undefined, follow: boolean): Promise<void>;
    remove(p: string, name: string, follow: boolean): Promise<void>;
  };
}

export interface Target {
  readonly host: boolean;
  /** The calls, taking model paths. */
  readonly fs: RealFs;
  /** A path the target returned (mkdir -p's first directory) as a model path. */
  modelPath(real: string): string;
  /** Closes every open file and the volume, and opens it again (host: closes the files; a volume is also checked by e2fsck). */
  reopen(): Promise<void>;
  /** Closes everything; the volume is then ready for e2fsck. */
  close(): Promise<void>;
}

/** What both Node's and ext4kit's FileHandle offer of what the runner calls. */
interface OpenFile {
  write(buffer: Uint8Array, offset: number, length: number, position: number | null): Promise<{ bytesWritten: number }>;
  read(buffer: Uint8Array, offset: number, length: number, position: number | null): Promise<{ bytesRead: number }>;
  truncate(len: number): Promise<void>;
  stat(options: { bigint: true }): Promise<RealStat>;
  close(): Promise<void>;
}

function asRealHandle(h: OpenFile): RealHandle {
  return {
    write: (b, o, l, pos) => h.write(b, o, l, pos),
    read: (b, o, l, pos) => h.read(b, o, l, pos),
    truncate: (len) => h.truncate(len),
    stat: () => h.stat({ bigint: true }),
    close: () => h.close(),
  };
}

/** Node's promises API as RealFs, every path prefixed with `root`. */
function nodeFs(api: typeof fsp, root: string): RealFs {
  const p = (x: string): string => root + x;
  return {
    stat: async (x) => api.stat(p(x), { bigint: true }),
    lstat: async (x) => api.lstat(p(x), { bigint: true }),
    readdir: async (x) => api.readdir(p(x)),
    readFile: async (x) => api.readFile(p(x)),
    writeFile: async (x, data, flag, mode) => api.writeFile(p(x), data, { flag, mode }),
    appendFile: async (x, data, mode) => api.appendFile(p(x), data, { mode }),
    mkdir: async (x, mode, recursive) => api.mkdir(p(x), { mode, recursive }),
    rmdir: async (x) => api.rmdir(p(x)),
    unlink: async (x) => api.unlink(p(x)),
    rename: async (a, b) => api.rename(p(a), p(b)),
    link: async (a, b) => api.link(p(a), p(b)),
    symlink: async (t, x) => api.symlink(t, p(x)),
    readlink: async (x) => api.readlink(p(x), { encoding: 'buffer' }),
    truncate: async (x, len) => api.truncate(p(x), len),
    chmod: async (x, mode) => api.chmod(p(x), mode),
    chown: async (x, uid, gid) => api.chown(p(x), uid, gid),
    utimes: async (x, a, m) => api.utimes(p(x), a, m),
    open: async (x, flag, mode) => asRealHandle(await api.open(p(x), flag, mode)),
    mknod: async () => {
      throw new Error('mknod is not in node:fs; the host target does not run it');
    },
  };
}

/** A host directory (normally on tmpfs) whose root mirrors a fresh image's: mode 755, an empty lost+found. */
export class HostTarget implements Target {
  readonly host = true;
  readonly fs: RealFs;
  private readonly open = new Set<RealHandle>();

  constructor(private readonly root: string) {
    fs.mkdirSync(root, { recursive: true });
    fs.chmodSync(root, 0o755);
    fs.mkdirSync(path.join(root, 'lost+found'), { mode: 0o700 });
    fs.chmodSync(path.join(root, 'lost+found'), 0o700);
    const base = nodeFs(fsp, root);
    this.fs = {
      ...base,
      open: async (x, flag, mode) => {
        const inner = await base.open(x, flag, mode);
        const h: RealHandle = {
          ...inner,
          close: async () => {
            this.open.delete(h);
            await inner.close();
          },
        };
        this.open.add(h);
        return h;
      },
    };
  }

  modelPath(real: string): string {
    return real.slice(this.root.length) || '/';
  }

  async reopen(): Promise<void> {
    for (const h of [...this.open]) await h.close();
  }

  async close(): Promise<void> {
    await this.reopen();
    await fsp.rm(this.root, { recursive: true, force: true });
  }
}

/** An ext4kit volume on `image`. */
export class VolumeTarget implements Target {
  readonly host = false;
  readonly fs: RealFs;
  private vol: Volume | undefined;

  private constructor(readonly image: string, private readonly readOnly: boolean, vol: Volume) {
    this.vol = vol;
    const v = (): Volume => {
      if (this.vol === undefined) throw new Error('the volume is closed');
      return this.vol;
    };
    const pr = () => v().promises;
    this.fs = {
      stat: async (x) => pr().stat(x, { bigint: true }),
      lstat: async (x) => pr().lstat(x, { bigint: true }),
      readdir: async (x) => pr().readdir(x),
      readFile: async (x) => pr().readFile(x),
      writeFile: async (x, data, flag, mode) => pr().writeFile(x, data, { flag, mode }),
      appendFile: async (x, data, mode) => pr().appendFile(x, data, { mode }),
      mkdir: async (x, mode, recursive) => pr().mkdir(x, { mode, recursive }),
      rmdir: async (x) => pr().rmdir(x),
      unlink: async (x) => pr().unlink(x),
      rename: async (a, b) => pr().rename(a, b),
      link: async (a, b) => pr().link(a, b),
      symlink: async (t, x) => pr().symlink(t, x),
      readlink: async (x) => pr().readlink(x, { encoding: 'buffer' }),
      truncate: async (x, len) => pr().truncate(x, len),
      chmod: async (x, mode) => pr().chmod(x, mode),
      chown: async (x, uid, gid) => pr().chown(x, uid, gid),
      utimes: async (x, a, m) => pr().utimes(x, a, m),
      open: async (x, flag, mode) => asRealHandle(await pr().open(x, flag, mode)),
      mknod: async (x, mode, rdev) => pr().mknod(x, mode, rdev),
      xattrs: {
        get: async (x, name, follow) => pr().getxattr(x, name, { noFollow: !follow }),
        list: async (x, follow) => pr().listxattr(x, { noFollow: !follow }),
        set: async (x, name, value, flag, follow) => pr().setxattr(x, name, value, { ...(flag ? { flag } : {}), noFollow: !follow }),
        remove: async (x, name, follow) => pr().removexattr(x, name, { noFollow: !follow }),
      },
    };
  }

  static async open(image: string, readOnly = false): Promise<VolumeTarget> {
    return new VolumeTarget(image, readOnly, await openVolume(image, { readOnly }));
  }

  get volume(): Volume {
    if (this.vol === undefined) throw new Error('the volume is closed');
    return this.vol;
  }

  modelPath(real: string): string {
    return real;
  }

  /** Closes the volume, has e2fsck check what the close left (it must be clean mid-sequence too), opens it again. */
  async reopen(): Promise<void> {
    await this.close();
    if (!this.readOnly) {
      const r = await fsckClean(this.image);
      if (!r.ok) throw new Error(`e2fsck -fn ${this.image} exited ${r.code} after a close in the middle of the sequence:\n${r.output}`);
    }
    this.vol = await openVolume(this.image, { readOnly: this.readOnly });
  }

  async close(): Promise<void> {
    const v = this.vol;
    this.vol = undefined;
    await v?.close();
  }
}
