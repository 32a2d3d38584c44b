/**
 * What a writable mount records in the superblock, outside any transaction
 * (Linux: ext4_setup_super at mount, ext4_put_super at unmount, both through
 * ext4_commit_super, which writes the superblock in place):
 *  - at mount: the mount count and time; with a journal, needs_recovery
 *    (RECOVER) — set and flushed before the first transaction reaches the
 *    log, so a crash from then on always leads to a replay — and
 *    orphan_present with an orphan file; without a journal, the "valid"
 *    state bit is cleared until a clean unmount (so e2fsck checks the
 *    filesystem after a crash);
 *  - at unmount, after the journal is empty and everything is home: the
 *    flags cleared again and the state restored.
 */
import type { Ext4Super } from './ext4-super.js';
import { assert } from '../base/assert.js';
import { encodeSuperblock, setSuperblockChecksum, SUPERBLOCK_OFFSET, SUPERBLOCK_SIZE, superblockBlockOf, STATE_VALID_FS } from '../format/superblock.js';
import * as F from '../format/features.js';

/** Writes the in-memory superblock to its home location now and flushes. */
export async function writeSuperblockNow(fs: Ext4Super): Promise<void> {
  const b = await fs.cache.buffer(superblockBlockOf(fs.sb));
  assert(b.runningTid === undefined && b.checkpointData === undefined, 'superblock written in place while a transaction holds it');
  const off = SUPERBLOCK_OFFSET % fs.blockSize;
  const view = b.data.subarray(off, off + SUPERBLOCK_SIZE);
  encodeSuperblock(fs.sb, view);
  if (fs.metadataCsum) setSuperblockChecksum(view);
  await fs.device.write(SUPERBLOCK_OFFSET, view);
  await fs.device.flush();
}

/** Remembers the state bits the mount found, to restore at unmount. */
export interface MountedState {
  state: number;
}

export async function markMountedWritable(fs: Ext4Super, nowMs: number): Promise<MountedState> {
  const sb = fs.sb;
  const found = { state: sb.state };
  sb.mountCount = (sb.mountCount + 1) & 0xffff;
  sb.mountTime = Math.floor(nowMs / 1000);
  if (fs.journal?.hasLog === true) {
    sb.featureIncompat |= F.INCOMPAT_RECOVER;
    if ((sb.featureCompat & F.COMPAT_ORPHAN_FILE) !== 0) sb.featureRoCompat |= F.RO_COMPAT_ORPHAN_PRESENT;
  } else {
    sb.state &= ~STATE_VALID_FS;
  }
  await writeSuperblockNow(fs);
  return found;
}

export async function markCleanUnmount(fs: Ext4Super, found: MountedState, nowMs: number, orphansLeft: boolean): Promise<void> {
  const sb = fs.sb;
  sb.featureIncompat &= ~F.INCOMPAT_RECOVER;
  if (!orphansLeft) sb.featureRoCompat &= ~F.RO_COMPAT_ORPHAN_PRESENT;
  sb.state = found.state;
  sb.writeTime = Math.floor(nowMs / 1000);
  await writeSuperblockNow(fs);
}
