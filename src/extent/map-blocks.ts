/**
 * `mapBlocks` (Linux: `ext4_map_blocks`, lookup only): logical block to
 * physical run through whichever scheme the inode uses — an extent tree, or
 * the legacy block map of ext2/ext3 files.
 */
import type { Ext4Super } from '../super/ext4-super.js';
import { mapExtentTree, mapExtentTreeSync } from './extent-tree.js';
import { mapBlockMap, mapBlockMapSync } from './block-map.js';
import type { BlockMapping, MappedInode } from './mapping.js';

export function mapBlocks(fs: Ext4Super, inode: MappedInode, lblk: number): Promise<BlockMapping> {
  return inode.usesExtents ? mapExtentTree(fs, inode, lblk) : mapBlockMap(fs, inode, lblk);
}

/** `mapBlocks` without waiting; undefined when a mapping block cannot be read synchronously (then use `mapBlocks`). */
export function mapBlocksSync(fs: Ext4Super, inode: MappedInode, lblk: number): BlockMapping | undefined {
  return inode.usesExtents ? mapExtentTreeSync(fs, inode, lblk) : mapBlockMapSync(fs, inode, lblk);
}
