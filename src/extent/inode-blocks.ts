/**
 * i_blocks bookkeeping. The field counts 512-byte sectors (so a 4 KiB block
 * adds 8), except in an inode flagged EXT4_HUGE_FILE_FL, where it counts
 * filesystem blocks. e2fsck recomputes it from the blocks the inode owns —
 * data, extent tree or indirect blocks, and its xattr block — so every
 * allocation and free made for an inode must be counted here.
 */
import type { Ext4Super } from '../super/ext4-super.js';
import { assert } from '../base/assert.js';
import { EXT4_HUGE_FILE_FL } from '../format/inode.js';
import { corrupted } from '../base/errors.js';

export function addInodeBlocks(
  fs: Ext4Super,
  inode: { readonly ino: number; readonly disk: { blocks: number; flags: number } },
  deltaBlocks: number,
): void {
  assert(Number.isInteger(deltaBlocks), 'block count delta is an integer');
  const unit = (inode.disk.flags & EXT4_HUGE_FILE_FL) !== 0 ? 1 : fs.blockSize / 512;
  const next = inode.disk.blocks + deltaBlocks * unit;
  if (next < 0) throw corrupted('inode', inode.ino, `i_blocks would go negative (${inode.disk.blocks} + ${deltaBlocks * unit})`);
  // Without huge_file only 32 bits of i_blocks exist (2 TiB of sectors).
  assert(fs.hasHugeFile ? next < 2 ** 48 : next < 2 ** 32, () => `inode ${inode.ino} i_blocks ${next} overflows the field`);
  inode.disk.blocks = next;
}
