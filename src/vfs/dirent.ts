/**
 * `fs.Dirent` and `fs.Dir` for volumes. A Dirent's type comes from the
 * directory entry's file type byte; on filesystems without the filetype
 * feature the inode is read, as Node does for DT_UNKNOWN.
 */
import * as D from '../format/dirent.js';
import * as I from '../format/inode.js';
import type { Dir, Dirent } from './types.js';

/** EXT4_FT_* from a mode, for entries whose type byte is unknown. */
export function fileTypeFromMode(mode: number): number {
  switch (mode & I.S_IFMT) {
    case I.S_IFREG: return D.EXT4_FT_REG_FILE;
    case I.S_IFDIR: return D.EXT4_FT_DIR;
    case I.S_IFCHR: return D.EXT4_FT_CHRDEV;
    case I.S_IFBLK: return D.EXT4_FT_BLKDEV;
    case I.S_IFIFO: return D.EXT4_FT_FIFO;
    case I.S_IFSOCK: return D.EXT4_FT_SOCK;
    case I.S_IFLNK: return D.EXT4_FT_SYMLINK;
    default: return D.EXT4_FT_UNKNOWN;
  }
}

export class Ext4Dirent<Name extends string | Buffer = string> implements Dirent<Name> {
  constructor(readonly name: Name, readonly parentPath: string, private readonly fileType: number) {}
  get path(): string { return this.parentPath; }
  isFile(): boolean { return this.fileType === D.EXT4_FT_REG_FILE; }
  isDirectory(): boolean { return this.fileType === D.EXT4_FT_DIR; }
  isSymbolicLink(): boolean { return this.fileType === D.EXT4_FT_SYMLINK; }
  isBlockDevice(): boolean { return this.fileType === D.EXT4_FT_BLKDEV; }
  isCharacterDevice(): boolean { return this.fileType === D.EXT4_FT_CHRDEV; }
  isFIFO(): boolean { return this.fileType === D.EXT4_FT_FIFO; }
  isSocket(): boolean { return this.fileType === D.EXT4_FT_SOCK; }
}

/** `fs.Dir` over a listing taken when the directory was opened. */
export class Ext4Dir implements Dir {
  private index = 0;
  private closed = false;
  constructor(readonly path: string, private readonly entries: Dirent[]) {}

  async read(): Promise<Dirent | null> {
    if (this.closed) throw Object.assign(new Error('Directory handle was closed'), { code: 'ERR_DIR_CLOSED' });
    return this.entries[this.index++] ?? null;
  }

  async close(): Promise<void> {
    if (this.closed) throw Object.assign(new Error('Directory handle was closed'), { code: 'ERR_DIR_CLOSED' });
    this.closed = true;
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Dirent> {
    try {
      for (;;) {
        const e = await this.read();
        if (e === null) return;
        yield e;
      }
    } finally {
      if (!this.closed) await this.close();
    }
  }
}
