/**
 * An in-memory model of a POSIX filesystem as Linux presents it to a root
 * process: path walk (symlinks, '.', '..', trailing slashes, ELOOP after 40
 * links, ENAMETOOLONG for a component over 255 bytes), the namespace calls
 * with Linux's error codes in Linux's order (fs/namei.c do_mkdirat,
 * do_rmdir, do_unlinkat, do_renameat2, do_linkat, do_symlinkat, open with
 * O_CREAT), link counts, setgid inheritance, chown clearing setuid/setgid,
 * file contents with holes, and open files that outlive their last name.
 *
 * Every call is two-phase: it checks and throws ModelError (the errno code)
 * without changing anything, or returns `apply`, which makes the change.
 * The runner can then run the real call first and decide (ENOSPC on a full
 * volume) whether the change happened. The model is itself checked against
 * the Linux kernel on a host directory (model-host.test.ts), so its rules are
 * Linux's, not ours.
 */
export class ModelError extends Error {
  constructor(readonly code: string) {
    super(code);
  }
}

function fail(code: string): never {
  throw new ModelError(code);
}

/** Not comparable: the call would block or do device I/O on a real system; the runner skips it. */
export const SKIP = 'SKIP';

export type NodeType = 'file' | 'dir' | 'symlink' | 'fifo' | 'chr' | 'blk' | 'sock';

const TYPE_BITS: Record<NodeType, number> = {
  file: 0o100000, dir: 0o040000, symlink: 0o120000, fifo: 0o010000, chr: 0o020000, blk: 0o060000, sock: 0o140000,
};
export const S_ISUID = 0o4000;
export const S_ISGID = 0o2000;
const S_IXGRP = 0o010;
/** Linux MAXSYMLINKS. */
const MAX_LINKS = 40;
const NAME_MAX = 255;
const PATH_MAX = 4096;

export class MNode {
  /** Links from directories (regular files, symlinks, special files). */
  links = 1;
  /** File contents: `data` beyond `size` is always zero. */
  data: Buffer = Buffer.alloc(0);
  size = 0;
  target: Buffer = Buffer.alloc(0);
  readonly entries = new Map<string, MNode>();
  parent: MNode | undefined;
  /** A directory that was removed (rmdir, or renamed over). */
  removed = false;
  /** Open handles on it. */
  opens = 0;
  /** Exact times when the model knows them (after utimes, until something moves them). */
  atimeNs: bigint | undefined;
  mtimeNs: bigint | undefined;
  rdev = 0;
  /** Extended attributes by full name. */
  readonly xattrs = new Map<string, Buffer>();

  constructor(readonly id: number, readonly type: NodeType, public perm: number, public uid: number, public gid: number) {}

  get nlink(): number {
    if (this.type !== 'dir') return this.links;
    if (this.removed) return 0;
    let n = 2;
    for (const c of this.entries.values()) if (c.type === 'dir') n++;
    return n;
  }

  get mode(): number {
    return TYPE_BITS[this.type] | this.perm;
  }
}

/** What a stat must report for a node. */
export interface StatView {
  type: NodeType;
  mode: number;
  nlink: number;
  uid: number;
  gid: number;
  /** Files and symlinks only (a directory's size is the filesystem's business). */
  size: number | undefined;
  atimeNs: bigint | undefined;
  mtimeNs: bigint | undefined;
  rdev: number | undefined;
}

export interface ModelOptions {
  /** Symlink targets of this many bytes or more fail with ENAMETOOLONG (ext4: the block size). */
  symlinkMax: number;
  umask: number;
  uid: number;
  gid: number;
  /** Reads move atimes (the kernel with relatime); ext4kit never updates atime on read (noatime). */
  readsUpdateAtime: boolean;
}

interface Walk {
  links: number;
}

interface Parent {
  dir: MNode;
  name: string;
  type: 'norm' | 'dot' | 'dotdot' | 'root';
  trailing: boolean;
}

export interface ModelHandle {
  node: MNode;
  readable: boolean;
  writable: boolean;
  append: boolean;
  pos: number;
}

export type Apply<T> = () => T;

/** open(2) flags of Node's flag strings that the model knows. */
export const OPEN_FLAGS = {
  r: { read: true, write: false, creat: false, excl: false, trunc: false, append: false },
  'r+': { read: true, write: true, creat: false, excl: false, trunc: false, append: false },
  w: { read: false, write: true, creat: true, excl: false, trunc: true, append: false },
  'w+': { read: true, write: true, creat: true, excl: false, trunc: true, append: false },
  wx: { read: false, write: true, creat: true, excl: true, trunc: true, append: false },
  a: { read: false, write: true, creat: true, excl: false, trunc: false, append: true },
  'a+': { read: true, write: true, creat: true, excl: false, trunc: false, append: true },
  ax: { read: false, write: true, creat: true, excl: true, trunc: false, append: true },
} as const;
export type OpenFlag = keyof typeof OPEN_FLAGS;

export class FsModel {
  private nextId = 1;
  readonly root: MNode;
  /** Nodes that hold an inode: reachable by a name, or open. */
  private readonly live = new Set<MNode>();
  readonly handles: ModelHandle[] = [];
  /** A walk went above the root or through an absolute symlink (a host directory cannot mirror that). */
  escaped = false;
  /** Inode accounting for volumes that can run out: create fails with ENOSPC once `used + live >= total`. */
  inodeLimit: { total: number; used: number } | undefined;

  constructor(readonly opts: ModelOptions) {
    this.root = this.newNode('dir', 0o755, 0, 0);
    this.root.parent = undefined;
  }

  private newNode(type: NodeType, perm: number, uid: number, gid: number): MNode {
    const n = new MNode(this.nextId++, type, perm, uid, gid);
    this.live.add(n);
    return n;
  }

  /** Nodes holding an inode. */
  get liveCount(): number {
    return this.live.size;
  }

  /** An empty directory made outside the rules (lost+found of a new image). */
  addDir(name: string, perm: number): MNode {
    const d = this.newNode('dir', perm, 0, 0);
    d.parent = this.root;
    this.root.entries.set(name, d);
    return d;
  }

  // ---------------------------------------------------------------- path walk

  private walk(start: MNode, path: string, follow: boolean, w: Walk): MNode {
    if (path.length === 0) fail('ENOENT');
    if (Buffer.byteLength(path) >= PATH_MAX) fail('ENAMETOOLONG');
    let cur = path.startsWith('/') ? this.root : start;
    const comps = path.split('/').filter((c) => c.length > 0);
    const trailing = path.endsWith('/') && comps.length > 0;
    for (let i = 0; i < comps.length; i++) {
      const c = comps[i];
      const last = i === comps.length - 1;
      if (cur.type !== 'dir') fail('ENOTDIR');
      if (c === '.') continue;
      if (c === '..') {
        if (cur === this.root) this.escaped = true;
        cur = cur.parent ?? this.root;
        continue;
      }
      const next = this.lookupIn(cur, c);
      if (next === undefined) fail('ENOENT');
      cur = next.type === 'symlink' && (!last || follow || trailing) ? this.followLink(next, cur, w) : next;
    }
    if (trailing && cur.type !== 'dir') fail('ENOTDIR');
    return cur;
  }

  private lookupIn(dir: MNode, name: string): MNode | undefined {
    if (Buffer.byteLength(name) > NAME_MAX) fail('ENAMETOOLONG');
    return dir.entries.get(name);
  }

  private followLink(link: MNode, dir: MNode, w: Walk): MNode {
    if (++w.links > MAX_LINKS) fail('ELOOP');
    const t = link.target.toString('utf8');
    if (t.startsWith('/')) this.escaped = true;
    return this.walk(dir, t, true, w);
  }

  /** Everything but the last component, walked (Linux: filename_parentat). */
  private parentOf(start: MNode, path: string, w: Walk): Parent {
    if (path.length === 0) fail('ENOENT');
    if (Buffer.byteLength(path) >= PATH_MAX) fail('ENAMETOOLONG');
    const abs = path.startsWith('/');
    const comps = path.split('/').filter((c) => c.length > 0);
    if (comps.length === 0) {
      // On a host directory standing in for the root, '/' is an ordinary directory in its parent.
      this.escaped = true;
      return { dir: this.root, name: '', type: 'root', trailing: false };
    }
    const trailing = path.endsWith('/');
    const name = comps.pop()!;
    const dir = comps.length === 0 ? (abs ? this.root : start) : this.walk(start, (abs ? '/' : '') + comps.join('/'), true, w);
    if (dir.type !== 'dir') fail('ENOTDIR');
    const type = name === '.' ? 'dot' : name === '..' ? 'dotdot' : 'norm';
    if (type === 'dotdot' && dir === this.root) this.escaped = true;
    return { dir, name, type, trailing };
  }

  resolve(path: string, follow: boolean): MNode {
    return this.walk(this.root, path, follow, { links: 0 });
  }

  // ---------------------------------------------------------------- helpers

  statOf(n: MNode): StatView {
    const sized = n.type === 'file' || n.type === 'symlink';
    return {
      type: n.type, mode: n.mode, nlink: n.nlink, uid: n.uid, gid: n.gid,
      size: sized ? (n.type === 'file' ? n.size : n.target.length) : undefined,
      atimeNs: n.atimeNs, mtimeNs: n.mtimeNs, rdev: n.type === 'chr' || n.type === 'blk' ? n.rdev : undefined,
    };
  }

  /** A read of `n` happened (its atime may have moved). */
  noteRead(n: MNode): void {
    if (this.opts.readsUpdateAtime) n.atimeNs = undefined;
  }

  private modified(n: MNode): void {
    n.mtimeNs = undefined;
    // Linux (relatime) and ext4kit alike leave atime alone on a write; only reads move it.
  }

  private checkInode(): void {
    const l = this.inodeLimit;
    if (l !== undefined && l.used + this.live.size >= l.total) fail('ENOSPC');
  }

  private release(n: MNode): void {
    if (n.type === 'dir' ? n.removed && n.opens === 0 : n.links === 0 && n.opens === 0) this.live.delete(n);
  }

  /** Creates a child (ownership and setgid as Linux's inode_init_owner for a root caller). */
  private create(dir: MNode, name: string, type: NodeType, perm: number): MNode {
    let gid = this.opts.gid;
    if ((dir.perm & S_ISGID) !== 0) {
      gid = dir.gid;
      if (type === 'dir') perm |= S_ISGID;
    }
    const n = this.newNode(type, perm, this.opts.uid, gid);
    if (type === 'dir') n.parent = dir;
    dir.entries.set(name, n);
    this.modified(dir);
    return n;
  }

  private removeEntry(dir: MNode, name: string): void {
    const n = dir.entries.get(name)!;
    dir.entries.delete(name);
    this.modified(dir);
    if (n.type === 'dir') n.removed = true;
    else n.links--;
    this.release(n);
  }

  writeBytes(n: MNode, pos: number, bytes: Uint8Array): void {
    const end = pos + bytes.length;
    if (end > n.data.length) {
      const grown = Buffer.alloc(Math.max(end, Math.min(n.data.length * 2, end + (8 << 20))));
      n.data.copy(grown, 0, 0, n.size);
      n.data = grown;
    }
    n.data.set(bytes, pos);
    if (end > n.size) n.size = end;
    this.modified(n);
  }

  setSize(n: MNode, len: number): void {
    if (len < n.size) n.data.fill(0, len, n.size);
    else if (len > n.data.length) {
      const grown = Buffer.alloc(len);
      n.data.copy(grown, 0, 0, n.size);
      n.data = grown;
    }
    n.size = len;
    this.modified(n);
  }

  contents(n: MNode): Buffer {
    return n.data.subarray(0, n.size);
  }

  /** Every name below the root (not the root), depth first, with its node; `skip` names are left out with their subtrees. */
  entries(skip: ReadonlySet<string> = new Set()): Array<{ path: string; node: MNode; parent: MNode }> {
    const out: Array<{ path: string; node: MNode; parent: MNode }> = [];
    const visit = (dir: MNode, prefix: string): void => {
      for (const [name, node] of [...dir.entries].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
        const path = `${prefix}/${name}`;
        if (skip.has(path)) continue;
        out.push({ path, node, parent: dir });
        if (node.type === 'dir') visit(node, path);
      }
    };
    visit(this.root, '');
    return out;
  }

  // ---------------------------------------------------------------- read calls

  stat(path: string, follow: boolean): Apply<StatView> {
    const n = this.resolve(path, follow);
    return () => this.statOf(n);
  }

  readdir(path: string): Apply<string[]> {
    const n = this.resolve(path, true);
    if (n.type !== 'dir') fail('ENOTDIR');
    return () => {
      this.noteRead(n);
      return [...n.entries.keys()].sort();
    };
  }

  readFile(path: string): Apply<Buffer> {
    const n = this.resolve(path, true);
    if (n.type === 'dir') fail('EISDIR');
    if (n.type !== 'file') fail(SKIP);
    return () => {
      this.noteRead(n);
      return Buffer.from(this.contents(n));
    };
  }

  readlink(path: string): Apply<Buffer> {
    const n = this.resolve(path, false);
    if (n.type !== 'symlink') fail('EINVAL');
    return () => {
      this.noteRead(n);
      return Buffer.from(n.target);
    };
  }

  // ---------------------------------------------------------------- open

  /**
   * open(2) with O_CREAT: the node to open, or the directory and name to
   * create it in. A dangling symlink is followed and its target created, as
   * Linux does without O_EXCL.
   */
  private openCreate(start: MNode, path: string, excl: boolean, w: Walk): { node: MNode } | { dir: MNode; name: string } {
    const p = this.parentOf(start, path, w);
    // '.', '..' and '/' name a directory that exists: do_open's O_EXCL check comes before its directory check.
    if (p.type !== 'norm') fail(excl ? 'EEXIST' : 'EISDIR');
    if (p.trailing) fail('EISDIR');
    const n = this.lookupIn(p.dir, p.name);
    if (n === undefined) return { dir: p.dir, name: p.name };
    if (excl) fail('EEXIST');
    if (n.type === 'symlink') {
      if (++w.links > MAX_LINKS) fail('ELOOP');
      const t = n.target.toString('utf8');
      if (t.startsWith('/')) this.escaped = true;
      return this.openCreate(p.dir, t, false, w);
    }
    return { node: n };
  }

  /** Resolves open(path, flag): the node (existing or to be made). `apply` creates/truncates and returns it. */
  private openNode(path: string, flag: OpenFlag, mode: number): Apply<MNode> {
    const f = OPEN_FLAGS[flag];
    let found: { node: MNode } | { dir: MNode; name: string };
    if (f.creat) found = this.openCreate(this.root, path, f.excl, { links: 0 });
    else found = { node: this.resolve(path, true) };
    if ('node' in found) {
      const n = found.node;
      if (n.type === 'dir' && (f.write || f.creat)) fail('EISDIR');
      if (n.type !== 'file' && n.type !== 'dir') fail(SKIP);
      return () => {
        if (f.trunc && f.write && n.type === 'file') this.setSize(n, 0);
        return n;
      };
    }
    const { dir, name } = found;
    this.checkInode();
    return () => this.create(dir, name, 'file', mode & 0o7777 & ~this.opts.umask);
  }

  /** fs.writeFile / fs.appendFile: open with the flag, write everything from the start (or the end). */
  writeFile(path: string, flag: OpenFlag, mode: number, data: Uint8Array): Apply<MNode> {
    const open = this.openNode(path, flag, mode);
    return () => {
      const n = open();
      this.writeBytes(n, OPEN_FLAGS[flag].append ? n.size : 0, data);
      return n;
    };
  }

  /** The node writeFile would write, and whether it exists now (for an ENOSPC that may have left part of it). */
  writeFileTarget(path: string, flag: OpenFlag): { node: MNode } | { dir: MNode; name: string } {
    const f = OPEN_FLAGS[flag];
    return this.openCreate(this.root, path, f.excl, { links: 0 });
  }

  /** Adopts what a writeFile cut short by ENOSPC left: the node (created with `mode` if needed) holding `contents`. */
  adoptPartialWrite(target: { node: MNode } | { dir: MNode; name: string }, mode: number, contents: Buffer): void {
    const n = 'node' in target ? target.node : this.create(target.dir, target.name, 'file', mode & 0o7777 & ~this.opts.umask);
    this.setSize(n, 0);
    this.writeBytes(n, 0, contents);
  }

  open(path: string, flag: OpenFlag, mode: number): Apply<number> {
    const open = this.openNode(path, flag, mode);
    const f = OPEN_FLAGS[flag];
    return () => {
      const node = open();
      node.opens++;
      this.handles.push({ node, readable: f.read, writable: f.write, append: f.append, pos: 0 });
      return this.handles.length - 1;
    };
  }

  /** Linux: Node's truncate(path) opens 'r+' and ftruncates. */
  truncate(path: string, len: number): Apply<void> {
    const n = this.resolve(path, true);
    if (n.type === 'dir') fail('EISDIR');
    if (n.type !== 'file') fail(SKIP);
    return () => this.setSize(n, len);
  }

  // ---------------------------------------------------------------- handles

  /** Where a write lands (O_APPEND: the end, whatever the position) and how to apply the bytes it took. */
  handleWrite(h: ModelHandle, position: number | null): { at: number; apply: (bytes: Uint8Array) => void } {
    if (!h.writable) fail('EBADF');
    const at = h.append ? h.node.size : position ?? h.pos;
    return {
      at,
      apply: (bytes) => {
        this.writeBytes(h.node, at, bytes);
        if (position === null) h.pos = at + bytes.length;
      },
    };
  }

  handleRead(h: ModelHandle, position: number | null, len: number): Apply<Buffer> {
    if (!h.readable) fail('EBADF');
    if (h.node.type === 'dir') fail('EISDIR');
    return () => {
      const at = position ?? h.pos;
      const n = Math.max(0, Math.min(len, h.node.size - at));
      if (position === null) h.pos += n;
      this.noteRead(h.node);
      return Buffer.from(h.node.data.subarray(at, at + n));
    };
  }

  handleTruncate(h: ModelHandle, len: number): Apply<void> {
    if (!h.writable || h.node.type !== 'file') fail('EINVAL');
    return () => this.setSize(h.node, len);
  }

  handleClose(i: number): void {
    const [h] = this.handles.splice(i, 1);
    h.node.opens--;
    this.release(h.node);
  }

  closeAll(): void {
    while (this.handles.length > 0) this.handleClose(this.handles.length - 1);
  }

  // ---------------------------------------------------------------- namespace

  mkdir(path: string, mode: number): Apply<void> {
    const w = { links: 0 };
    const p = this.parentOf(this.root, path, w);
    if (p.type !== 'norm') fail('EEXIST');
    if (this.lookupIn(p.dir, p.name) !== undefined) fail('EEXIST');
    this.checkInode();
    // Linux vfs_mkdir keeps only the permission and sticky bits of the mode.
    return () => void this.create(p.dir, p.name, 'dir', mode & 0o1777 & ~this.opts.umask);
  }

  rmdir(path: string): Apply<void> {
    const p = this.parentOf(this.root, path, { links: 0 });
    if (p.type === 'dot') fail('EINVAL');
    if (p.type === 'dotdot') fail('ENOTEMPTY');
    if (p.type === 'root') fail('EBUSY');
    const n = this.lookupIn(p.dir, p.name);
    if (n === undefined) fail('ENOENT');
    if (n.type !== 'dir') fail('ENOTDIR');
    if (n.entries.size > 0) fail('ENOTEMPTY');
    return () => this.removeEntry(p.dir, p.name);
  }

  unlink(path: string): Apply<void> {
    const p = this.parentOf(this.root, path, { links: 0 });
    if (p.type !== 'norm') fail('EISDIR');
    const n = this.lookupIn(p.dir, p.name);
    if (n === undefined) fail('ENOENT');
    if (p.trailing) fail(n.type === 'dir' ? 'EISDIR' : 'ENOTDIR');
    if (n.type === 'dir') fail('EISDIR');
    return () => this.removeEntry(p.dir, p.name);
  }

  /** The child of `top` on the way down to `below`, if `top` is a proper ancestor of `below`. */
  private childTowards(top: MNode, below: MNode): MNode | undefined {
    let cur: MNode | undefined = below;
    while (cur !== undefined && cur.parent !== top) cur = cur.parent;
    return cur;
  }

  rename(from: string, to: string): Apply<void> {
    const w = { links: 0 };
    const op = this.parentOf(this.root, from, w);
    const np = this.parentOf(this.root, to, w);
    if (op.type !== 'norm' || np.type !== 'norm') fail('EBUSY');
    const moving = this.lookupIn(op.dir, op.name);
    if (moving === undefined) fail('ENOENT');
    const victim = this.lookupIn(np.dir, np.name);
    const isDir = moving.type === 'dir';
    if (!isDir && (op.trailing || np.trailing)) fail('ENOTDIR');
    // lock_rename's trap: the child of the common ancestor on the other side.
    let trap: MNode | undefined;
    if (op.dir !== np.dir) trap = this.childTowards(op.dir, np.dir) ?? this.childTowards(np.dir, op.dir);
    if (trap !== undefined && moving === trap) fail('EINVAL');
    if (trap !== undefined && victim === trap) fail('ENOTEMPTY');
    if (victim === moving) return () => undefined;
    if (victim !== undefined) {
      if (isDir && victim.type !== 'dir') fail('ENOTDIR');
      if (!isDir && victim.type === 'dir') fail('EISDIR');
      if (victim.type === 'dir' && victim.entries.size > 0) fail('ENOTEMPTY');
    }
    return () => {
      if (victim !== undefined) this.removeEntry(np.dir, np.name);
      op.dir.entries.delete(op.name);
      np.dir.entries.set(np.name, moving);
      if (isDir) moving.parent = np.dir;
      this.modified(op.dir);
      this.modified(np.dir);
    };
  }

  /** filename_create: the directory and free name for a new link/symlink/node. */
  private createTarget(path: string, w: Walk): { dir: MNode; name: string } {
    const p = this.parentOf(this.root, path, w);
    if (p.type !== 'norm') fail('EEXIST');
    if (this.lookupIn(p.dir, p.name) !== undefined) fail('EEXIST');
    if (p.trailing) fail('ENOENT');
    return { dir: p.dir, name: p.name };
  }

  link(existing: string, path: string): Apply<void> {
    const w = { links: 0 };
    const n = this.walk(this.root, existing, false, w);
    const t = this.createTarget(path, w);
    if (n.type === 'dir') fail('EPERM');
    return () => {
      t.dir.entries.set(t.name, n);
      n.links++;
      this.modified(t.dir);
    };
  }

  symlink(target: string, path: string): Apply<void> {
    const len = Buffer.byteLength(target);
    if (len === 0) fail('ENOENT');
    if (len >= PATH_MAX) fail('ENAMETOOLONG');
    const t = this.createTarget(path, { links: 0 });
    if (len >= this.opts.symlinkMax) fail('ENAMETOOLONG');
    this.checkInode();
    return () => {
      const n = this.create(t.dir, t.name, 'symlink', 0o777);
      n.target = Buffer.from(target, 'utf8');
    };
  }

  mknod(path: string, type: 'fifo' | 'chr' | 'blk' | 'sock', perm: number, rdev: number): Apply<void> {
    const t = this.createTarget(path, { links: 0 });
    this.checkInode();
    return () => {
      const n = this.create(t.dir, t.name, type, perm & 0o7777 & ~this.opts.umask);
      if (type === 'chr' || type === 'blk') n.rdev = rdev;
    };
  }

  // ---------------------------------------------------------------- attributes

  chmod(path: string, mode: number): Apply<void> {
    const n = this.resolve(path, true);
    return () => {
      n.perm = mode & 0o7777;
    };
  }

  /** chown as root: ids of -1 are left alone; a non-directory loses setuid, and setgid when group-executable. */
  chown(path: string, uid: number, gid: number): Apply<void> {
    const n = this.resolve(path, true);
    return () => {
      if (n.type !== 'dir') {
        n.perm &= ~S_ISUID;
        if ((n.perm & S_IXGRP) !== 0) n.perm &= ~S_ISGID;
      }
      if (uid !== -1) n.uid = uid;
      if (gid !== -1) n.gid = gid;
    };
  }

  utimes(path: string, atimeNs: bigint, mtimeNs: bigint): Apply<void> {
    const n = this.resolve(path, true);
    return () => {
      n.atimeNs = atimeNs;
      n.mtimeNs = mtimeNs;
    };
  }

  // ---------------------------------------------------------------- extended attributes

  /** Linux xattr_permission: user.* only on regular files and directories (EPERM to write, ENODATA to read elsewhere). */
  private userXattrAllowed(n: MNode, name: string): boolean {
    return !name.startsWith('user.') || n.type === 'file' || n.type === 'dir';
  }

  getxattr(path: string, name: string, follow: boolean): Apply<Buffer> {
    const n = this.resolve(path, follow);
    const v = this.userXattrAllowed(n, name) ? n.xattrs.get(name) : undefined;
    if (v === undefined) fail('ENODATA');
    return () => Buffer.from(v);
  }

  listxattr(path: string, follow: boolean): Apply<string[]> {
    const n = this.resolve(path, follow);
    return () => [...n.xattrs.keys()].sort();
  }

  /** The node an xattr call on `path` reaches (for the runner's space check). */
  xattrNode(path: string, follow: boolean): MNode {
    return this.resolve(path, follow);
  }

  setxattr(path: string, name: string, value: Buffer, flag: 'create' | 'replace' | undefined, follow: boolean): Apply<void> {
    const n = this.resolve(path, follow);
    if (!this.userXattrAllowed(n, name)) fail('EPERM');
    const exists = n.xattrs.has(name);
    if (flag === 'create' && exists) fail('EEXIST');
    if (flag === 'replace' && !exists) fail('ENODATA');
    return () => void n.xattrs.set(name, Buffer.from(value));
  }

  removexattr(path: string, name: string, follow: boolean): Apply<void> {
    const n = this.resolve(path, follow);
    if (!this.userXattrAllowed(n, name)) fail('EPERM');
    if (!n.xattrs.has(name)) fail('ENODATA');
    return () => void n.xattrs.delete(name);
  }

  /** Used by the runner to undo a directory created by a recursive mkdir the real side did not get to. */
  dropEmptyDir(path: string): void {
    const p = this.parentOf(this.root, path, { links: 0 });
    const n = p.dir.entries.get(p.name);
    if (n === undefined || n.type !== 'dir' || n.entries.size > 0) throw new Error(`model: cannot drop ${path}`);
    this.removeEntry(p.dir, p.name);
  }

  /** Bytes of file data the model holds (an upper bound of the data blocks the files need). */
  dataBytes(): number {
    let total = 0;
    for (const n of this.live) if (n.type === 'file') total += n.size;
    return total;
  }
}
