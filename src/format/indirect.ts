/**
 * The ext2/ext3 block map, used by inodes without the extents flag.
 *
 * i_block holds 15 little-endian u32 block numbers: slots 0..11 map logical
 * blocks 0..11 directly; slot 12 names a single-indirect block (a block full
 * of u32 block numbers), slot 13 a double-indirect block and slot 14 a
 * triple-indirect one. A 0 anywhere means a hole. There are no checksums.
 */
import { fsError } from '../base/errors.js';
import { assert } from '../base/assert.js';

/** EXT4_NDIR_BLOCKS */
export const DIRECT_BLOCKS = 12;
/** i_block slot of the single, double and triple indirect block (EXT4_IND_BLOCK, DIND, TIND). */
export const IND_SLOT = 12;
export const DIND_SLOT = 13;
export const TIND_SLOT = 14;
/** EXT4_N_BLOCKS */
export const BLOCK_MAP_SLOTS = 15;

const TWO_32 = 0x1_0000_0000;

export interface IndirectPath {
  /** 0: a direct slot; 1, 2, 3: reached through that many indirect blocks. */
  level: 0 | 1 | 2 | 3;
  /**
   * offsets[0] is the i_block slot (0..14); offsets[k] for k >= 1 is the u32
   * index inside the k-th indirect block on the way down.
   */
  offsets: number[];
}

/**
 * Where logical block `lblk` is mapped. Throws EFBIG past the end of the
 * triple-indirect range.
 */
export function indirectPath(lblk: number, addrsPerBlock: number): IndirectPath {
  assert(Number.isInteger(lblk) && lblk >= 0, () => `bad logical block ${lblk}`);
  assert(addrsPerBlock >= 1 && Number.isInteger(addrsPerBlock), () => `bad addresses per block ${addrsPerBlock}`);
  const a = addrsPerBlock;
  let rest = lblk;
  if (rest < DIRECT_BLOCKS) return { level: 0, offsets: [rest] };
  rest -= DIRECT_BLOCKS;
  if (rest < a) return { level: 1, offsets: [IND_SLOT, rest] };
  rest -= a;
  if (rest < a * a) return { level: 2, offsets: [DIND_SLOT, Math.floor(rest / a), rest % a] };
  rest -= a * a;
  if (rest < a * a * a) {
    return { level: 3, offsets: [TIND_SLOT, Math.floor(rest / (a * a)), Math.floor(rest / a) % a, rest % a] };
  }
  throw fsError('EFBIG');
}

/**
 * Logical blocks a block map can address: 12 + a + a^2 + a^3 with a =
 * blockSize / 4, capped at 2^32 (logical block numbers are 32-bit).
 */
export function maxBlockMapBlocks(blockSize: number): number {
  const a = blockSize / 4;
  return Math.min(DIRECT_BLOCKS + a + a * a + a * a * a, TWO_32);
}

/** Little-endian u32 array copied out of `bytes` (any alignment, any length multiple of 4). */
export function readU32Array(bytes: Uint8Array): Uint32Array {
  assert(bytes.length % 4 === 0, () => `block map bytes ${bytes.length} not a multiple of 4`);
  const out = new Uint32Array(bytes.length / 4);
  for (let i = 0, o = 0; i < out.length; i++, o += 4) {
    out[i] = (bytes[o] | (bytes[o + 1] << 8) | (bytes[o + 2] << 16) | (bytes[o + 3] << 24)) >>> 0;
  }
  return out;
}

/** The 15 block-map slots of i_block. */
export function decodeBlockMapSlots(iblock60: Uint8Array): Uint32Array {
  assert(iblock60.length >= BLOCK_MAP_SLOTS * 4, 'i_block shorter than 60 bytes');
  return readU32Array(iblock60.subarray(0, BLOCK_MAP_SLOTS * 4));
}

/** Writes u32 values little-endian into `bytes` starting at byte `offset`. */
export function writeU32Array(values: ArrayLike<number>, bytes: Uint8Array, offset = 0): void {
  assert(offset + values.length * 4 <= bytes.length, 'block map values run past the buffer');
  for (let i = 0, o = offset; i < values.length; i++, o += 4) {
    const v = values[i];
    bytes[o] = v & 0xff;
    bytes[o + 1] = (v >>> 8) & 0xff;
    bytes[o + 2] = (v >>> 16) & 0xff;
    bytes[o + 3] = (v >>> 24) & 0xff;
  }
}
