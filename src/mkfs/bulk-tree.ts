/**
 * The first pass of mkfs -d's bulk builder: from the scanned host tree to
 * the image's inodes, before any block is placed. Every kept entry gets its
 * inode number (hard links share one), every inode its link count, and
 * every directory the list of entries it will hold; entries that cannot be
 * copied are dropped here, with everything below them, so the passes after
 * this one never meet a failure of the host tree.
 *
 * Inode numbers go in walk order from the first free one, each group's
 * table filled before the next is used: the scan lists a directory's
 * entries before walking its subdirectories, so a directory's files sit
 * together in the inode table, and mke2fs -d (ext2fs_new_inode's first free
 * inode from the parent's group) numbers the same way on a new filesystem.
 */
import { readlinkSync } from 'node:fs';
import { FsError } from '../base/errors.js';
import { EXT4_FT_BLKDEV, EXT4_FT_CHRDEV, EXT4_FT_DIR, EXT4_FT_FIFO, EXT4_FT_REG_FILE, EXT4_FT_SOCK, EXT4_FT_SYMLINK, EXT4_FT_UNKNOWN } from '../format/dirent.js';
import { S_IFBLK, S_IFCHR, S_IFDIR, S_IFIFO, S_IFLNK, S_IFMT, S_IFREG, S_IFSOCK } from '../format/inode.js';
import type { HostNode } from '../host/host-scan.js';
import { LOST_FOUND_INO, ROOT_INO } from './special-files.js';

/** EXT4_LINK_MAX: the most names an inode (or subdirectories a directory) can have. */
export const EXT4_LINK_MAX = 65000;
const LOST_FOUND = Buffer.from('lost+found');

/** One inode of the tree as the image will hold it. */
export interface TreeInode {
  ino: number;
  /** The first host node of this inode: its lstat and xattrs are the inode's. */
  node: number;
  /** i_mode (type and permission bits). */
  mode: number;
  /** i_links_count. */
  links: number;
  /** A directory's entries: host node indices, in the order the host listed them. */
  children: number[] | undefined;
  /** A symlink's target. */
  target: Buffer | undefined;
}

export interface TreeModel {
  nodes: readonly HostNode[];
  /** Image inode number of each host node; 0 for an entry that is not copied. */
  nodeIno: Uint32Array;
  /** The tree's inodes in ascending number (root first, lost+found when the host has one). */
  inodes: TreeInode[];
  byIno: Map<number, TreeInode>;
  /** The host tree has a lost+found of its own at the top: its entries go into the image's. */
  hostLostFound: boolean;
}

export interface TreeModelOptions {
  /** Inode numbers already in use (the special files). */
  used: ReadonlySet<number>;
  inodesCount: number;
  blockSize: number;
  /** dir_nlink: a directory with more than EXT4_LINK_MAX subdirectories counts 1 link. */
  dirNlink: boolean;
  onError(path: Buffer, e: unknown): void;
}

/** The directory entry file type of an i_mode. */
export function fileTypeOf(mode: number): number {
  switch (mode & S_IFMT) {
    case S_IFREG: return EXT4_FT_REG_FILE;
    case S_IFDIR: return EXT4_FT_DIR;
    case S_IFLNK: return EXT4_FT_SYMLINK;
    case S_IFCHR: return EXT4_FT_CHRDEV;
    case S_IFBLK: return EXT4_FT_BLKDEV;
    case S_IFIFO: return EXT4_FT_FIFO;
    case S_IFSOCK: return EXT4_FT_SOCK;
    default: return EXT4_FT_UNKNOWN;
  }
}

class InodeNumbers {
  private next = 1;
  constructor(private readonly used: ReadonlySet<number>, private readonly count: number) {}

  take(): number {
    while (this.used.has(this.next)) this.next++;
    if (this.next > this.count) throw new FsError('ENOSPC', `the tree needs more than the filesystem's ${this.count} inodes`);
    return this.next++;
  }
}

/** Assigns inodes to the scanned tree whose node 0 is the source directory (it becomes the root). */
export function buildTreeModel(nodes: readonly HostNode[], o: TreeModelOptions): TreeModel {
  const nodeIno = new Uint32Array(nodes.length);
  const inodes: TreeInode[] = [];
  const byIno = new Map<number, TreeInode>();
  const numbers = new InodeNumbers(o.used, o.inodesCount);
  const linked = new Map<string, TreeInode>();
  let hostLostFound = false;

  const add = (ino: number, node: number): TreeInode => {
    const mode = nodes[node].st.mode;
    const isDir = (mode & S_IFMT) === S_IFDIR;
    const t: TreeInode = { ino, node, mode, links: isDir ? 2 : 1, children: isDir ? [] : undefined, target: undefined };
    inodes.push(t);
    byIno.set(ino, t);
    nodeIno[node] = ino;
    return t;
  };
  add(ROOT_INO, 0);

  for (let i = 1; i < nodes.length; i++) {
    const n = nodes[i];
    const parent = nodeIno[n.parent] === 0 ? undefined : byIno.get(nodeIno[n.parent]);
    if (parent === undefined) continue;
    const type = n.st.mode & S_IFMT;
    try {
      if (parent.ino === ROOT_INO && n.name.equals(LOST_FOUND)) {
        // The image has its lost+found already (mke2fs -d fills the existing one in the same way).
        if (type !== S_IFDIR) throw new FsError('EEXIST', 'lost+found exists in the new filesystem and is not replaced by a non-directory');
        hostLostFound = true;
        add(LOST_FOUND_INO, i);
        parent.children!.push(i);
        parent.links++;
        continue;
      }
      if (type === S_IFDIR) {
        add(numbers.take(), i);
        parent.children!.push(i);
        parent.links++;
        continue;
      }
      const key = n.st.nlink > 1 ? n.st.id : undefined;
      const first = key === undefined ? undefined : linked.get(key);
      if (first !== undefined) {
        if (first.links >= EXT4_LINK_MAX) throw new FsError('EMLINK', `too many links to one inode (${EXT4_LINK_MAX})`);
        first.links++;
        nodeIno[i] = first.ino;
        parent.children!.push(i);
        continue;
      }
      let target: Buffer | undefined;
      if (type === S_IFLNK) {
        target = readlinkSync(n.path, { encoding: 'buffer' });
        // The target and its NUL must fit one block (Linux: ENAMETOOLONG above the block size).
        if (target.length >= o.blockSize) throw new FsError('ENAMETOOLONG', `symlink target of ${target.length} bytes does not fit a ${o.blockSize}-byte block`);
      }
      const t = add(numbers.take(), i);
      t.target = target;
      if (key !== undefined) linked.set(key, t);
      parent.children!.push(i);
    } catch (e) {
      o.onError(n.path, e);
    }
  }
  if (!hostLostFound) byIno.get(ROOT_INO)!.links++;

  for (const t of inodes) {
    if (t.children === undefined || t.links <= EXT4_LINK_MAX) continue;
    // Linux's dir_nlink: past the limit a directory counts 1, meaning "many".
    if (!o.dirNlink) throw new FsError('EMLINK', `directory ${nodes[t.node].path.toString()} has more than ${EXT4_LINK_MAX - 2} subdirectories (the filesystem lacks dir_nlink)`);
    t.links = 1;
  }
  inodes.sort((a, b) => a.ino - b.ino);
  return { nodes, nodeIno, inodes, byIno, hostLostFound };
}
