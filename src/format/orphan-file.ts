/**
 * Orphan file blocks (orphan_file feature): each block of the file named by
 * s_orphan_file_inum is an array of 32-bit inode numbers (0 = free slot)
 * followed by an 8-byte tail:
 *
 *   ob_magic u32 (EXT4_ORPHAN_BLOCK_MAGIC) | ob_checksum u32
 *
 * With metadata_csum the checksum is crc32c seeded with the orphan file
 * inode's own checksum seed (the fs seed, then its inode number and
 * generation as le32 each), over the block's physical number (le64), then
 * the inode number slots (the tail excluded).
 */
import { assert } from '../base/assert.js';
import { crc32c, crc32cU32 } from './crc32c.js';
import { inodeCsumSeed } from './inode.js';
import { readU32LE, writeU32LE } from './le.js';

export const EXT4_ORPHAN_BLOCK_MAGIC = 0x0b10ca04;
export const ORPHAN_BLOCK_TAIL_SIZE = 8;

/** Inode number slots per orphan block. */
export function inodesPerOrphanBlock(blockSize: number): number {
  return (blockSize - ORPHAN_BLOCK_TAIL_SIZE) / 4;
}

/** The checksum of an orphan block at physical block `blockNr`, given the orphan file inode's checksum seed. */
export function orphanBlockChecksum(orphanInodeSeed: number, blockNr: number, block: Uint8Array): number {
  let c = crc32cU32(orphanInodeSeed, blockNr % 2 ** 32);
  c = crc32cU32(c, Math.floor(blockNr / 2 ** 32));
  return crc32c(c, block, 0, inodesPerOrphanBlock(block.length) * 4);
}

export function orphanBlockMagicOk(block: Uint8Array): boolean {
  assert(block.length > ORPHAN_BLOCK_TAIL_SIZE, 'orphan block too small');
  return readU32LE(block, block.length - ORPHAN_BLOCK_TAIL_SIZE) === EXT4_ORPHAN_BLOCK_MAGIC;
}

export function verifyOrphanBlock(orphanInodeSeed: number, blockNr: number, block: Uint8Array): boolean {
  return orphanBlockMagicOk(block) && readU32LE(block, block.length - 4) === orphanBlockChecksum(orphanInodeSeed, blockNr, block);
}

/** Writes the tail: the magic, and the checksum when `orphanInodeSeed` is given (metadata_csum), else 0. */
export function writeOrphanBlockTail(block: Uint8Array, blockNr: number, orphanInodeSeed: number | undefined): void {
  writeU32LE(block, block.length - ORPHAN_BLOCK_TAIL_SIZE, EXT4_ORPHAN_BLOCK_MAGIC);
  writeU32LE(block, block.length - 4, orphanInodeSeed === undefined ? 0 : orphanBlockChecksum(orphanInodeSeed, blockNr, block));
}

/** An empty orphan block; its checksum is filled in when `checksum` is given (metadata_csum). */
export function encodeEmptyOrphanBlock(
  blockSize: number, checksum?: { fsSeed: number; ino: number; generation: number; blockNr: number },
): Uint8Array {
  const block = new Uint8Array(blockSize);
  const seed = checksum === undefined ? undefined : inodeCsumSeed(checksum.fsSeed, checksum.ino, checksum.generation);
  writeOrphanBlockTail(block, checksum?.blockNr ?? 0, seed);
  return block;
}

export function orphanSlot(block: Uint8Array, i: number): number {
  return readU32LE(block, i * 4);
}

export function setOrphanSlot(block: Uint8Array, i: number, ino: number): void {
  writeU32LE(block, i * 4, ino);
}
