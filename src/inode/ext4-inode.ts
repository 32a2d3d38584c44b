/**
 * An inode in memory (Linux: `struct ext4_inode_info`): the decoded on-disk
 * inode, a copy of its raw bytes (the in-inode xattr area lives there), the
 * checksum seed its blocks use, its locks, and the mapping state that later
 * layers keep per inode.
 *
 * While a volume is writable the in-memory inode is the truth: operations
 * change `disk` inside a journal handle and then call
 * `InodeTable.writeInode`, which encodes it into its inode table block.
 */
import type { Inode } from '../format/inode.js';
import * as I from '../format/inode.js';
import { RwSemaphore } from '../base/locks.js';

export class Ext4Inode {
  /**
   * Extent status sequence counter (R1). Every change to this inode's block
   * mapping increments it exactly once, under `dataSem` held exclusively;
   * every IOMap handed out carries its value as the validity cookie. It
   * starts from a filesystem-wide counter, so an inode evicted and read back
   * never repeats a value an old mapping of it carried.
   */
  esSeq: number;

  /** The extent layer's decoded i_block (see MappedInode.extentRootCache). */
  extentRootCache: unknown = undefined;

  /** The xattr layer's parse of the in-inode attributes; cleared by whoever rewrites them. */
  ibodyXattrCache: unknown = undefined;

  /**
   * References held by open files and operations in progress (Linux: i_count).
   * A referenced inode is never evicted from the inode cache: two in-memory
   * copies of one inode would each think their locks and esSeq guard it.
   */
  refCount = 0;

  /** Set when the last link went while the inode was still open: it is freed when the last reference goes. */
  orphaned = false;

  private rw: RwSemaphore | undefined;
  private ds: RwSemaphore | undefined;

  constructor(
    readonly ino: number,
    public disk: Inode,
    /** The inode's bytes as last read or written (s_inode_size long). */
    public raw: Uint8Array,
    /** The filesystem's checksum seed with metadata_csum, else undefined (see csumSeed). */
    private readonly fsCsumSeed: number | undefined,
    esSeqStart = 0,
  ) {
    this.esSeq = esSeqStart;
  }

  private seed: number | undefined;

  /**
   * Seed of this inode's extent, directory and htree block checksums (0
   * without metadata_csum). Worked out on first use: a walk over thousands
   * of small files never checksums a block of most of them. i_generation,
   * which it covers, never changes while the inode is in memory.
   */
  get csumSeed(): number {
    return (this.seed ??= this.fsCsumSeed === undefined ? 0 : I.inodeCsumSeed(this.fsCsumSeed, this.ino, this.disk.generation));
  }

  /** The inode lock (Linux: i_rwsem): serialises changes to size, data and, for directories, entries. */
  get rwsem(): RwSemaphore {
    return (this.rw ??= new RwSemaphore('inode.rwsem', this.ino));
  }

  /** Guards the extent tree, the extent status cache and esSeq (Linux: i_data_sem; R1). */
  get dataSem(): RwSemaphore {
    return (this.ds ??= new RwSemaphore('inode.dataSem', this.ino));
  }

  /** Whether evicting this inode from the cache would lose state. */
  get pinned(): boolean {
    return this.refCount > 0 || this.orphaned
      || (this.rw !== undefined && (this.rw.writeLocked || this.rw.readers > 0))
      || (this.ds !== undefined && (this.ds.writeLocked || this.ds.readers > 0));
  }

  get mode(): number { return this.disk.mode; }
  get size(): number { return this.disk.size; }
  get flags(): number { return this.disk.flags; }

  get isDir(): boolean { return (this.disk.mode & I.S_IFMT) === I.S_IFDIR; }
  get isReg(): boolean { return (this.disk.mode & I.S_IFMT) === I.S_IFREG; }
  get isSymlink(): boolean { return (this.disk.mode & I.S_IFMT) === I.S_IFLNK; }
  get usesExtents(): boolean { return (this.disk.flags & I.EXT4_EXTENTS_FL) !== 0; }
  get hasInlineData(): boolean { return (this.disk.flags & I.EXT4_INLINE_DATA_FL) !== 0; }
  get isIndexedDir(): boolean { return (this.disk.flags & I.EXT4_INDEX_FL) !== 0; }
}
