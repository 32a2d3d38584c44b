/**
 * Journaling the superblock and the group descriptors.
 *
 * Both are summaries that many handles change (free counts, flags): rather
 * than re-encoding them on every allocation, a handle joins the block to the
 * transaction and registers a commit hook; when the transaction locks, the
 * hook encodes the in-memory values once, with their checksums (Linux keeps
 * the same split: counters in memory, written when the block is committed).
 * The in-memory `fs.sb` and `fs.groups[g]` are therefore the truth while the
 * volume is open, and must be changed only inside a handle.
 */
import type { Ext4Super } from './ext4-super.js';
import { CommitPhase, type Handle } from '../journal/transaction.js';
import { encodeSuperblock, setSuperblockChecksum, SUPERBLOCK_OFFSET, SUPERBLOCK_SIZE, superblockBlockOf } from '../format/superblock.js';
import { encodeGroupDesc, groupDescLocation, setGroupDescChecksum } from '../format/group-desc.js';
import * as F from '../format/features.js';

/** Joins the primary superblock to the handle's transaction; it is encoded from `fs.sb` at commit. */
export async function markSuperDirty(fs: Ext4Super, h: Handle): Promise<void> {
  const blockNr = superblockBlockOf(fs.sb);
  const b = await fs.cache.buffer(blockNr);
  h.getWriteAccess(b);
  h.dirtyMetadata(b);
  h.onCommit(CommitPhase.SUPERBLOCK, 'superblock', () => {
    const off = SUPERBLOCK_OFFSET % fs.blockSize;
    const view = b.data.subarray(off, off + SUPERBLOCK_SIZE);
    encodeSuperblock(fs.sb, view);
    if (fs.metadataCsum) setSuperblockChecksum(view);
  });
}

/** Joins group `group`'s descriptor block to the transaction; the descriptor is encoded from `fs.groups[group]` at commit. */
export async function markGroupDirty(fs: Ext4Super, h: Handle, group: number): Promise<void> {
  const loc = groupDescLocation(fs.sb, group);
  const b = await fs.cache.buffer(loc.block);
  h.getWriteAccess(b);
  h.dirtyMetadata(b);
  h.onCommit(CommitPhase.GROUP_DESCS, `gd ${group}`, () => {
    const view = b.data.subarray(loc.offset, loc.offset + fs.descSize);
    const gd = fs.groups[group];
    encodeGroupDesc(gd, view, fs.descSize);
    const csum = setGroupDescChecksum(fs.sb, fs.csumSeed, group, view);
    if (csum !== undefined) gd.checksum = csum;
  });
}

/** Whether the filesystem keeps group descriptor checksums (and so trusts bg_flags and bg_itable_unused). */
export function hasGroupChecksums(fs: Ext4Super): boolean {
  return (fs.sb.featureRoCompat & (F.RO_COMPAT_GDT_CSUM | F.RO_COMPAT_METADATA_CSUM)) !== 0;
}
