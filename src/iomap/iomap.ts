/**
 * The iomap model (Linux: include/linux/iomap.h, fs/iomap/iter.c). A file
 * system answers "how is this byte range of the file stored?" with an
 * `IOMap`: one contiguous piece — a hole, blocks on disk (written or
 * unwritten), or data inline in the inode — and generic code moves the
 * bytes. `iomapIterate` is the small loop that drives this: map, let the
 * actor process part of the mapping, advance, map the rest.
 */
import { assert } from '../base/assert.js';
import type { Ext4Inode } from '../inode/ext4-inode.js';

export const enum IOMapType {
  /** No blocks: reads as zeros. */
  HOLE = 0,
  /** Blocks reserved for delayed allocation: data only in the page cache. */
  DELALLOC = 1,
  /** Written blocks on the device at `addr`. */
  MAPPED = 2,
  /** Allocated but never written (unwritten extent): reads as zeros. */
  UNWRITTEN = 3,
  /** Data stored in the inode itself (inline_data). */
  INLINE = 4,
}

/** IOMAP_F_NEW: blocks were freshly allocated for this mapping. */
export const IOMAP_F_NEW = 1 << 0;
/** IOMAP_F_STALE: the actor found the mapping's cookie outdated (R2) and stopped; map again. */
export const IOMAP_F_STALE = 1 << 1;

export interface IOMap {
  /** File offset (bytes) where the mapping starts; may be before the position asked for. */
  offset: number;
  /** Length in bytes. */
  length: number;
  type: IOMapType;
  /** Device byte address of `offset` for MAPPED and UNWRITTEN; -1 otherwise. */
  addr: number;
  flags: number;
  /**
   * The inode's esSeq when this mapping was made (R1). A mapping is valid only
   * while `inode.esSeq` still equals it.
   */
  cookie: number;
  /** For INLINE: the file's bytes. */
  inlineData?: Uint8Array;
}

export interface IOMapOps {
  /** Maps the range starting at `pos` (at most `length` bytes are of interest). */
  begin(inode: Ext4Inode, pos: number, length: number): Promise<IOMap>;
  /** Whether a mapping handed out earlier still describes the file (R2). */
  valid(inode: Ext4Inode, iomap: IOMap): boolean;
}

/**
 * Calls `actor` over [pos, pos+length) one mapping at a time. The actor
 * returns how many bytes it processed, starting at the position it was given
 * (0 < n <= len); if it processed fewer than offered — for example because
 * the mapping went stale — the rest is mapped again.
 */
export async function iomapIterate(
  ops: IOMapOps,
  inode: Ext4Inode,
  pos: number,
  length: number,
  actor: (iomap: IOMap, pos: number, len: number) => Promise<number> | number,
): Promise<void> {
  while (length > 0) {
    const iomap = await ops.begin(inode, pos, length);
    assert(iomap.offset <= pos && pos < iomap.offset + iomap.length, () =>
      `iomap [${iomap.offset}, +${iomap.length}) does not cover position ${pos}`);
    const len = Math.min(length, iomap.offset + iomap.length - pos);
    const done = await actor(iomap, pos, len);
    assert(done >= 0 && done <= len, () => `iomap actor processed ${done} of ${len} bytes`);
    if (done === 0) {
      // Only a stale mapping may make no progress; the next begin() re-maps it.
      assert((iomap.flags & IOMAP_F_STALE) !== 0, 'iomap actor made no progress on a valid mapping');
      continue;
    }
    pos += done;
    length -= done;
  }
}
