// The ext2fs package (libext2fs in WebAssembly) ships no type declarations.
// These cover only the parts the benchmark worker calls, as observed in its
// lib/fs.js: a node:fs-like promises API over a mounted image.
declare module 'ext2fs' {
  import type { Disk } from 'file-disk';

  namespace ext2fs {
    interface Ext2Stats {
      mode: number;
      size: number;
      mtime: Date;
      isDirectory(): boolean;
      isFile(): boolean;
      isSymbolicLink(): boolean;
    }

    interface Ext2FileHandle {
      // Note: its write ignores `offset` (always 0), so callers pass subarrays.
      read(buffer: Buffer, offset: number, length: number, position: number): Promise<{ bytesRead: number; buffer: Buffer }>;
      write(buffer: Buffer, offset: number, length: number, position: number): Promise<{ bytesWritten: number; buffer: Buffer }>;
      close(): Promise<void>;
    }

    interface Ext2Promises {
      readdir(path: string): Promise<string[]>;
      lstat(path: string): Promise<Ext2Stats>;
      readlink(path: string): Promise<string>;
      open(path: string, flags: string, mode?: number): Promise<Ext2FileHandle>;
      mkdir(path: string, mode?: number): Promise<void>;
      symlink(target: string, path: string): Promise<void>;
    }

    interface Ext2Fs {
      promises: Ext2Promises;
    }

    function withMountedDisk<T>(disk: Disk, offset: number, fn: (fs: Ext2Fs) => Promise<T>): Promise<T>;
  }

  export = ext2fs;
}
