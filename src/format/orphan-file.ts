/**
 * Orphan file blocks (orphan_file feature): each block of the file named by
 * s_orphan_file_inum is an array of 32-bit inode numbers (0 = free slot)
 * followed by an 8-byte tail:
 *
 *   ob_magic u32 (EXT4_ORPHAN_BLOCK_MAGIC) | ob_checksum u32
 *
 * With metadata_csum the checksum is crc32c of the fs seed, then the orphan
 * file's inode number and generation (le32 each), the block's physical
 * number (le64), then the inode number slots (the tail excluded).
 */
import { assert } from '../base/assert.js';
import { crc32c, crc32cU32 } from './crc32c.js';
import { readU32LE, writeU32LE } from './le.js';

export const EXT4_ORPHAN_BLOCK_MAGIC = 0x0b10ca04;
export const ORPHAN_BLOCK_TAIL_SIZE = 8;

/** Inode number slots per orphan block. */
export function inodesPerOrphanBlock(blockSize: number): number {
  return (blockSize - ORPHAN_BLOCK_TAIL_SIZE) / 4;
}

export function orphanBlockChecksum(fsSeed: number, ino: number, generation: number, blockNr: number, block: Uint8Array): number {
  let c = crc32cU32(fsSeed, ino);
  c = crc32cU32(c, generation);
  c = crc32cU32(c, blockNr % 2 ** 32);
  c = crc32cU32(c, Math.floor(blockNr / 2 ** 32));
  return crc32c(c, block, 0, inodesPerOrphanBlock(block.length) * 4);
}

/** An empty orphan block; its checksum is filled in when `fsSeed` is given (metadata_csum). */
export function encodeEmptyOrphanBlock(
  blockSize: number, checksum?: { fsSeed: number; ino: number; generation: number; blockNr: number },
): Uint8Array {
  const block = new Uint8Array(blockSize);
  writeU32LE(block, blockSize - ORPHAN_BLOCK_TAIL_SIZE, EXT4_ORPHAN_BLOCK_MAGIC);
  if (checksum !== undefined) {
    writeU32LE(block, blockSize - 4, orphanBlockChecksum(checksum.fsSeed, checksum.ino, checksum.generation, checksum.blockNr, block));
  }
  return block;
}

export function verifyOrphanBlock(fsSeed: number, ino: number, generation: number, blockNr: number, block: Uint8Array): boolean {
  assert(block.length > ORPHAN_BLOCK_TAIL_SIZE, 'orphan block too small');
  return readU32LE(block, block.length - ORPHAN_BLOCK_TAIL_SIZE) === EXT4_ORPHAN_BLOCK_MAGIC &&
    readU32LE(block, block.length - 4) === orphanBlockChecksum(fsSeed, ino, generation, blockNr, block);
}
