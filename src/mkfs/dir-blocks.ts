/**
 * The directory blocks of a new filesystem: the root's (".", "..",
 * "lost+found") and lost+found's (".", "..", then empty blocks that give
 * e2fsck room to reconnect files without allocating), laid out as
 * libext2fs's ext2fs_new_dir_block and ext2fs_link write them.
 */
import { dirEntrySize, DIR_TAIL_SIZE, encodeDirEntry, EXT4_FT_DIR, writeDirBlockChecksum } from '../format/dirent.js';

export interface DirBlockFormat {
  blockSize: number;
  /** filetype feature: entries carry their file type. */
  fileType: boolean;
  /** metadata_csum: the block ends in a checksum tail. */
  tail: boolean;
}

export interface DirEntrySpec {
  inode: number;
  name: string;
  /** Record length; the last entry's is computed to reach the end of the block (or its tail). */
  recLen?: number;
}

const DOT = new Uint8Array([0x2e]);
const DOTDOT = new Uint8Array([0x2e, 0x2e]);

function nameBytes(name: string): Uint8Array {
  if (name === '.') return DOT;
  if (name === '..') return DOTDOT;
  return new TextEncoder().encode(name);
}

/**
 * A directory block holding `entries` in order, every one a directory (all
 * mkfs makes); each but the last takes its minimal record length unless
 * given, the last takes the rest. `inodeSeed` (metadata_csum) fills the tail.
 */
export function dirBlock(fmt: DirBlockFormat, entries: readonly DirEntrySpec[], inodeSeed: number | undefined): Uint8Array {
  const block = new Uint8Array(fmt.blockSize);
  const end = fmt.blockSize - (fmt.tail ? DIR_TAIL_SIZE : 0);
  let off = 0;
  entries.forEach((e, i) => {
    const name = nameBytes(e.name);
    const recLen = i === entries.length - 1 ? end - off : (e.recLen ?? dirEntrySize(name.length));
    encodeDirEntry({ inode: e.inode, recLen, fileType: e.inode !== 0 && fmt.fileType ? EXT4_FT_DIR : 0, name }, block, off);
    off += recLen;
  });
  if (fmt.tail && inodeSeed !== undefined) writeDirBlockChecksum(inodeSeed, block);
  return block;
}

/** The root directory's block: ".", ".." (both the root) and lost+found. */
export function rootDirBlock(fmt: DirBlockFormat, lostFoundIno: number, inodeSeed: number | undefined): Uint8Array {
  return dirBlock(fmt, [{ inode: 2, name: '.' }, { inode: 2, name: '..' }, { inode: lostFoundIno, name: 'lost+found' }], inodeSeed);
}

/** The first block of a new directory: "." and "..". */
export function firstDirBlock(fmt: DirBlockFormat, self: number, parent: number, inodeSeed: number | undefined): Uint8Array {
  return dirBlock(fmt, [{ inode: self, name: '.' }, { inode: parent, name: '..' }], inodeSeed);
}

/**
 * The block an inline directory becomes when it first grows: "." and ".."
 * at their minimal lengths and an empty record for the rest (what
 * libext2fs's inline-to-block conversion writes).
 */
export function convertedInlineDirBlock(fmt: DirBlockFormat, self: number, parent: number, inodeSeed: number | undefined): Uint8Array {
  return dirBlock(fmt, [{ inode: self, name: '.' }, { inode: parent, name: '..' }, { inode: 0, name: '' }], inodeSeed);
}

/** An empty directory block (one unused record spanning it). */
export function emptyDirBlock(fmt: DirBlockFormat, inodeSeed: number | undefined): Uint8Array {
  return dirBlock(fmt, [{ inode: 0, name: '' }], inodeSeed);
}
