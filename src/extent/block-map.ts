/**
 * Lookups in the legacy block map of ext2/ext3 files (Linux:
 * `ext4_ind_map_blocks`): twelve direct pointers in i_block, then single,
 * double and triple indirect blocks of little-endian 32-bit block numbers.
 * A zero pointer is a hole (at any level: a zero indirect pointer is a hole
 * over its whole subtree). The walk is at most four steps.
 */
import type { Ext4Super } from '../super/ext4-super.js';
import { indirectPath, decodeBlockMapSlots, readU32Array, maxBlockMapBlocks } from '../format/indirect.js';
import { MAX_LBLK, type BlockMapping, type MappedInode } from './mapping.js';

const DIRECT_BLOCKS = 12;

function indirectSlots(data: Uint8Array): Uint32Array {
  return readU32Array(data);
}

/**
 * The lookup as a walk that yields each indirect block it needs (checked to
 * lie inside the filesystem) and is resumed with its pointers; returns the
 * mapping containing `lblk`, extended over physically contiguous pointers in
 * the same block. The drivers below read the blocks with or without waiting.
 */
function* walkBlockMap(fs: Ext4Super, inode: MappedInode, lblk: number): Generator<number, BlockMapping, Uint32Array> {
  const apb = fs.blockSize / 4;
  const addressable = maxBlockMapBlocks(fs.blockSize);
  if (lblk >= addressable) return { lblk, len: MAX_LBLK - lblk, pblk: 0, state: 'hole' };
  const { level, offsets } = indirectPath(lblk, apb);
  let slots: Uint32Array = decodeBlockMapSlots(inode.disk.block);
  // Walk down; at each level `slots` is the array the next offset indexes into.
  for (let i = 0; i < level; i++) {
    const ptr = slots[offsets[i]];
    if (ptr === 0) {
      // The whole subtree under this pointer is a hole: find where lblk sits in it.
      let span = 1;
      let rem = 0;
      for (let k = level; k > i; k--) {
        rem += offsets[k] * span;
        span *= apb;
      }
      return { lblk, len: span - rem, pblk: 0, state: 'hole' };
    }
    fs.checkBlocks(ptr, 1, 'inode', inode.ino);
    slots = yield ptr;
  }
  const j = offsets[level];
  const end = level === 0 ? DIRECT_BLOCKS : slots.length;
  const first = slots[j];
  let len = 1;
  if (first === 0) {
    while (j + len < end && slots[j + len] === 0) len++;
    return { lblk, len, pblk: 0, state: 'hole' };
  }
  while (j + len < end && slots[j + len] === first + len) len++;
  fs.checkBlocks(first, len, 'inode', inode.ino);
  return { lblk, len, pblk: first, state: 'written' };
}

/** The mapping containing logical block `lblk`, extended over physically contiguous pointers in the same block. */
export async function mapBlockMap(fs: Ext4Super, inode: MappedInode, lblk: number): Promise<BlockMapping> {
  const walk = walkBlockMap(fs, inode, lblk);
  for (let r = walk.next(); ; ) {
    if (r.done === true) return r.value;
    r = walk.next(await fs.cache.readDecoded(r.value, 'indirect', indirectSlots));
  }
}

/** `mapBlockMap` without waiting; undefined when an indirect block cannot be read synchronously. */
export function mapBlockMapSync(fs: Ext4Super, inode: MappedInode, lblk: number): BlockMapping | undefined {
  const walk = walkBlockMap(fs, inode, lblk);
  for (let r = walk.next(); ; ) {
    if (r.done === true) return r.value;
    const slots = fs.cache.readDecodedSync(r.value, 'indirect', indirectSlots);
    if (slots === undefined) return undefined;
    r = walk.next(slots);
  }
}
