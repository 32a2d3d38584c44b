/**
 * Inline data (Linux: fs/ext4/inline.c): a small file or directory stored in
 * the inode itself — the first 60 bytes in i_block, the rest in the in-inode
 * xattr `system.data`.
 */
import type { Ext4Super } from '../super/ext4-super.js';
import type { Ext4Inode } from './ext4-inode.js';
import { inlineDataXattr } from '../xattr/xattr-read.js';
import { inlineDataBytes, parseInlineDir } from '../format/inline-data.js';
import type { DirEntry } from '../format/dirent.js';
import { corrupted } from '../base/errors.js';

/** I_BLOCK holds 60 bytes of inline data. */
export const INLINE_IBLOCK_BYTES = 60;

/** The bytes of an inline-data file. */
export function inlineData(fs: Ext4Super, inode: Ext4Inode): Uint8Array {
  const extra = inlineDataXattr(fs, inode);
  if (inode.size > INLINE_IBLOCK_BYTES + (extra?.length ?? 0)) {
    throw corrupted('inode', inode.ino, `inline data of ${inode.size} bytes does not fit in i_block and system.data`);
  }
  return inlineDataBytes(inode.disk.block, extra, inode.size);
}

/** The parent inode number and the entries of an inline directory. */
export function inlineDir(fs: Ext4Super, inode: Ext4Inode): { parent: number; entries: DirEntry[] } {
  return parseInlineDir(inode.disk.block, inlineDataXattr(fs, inode), inode.ino, fs.hasFileType);
}
