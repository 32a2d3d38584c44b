/**
 * File data and size changes as the vfs calls them: each takes the inode's
 * rwsem (exclusive for changes, shared for reads on a writable volume), so
 * a read never sees a block mapped before its data is written, and a
 * truncate never frees blocks under a reader.
 */
import type { Ext4Inode } from '../inode/ext4-inode.js';
import type { Mounted } from './mounted.js';
import { writeData } from '../iomap/file-write.js';
import { evictInode, truncateInode } from '../inode/truncate.js';
import { FsError } from '../base/errors.js';

/** Reads file bytes (see FileReader.read), under the shared inode lock when the volume is writable. */
export async function readData(m: Mounted, inode: Ext4Inode, pos: number, target: Uint8Array, off: number, len: number): Promise<number> {
  if (!m.writable) return m.reader.read(inode, pos, target, off, len);
  return inode.rwsem.withShared(() => m.reader.read(inode, pos, target, off, len));
}

function checkWritableFile(inode: Ext4Inode): void {
  if (inode.isDir) throw new FsError('EISDIR');
  if (!inode.isReg) throw new FsError('EINVAL', 'not a regular file');
}

/** Writes at `pos`, or at the end of the file (read under the lock) for O_APPEND; returns the bytes written. */
export async function writeAt(m: Mounted, inode: Ext4Inode, pos: number | 'append', data: Uint8Array): Promise<{ written: number; end: number }> {
  checkWritableFile(inode);
  return inode.rwsem.withExclusive(async () => {
    const at = pos === 'append' ? inode.size : pos;
    if (!Number.isSafeInteger(at) || at < 0) throw new FsError('EINVAL', `invalid position ${String(pos)}`);
    const written = await writeData(m, inode, at, data);
    if (written === 0 && data.length > 0) throw new FsError('ENOSPC');
    return { written, end: at + written };
  });
}

/** Sets the file's size (ftruncate / truncate). */
export async function truncateTo(m: Mounted, inode: Ext4Inode, len: number): Promise<void> {
  checkWritableFile(inode);
  if (!Number.isSafeInteger(len) || len < 0) throw new FsError('EINVAL', `invalid length ${len}`);
  await inode.rwsem.withExclusive(() => truncateInode(m, inode, len));
}

/** Takes a reference that keeps the inode (and its blocks, once unlinked) alive. */
export function holdInode(inode: Ext4Inode): void {
  inode.refCount++;
}

/** Drops a reference; the last one on an inode with no links frees it (Linux: iput). */
export async function releaseInode(m: Mounted, inode: Ext4Inode): Promise<void> {
  inode.refCount--;
  if (inode.refCount === 0 && inode.disk.linksCount === 0 && m.writable) {
    await inode.rwsem.withExclusive(() => evictInode(m, inode));
    inode.orphaned = false;
  }
}
