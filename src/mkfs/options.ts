/**
 * What a caller can ask of `mkfs`. The names follow mke2fs's options; each
 * field says which one.
 */

export interface MkfsOptions {
  /**
   * Filesystem size in bytes. For a path that does not exist yet the file is
   * created sparse at this size; for an existing file or device the
   * filesystem covers the first `size` bytes. Default: the whole file or
   * device (rounded down to 4 KiB, as mke2fs does).
   */
  size?: number;
  /** -b: 1024, 2048 or 4096. Default from the size class (1024 below 512 MiB, else 4096). */
  blockSize?: number;
  /** -L: at most 16 bytes of UTF-8. */
  label?: string;
  /** -U: the filesystem UUID (text or 16 bytes). Default: a random one. */
  uuid?: string | Uint8Array;
  /** -N: at least this many inodes. */
  inodes?: number;
  /** -i: one inode per this many bytes of filesystem. */
  bytesPerInode?: number;
  /** -I: bytes per inode, a power of two from 128 to the block size. Default 256. */
  inodeSize?: number;
  /** -O: features to add or, with a leading `^`, remove: ['inline_data', '^64bit']. */
  features?: readonly string[];
  /** -J size=: journal size in MiB. Default from the filesystem size, as mke2fs chooses. */
  journalSizeMB?: number;
  /** -E root_owner=: owner of the root directory. Default 0:0. */
  rootOwner?: { uid: number; gid: number };
  /** -m: percentage of blocks reserved for root. Default 5. */
  reservedPercent?: number;
  /** -F: overwrite a file or device that already holds an ext2/3/4 filesystem. */
  force?: boolean;
  /** Creation time (seconds since the epoch, or a Date); default now. For reproducible images. */
  time?: number | Date;
  /** -E hash_seed=: the directory hash seed (a UUID). Default: random. */
  hashSeed?: string | Uint8Array;
  /**
   * -E lazy_itable_init: when the device's old contents cannot be discarded,
   * zero only the inode table blocks in use and leave the rest to the
   * kernel (the groups are then not marked ITABLE_ZEROED). Default true, as
   * mke2fs on Linux. New files and files mkfs can truncate read as zeros and
   * are always fully initialized.
   */
  lazyItableInit?: boolean;
  /** -E lazy_journal_init: do not zero the journal of a device that cannot be discarded. Default false. */
  lazyJournalInit?: boolean;
  /** -E assume_storage_prezeroed: the device already reads as zeros everywhere. Default false. */
  assumeZeroed?: boolean;
  /**
   * -d: fill the new filesystem from a host directory, as `mke2fs -d` does:
   * its entries become the root's, everything kept (modes, owners,
   * nanosecond times, hard links, symlinks, device nodes, fifos, sockets,
   * xattrs, the holes of sparse files), and the directory's own mode,
   * owner, times and xattrs go to the root. Needs the extent feature.
   */
  populate?: MkfsPopulate;
}

/** Progress of the copy mkfs -d makes. */
export interface MkfsProgress {
  /** Bytes of file data copied. */
  bytes(n: number): void;
  /** One more regular file done. */
  file(): void;
  /** The copy has ended (successfully or not). */
  done(): void;
}

export interface MkfsPopulate {
  /** The host directory. */
  dir: string;
  /**
   * Called for each entry or attribute that cannot be copied (unreadable,
   * a name ext4 cannot store, a symlink target longer than a block); the
   * rest is still copied. Without it the first such failure fails mkfs.
   * `path` is the host path.
   */
  onError?: (path: Buffer, error: unknown) => void;
  /** Called once the tree is scanned, with its size in bytes and regular files; returns where progress goes. */
  progress?: (totalBytes: number, totalFiles: number) => MkfsProgress;
}
