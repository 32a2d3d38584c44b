/**
 * An internal way into a writable volume for tools that build whole trees,
 * such as the CLI's `cp -a HOST IMG:/` and `mkfs -d`: by directory inode and
 * name instead of by path.
 *
 * Each `promises` call walks its path from the root and dresses its errors
 * for Node; an import that has just created a directory already holds its
 * inode, so every walk below it is repeated work (and on a writable volume
 * the path cache is cleared by every create, so each walk is a real one).
 * This writer takes the directory inode and the name's bytes and goes
 * through the very same namespace, file and attribute operations as the
 * `promises` calls (the same locks, journal handles, reservations and
 * checks); only the path layer is left out. Errors are the layers' own
 * FsErrors without a syscall or path: the caller knows which file it was.
 */
import { FsError } from '../base/errors.js';
import type { Ext4Inode } from '../inode/ext4-inode.js';
import { setAttributes, type AttrChange } from '../inode/setattr.js';
import type { Mounted } from './mounted.js';
import { resolve, type PathArg } from './namei.js';
import { createNode, linkNode, lookupChild, parentAndName, removeNode, type Creator, type NewNode } from './namespace.js';
import { truncateTo, writeAt } from './file-io.js';
import { mountedOf } from './volume.js';
import type { Volume } from './types.js';

export type { AttrChange } from '../inode/setattr.js';

/** A node to create: its type and exact permission bits, owner, and what the type needs (device number, symlink target). */
export interface NodeSpec extends NewNode {
  uid: number;
  gid: number;
}

export class TreeWriter {
  private constructor(private readonly m: Mounted) {}

  /** The writer of an engine volume opened writable; ENOTSUP for a stand-in, EROFS for a read-only volume. */
  static of(volume: Volume): TreeWriter {
    const m = mountedOf(volume);
    if (m === undefined) throw new FsError('ENOTSUP', 'not an ext4kit volume');
    if (!m.writable) throw new FsError('EROFS');
    return new TreeWriter(m);
  }

  /** Owner and umask of what the path calls (`promises.mkdir`, `open` with O_CREAT, ...) create from now on. */
  setCreator(creator: Creator): void {
    this.m.creator = creator;
  }

  /** The inode at `path` (the last symlink followed when `follow`), or undefined when nothing is there. */
  async lookup(path: PathArg, follow: boolean): Promise<Ext4Inode | undefined> {
    try {
      return (await resolve(this.m, path, follow)).inode;
    } catch (e) {
      if (e instanceof FsError && e.code === 'ENOENT') return undefined;
      throw e;
    }
  }

  /** What `name` names in directory `dir`, or undefined. */
  child(dir: Ext4Inode, name: Uint8Array): Promise<Ext4Inode | undefined> {
    return lookupChild(this.m, dir, name);
  }

  /**
   * Creates `name` in `dir` with exactly the given mode and owner (no umask;
   * a setgid directory still hands down its group, as on Linux: set the
   * owner again afterwards to override it). EEXIST if the name is taken.
   */
  create(dir: Ext4Inode, name: Uint8Array, spec: NodeSpec): Promise<Ext4Inode> {
    return createNode(this.m, name, spec, { uid: spec.uid, gid: spec.gid, umask: 0 }, parentAndName(dir, name));
  }

  /** Gives `inode` (not a directory) another name, `name` in `dir`. */
  link(inode: Ext4Inode, dir: Ext4Inode, name: Uint8Array): Promise<void> {
    return linkNode(this.m, inode, parentAndName(dir, name));
  }

  /** Removes the name `name` from `dir`: a directory (which must be empty) when `isDir`, else any other kind. */
  remove(dir: Ext4Inode, name: Uint8Array, isDir: boolean): Promise<void> {
    return removeNode(this.m, parentAndName(dir, name), isDir);
  }

  /** Writes `data` at byte `pos` of a regular file; returns the bytes written. */
  async write(inode: Ext4Inode, pos: number, data: Uint8Array): Promise<number> {
    return (await writeAt(this.m, inode, pos, data)).written;
  }

  /** Sets a regular file's size (holes past the old end, or the tail freed). */
  truncate(inode: Ext4Inode, len: number): Promise<void> {
    return truncateTo(this.m, inode, len);
  }

  /** Changes permission bits, owner and times (ctime becomes now). Changing the owner of a non-directory clears setuid/setgid, as chown(2) does: set the mode after the owner. */
  setAttrs(inode: Ext4Inode, change: AttrChange): Promise<void> {
    return setAttributes(this.m, inode, change);
  }
}
