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

/** I_BLOCK holds 60 bytes of inline data. */
export const INLINE_IBLOCK_BYTES = 60;

/**
 * The bytes an inline-data inode stores: up to i_size, but no more than
 * i_block and system.data hold. An i_size beyond that is legal — mke2fs -d
 * stores a file that is all hole this way — and the rest reads as zeros, as
 * Linux reads it (only the first page comes from the inode).
 */
export function inlineData(fs: Ext4Super, inode: Ext4Inode): Uint8Array {
  const extra = inlineDataXattr(fs, inode);
  const stored = Math.min(inode.size, INLINE_IBLOCK_BYTES + (extra?.length ?? 0));
  return inlineDataBytes(inode.disk.block, extra, stored, inode.ino);
}

/** The parent inode number and the entries of an inline directory. */
export function inlineDir(fs: Ext4Super, inode: Ext4Inode): { parent: number; entries: DirEntry[] } {
  return parseInlineDir(inode.disk.block, inlineDataXattr(fs, inode), inode.ino, fs.hasFileType);
}
