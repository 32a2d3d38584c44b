/**
 * Directories of a copy, made on the host by the walk itself (cp-tree.ts),
 * before anything in them is queued, so that the files that go in them can
 * be created by either thread in any order.
 *
 * Also who owns a new entry: as root, `cp -a` leaves chown out where it would
 * change nothing, for an entry this copy created, owned by us, in a
 * directory whose group new entries certainly get. That is most of a tree
 * copied by root from an image of root's files, and saves a system call per
 * file. "Certainly" is learnt from each directory as it is after it was
 * made and chowned (`DirState`): new entries get our uid when the directory
 * got it, and their group is known when both rules Linux file systems use
 * agree — the System V rule (the directory's group if it is set-group-ID,
 * else our egid) and the BSD rule of `grpid` mounts (always the directory's
 * group).
 */
import { chownSync, lstatSync, mkdirSync } from 'node:fs';
import type { ApplyOptions } from './cp-ops.js';
import type { HostPath } from '../host/host-ops.js';

const S_ISGID = 0o2000;
const EUID = process.geteuid?.() ?? -1;
const EGID = process.getegid?.() ?? -1;

/** A directory the copy made or merged into. */
export interface DirState {
  path: HostPath;
  /** The group a new entry in it certainly gets; undefined when that is not certain. */
  newGid: number | undefined;
}

/** Whether a new entry in a directory whose new entries get `newGid` (undefined or -1: unknown) has owner uid:gid already. */
export function ownedAlready(newGid: number | undefined, uid: number, gid: number): boolean {
  return newGid !== undefined && newGid >= 0 && uid === EUID && gid === newGid;
}

/** The directory at `path` as it is now: its owner, and the group its new entries certainly get. */
function inspect(path: HostPath): { uid: number; gid: number; newGid: number | undefined } {
  const st = lstatSync(path);
  let newGid: number | undefined;
  if (st.uid === EUID) {
    if ((st.mode & S_ISGID) !== 0) newGid = st.gid;
    else if (st.gid === EGID) newGid = EGID;
  }
  return { uid: st.uid, gid: st.gid, newGid };
}

/** The error for a non-directory where a directory goes (GNU cp's words). */
function notADirectory(path: HostPath): Error {
  return Object.assign(new Error('cannot overwrite non-directory with directory'), {
    code: 'ENOTDIR', path: typeof path === 'string' ? path : path.toString('utf8'),
  });
}

/**
 * Makes a directory of the copy (or merges into the one there), owned as the
 * image says when keeping owners. Made owner-writable so the contents can go
 * in; its real mode is set at the end. Throws what the host refuses.
 */
export function makeDir(
  path: HostPath, mode: number, uid: number, gid: number, parent: DirState | undefined, opts: ApplyOptions,
): { dir: DirState; existed: boolean } {
  const { archive, root } = opts;
  let existed = false;
  try {
    mkdirSync(path, archive ? 0o700 : (mode & 0o1777) | 0o700);
  } catch (e) {
    if ((e as { code?: string }).code !== 'EEXIST') throw e;
    if (lstatSync(path, { throwIfNoEntry: false })?.isDirectory() !== true) throw notADirectory(path);
    existed = true;
  }
  if (!(archive && root)) return { dir: { path, newGid: undefined }, existed };
  const skipped = !existed && ownedAlready(parent?.newGid, uid, gid);
  if (!skipped) chownSync(path, uid, gid);
  let now = inspect(path);
  if (skipped && (now.uid !== uid || now.gid !== gid)) {
    // The file system did not follow the rules after all: chown all that is made there from now on.
    parent!.newGid = undefined;
    chownSync(path, uid, gid);
    now = inspect(path);
  }
  return { dir: { path, newGid: now.newGid }, existed };
}
