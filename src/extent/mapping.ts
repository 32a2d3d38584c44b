/**
 * The answer to "where is logical block L of this file?": a run of logical
 * blocks that is either on disk (written or unwritten) or a hole. Both the
 * extent tree and the legacy block map produce these.
 */
export type BlockState = 'written' | 'unwritten' | 'hole';

export interface BlockMapping {
  /** First logical block of the run. */
  lblk: number;
  /** Number of blocks in the run (>= 1). */
  len: number;
  /** First physical block; 0 for a hole. */
  pblk: number;
  state: BlockState;
}

/** Logical block numbers are 32-bit in ext4: no file maps a block at or past 2^32. */
export const MAX_LBLK = 0x1_0000_0000;

/**
 * What the extent layer needs to know of an inode. The in-memory inode
 * (inode/ext4-inode.ts, a layer above) satisfies it.
 */
export interface MappedInode {
  readonly ino: number;
  /** i_block holds the extent root or the block map. */
  readonly disk: { readonly block: Uint8Array };
  /** Seed of the inode's extent block checksums. */
  readonly csumSeed: number;
  readonly usesExtents: boolean;
  /**
   * The decoded extent root, kept by the extent layer between lookups. It is
   * a decoding of i_block, so whoever changes i_block must clear it (under
   * dataSem, with the esSeq increment: R1).
   */
  extentRootCache: unknown;
}
