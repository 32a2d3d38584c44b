/**
 * A block of the orphan file (orphan_file feature, inode s_orphan_file_inum):
 * an array of le32 inode numbers (0 = free slot) filling the block up to an
 * 8-byte tail: ob_magic (0x0b10ca04) and ob_checksum, the crc32c — seeded
 * with the orphan file inode's checksum seed — of the block's physical
 * number as le64 followed by the slot array.
 */
import { crc32c } from './crc32c.js';
import { readU32LE, writeU32LE } from './le.js';

export const ORPHAN_BLOCK_MAGIC = 0x0b10ca04;
const TAIL_SIZE = 8;

/** Inode slots in one orphan block. */
export function orphanSlotsPerBlock(blockSize: number): number {
  return (blockSize - TAIL_SIZE) / 4;
}

export function orphanBlockMagicOk(block: Uint8Array): boolean {
  return readU32LE(block, block.length - TAIL_SIZE) === ORPHAN_BLOCK_MAGIC;
}

export function orphanBlockChecksum(orphanInodeSeed: number, physicalBlock: number, block: Uint8Array): number {
  const nr = new Uint8Array(8);
  writeU32LE(nr, 0, physicalBlock % 0x1_0000_0000);
  writeU32LE(nr, 4, Math.floor(physicalBlock / 0x1_0000_0000));
  return crc32c(crc32c(orphanInodeSeed, nr), block, 0, block.length - TAIL_SIZE);
}

export function verifyOrphanBlock(orphanInodeSeed: number, physicalBlock: number, block: Uint8Array): boolean {
  return readU32LE(block, block.length - 4) === orphanBlockChecksum(orphanInodeSeed, physicalBlock, block);
}

/** Writes the tail: magic, and the checksum when `orphanInodeSeed` is given (metadata_csum). */
export function writeOrphanBlockTail(block: Uint8Array, physicalBlock: number, orphanInodeSeed: number | undefined): void {
  writeU32LE(block, block.length - TAIL_SIZE, ORPHAN_BLOCK_MAGIC);
  writeU32LE(block, block.length - 4, orphanInodeSeed === undefined ? 0 : orphanBlockChecksum(orphanInodeSeed, physicalBlock, block));
}

export function orphanSlot(block: Uint8Array, i: number): number {
  return readU32LE(block, i * 4);
}

export function setOrphanSlot(block: Uint8Array, i: number, ino: number): void {
  writeU32LE(block, i * 4, ino);
}
