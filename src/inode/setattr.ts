/**
 * Changing an inode's attributes (Linux: ext4_setattr, minus size, which is
 * truncate.ts): mode bits, owner, times. Each change is one small handle;
 * ctime moves to now with every change, as POSIX requires.
 */
import type { Ext4Inode } from './ext4-inode.js';
import { journalOf, nowTimestamp, type InodeContext } from './inode-context.js';
import type { Timestamp } from '../format/inode.js';
import { S_IFMT, S_ISGID, S_ISUID } from '../format/inode.js';
import { FsError } from '../base/errors.js';

export interface AttrChange {
  /** Permission bits (07777); the file type bits are kept. */
  mode?: number;
  /** -1 (or undefined) leaves it unchanged, as chown(2). */
  uid?: number;
  gid?: number;
  atime?: Timestamp;
  mtime?: Timestamp;
}

/** ext4 stores 32-bit owner ids; -1 means "unchanged" in chown(2). */
function checkId(id: number | undefined, what: string): number | undefined {
  if (id === undefined || id === -1) return undefined;
  if (!Number.isInteger(id) || id < 0 || id > 0xfffffffe) throw new FsError('EINVAL', `${what} ${id} is not a valid id`);
  return id;
}

export async function setAttributes(ctx: InodeContext, inode: Ext4Inode, change: AttrChange): Promise<void> {
  const uid = checkId(change.uid, 'uid');
  const gid = checkId(change.gid, 'gid');
  if (change.mode !== undefined && (!Number.isInteger(change.mode) || change.mode < 0)) throw new FsError('EINVAL');
  await inode.rwsem.withExclusive(() =>
    journalOf(ctx).run(1, async (h) => {
      const d = inode.disk;
      if (change.mode !== undefined) d.mode = (d.mode & S_IFMT) | (change.mode & 0o7777);
      if (uid !== undefined || gid !== undefined) {
        // chown by root keeps setuid/setgid on directories only (Linux clears them on other files).
        if ((d.mode & S_IFMT) !== 0o040000) d.mode &= ~(S_ISUID | ((d.mode & 0o010) !== 0 ? S_ISGID : 0));
        if (uid !== undefined) d.uid = uid;
        if (gid !== undefined) d.gid = gid;
      }
      if (change.atime !== undefined) d.atime = change.atime;
      if (change.mtime !== undefined) d.mtime = change.mtime;
      d.ctime = nowTimestamp(ctx);
      await ctx.inodes.writeInode(h, inode);
    }));
}

/** A time given as Node accepts it (seconds as a number, a numeric string, or a Date) as ext4 stores it. */
export function toTimestamp(t: number | string | Date | bigint): Timestamp {
  if (typeof t === 'bigint') {
    const sec = t / 1_000_000_000n;
    const nsec = t - sec * 1_000_000_000n;
    return nsec < 0n ? { sec: Number(sec - 1n), nsec: Number(nsec + 1_000_000_000n) } : { sec: Number(sec), nsec: Number(nsec) };
  }
  const seconds = t instanceof Date ? t.getTime() / 1000 : Number(t);
  if (!Number.isFinite(seconds)) throw new FsError('EINVAL', `invalid time ${String(t)}`);
  const sec = Math.floor(seconds);
  const nsec = Math.min(999_999_999, Math.round((seconds - sec) * 1e9));
  return { sec, nsec };
}
