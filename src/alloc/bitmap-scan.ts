/**
 * Searching and changing runs of bits in a group bitmap. Whole bytes that
 * are all used (0xff) or all free (0x00) are skipped a byte at a time, so a
 * scan over a 32,768-bit group costs a few thousand steps at most.
 */
import { assert } from '../base/assert.js';

/** First zero bit in [from, to), or -1. */
export function findZeroBit(bm: Uint8Array, from: number, to: number): number {
  let i = from;
  while (i < to) {
    if ((i & 7) === 0 && i + 8 <= to && bm[i >>> 3] === 0xff) {
      i += 8;
      continue;
    }
    if ((bm[i >>> 3] & (1 << (i & 7))) === 0) return i;
    i++;
  }
  return -1;
}

/** First set bit in [from, to), or -1. */
export function findSetBit(bm: Uint8Array, from: number, to: number): number {
  let i = from;
  while (i < to) {
    if ((i & 7) === 0 && i + 8 <= to && bm[i >>> 3] === 0) {
      i += 8;
      continue;
    }
    if ((bm[i >>> 3] & (1 << (i & 7))) !== 0) return i;
    i++;
  }
  return -1;
}

/** Number of zero bits from `start`, stopping at `to` or after `max` bits. */
export function zeroRunLength(bm: Uint8Array, start: number, to: number, max: number): number {
  const limit = Math.min(to, start + max);
  const end = findSetBit(bm, start, limit);
  return (end < 0 ? limit : end) - start;
}

export function setBits(bm: Uint8Array, start: number, len: number): void {
  assert(start >= 0 && len >= 0 && (start + len) <= bm.length * 8, () => `bit range ${start}+${len} outside the bitmap`);
  let i = start;
  const end = start + len;
  while (i < end) {
    if ((i & 7) === 0 && i + 8 <= end) {
      bm[i >>> 3] = 0xff;
      i += 8;
    } else {
      bm[i >>> 3] |= 1 << (i & 7);
      i++;
    }
  }
}

export function clearBits(bm: Uint8Array, start: number, len: number): void {
  assert(start >= 0 && len >= 0 && (start + len) <= bm.length * 8, () => `bit range ${start}+${len} outside the bitmap`);
  let i = start;
  const end = start + len;
  while (i < end) {
    if ((i & 7) === 0 && i + 8 <= end) {
      bm[i >>> 3] = 0;
      i += 8;
    } else {
      bm[i >>> 3] &= ~(1 << (i & 7));
      i++;
    }
  }
}

/** Whether every bit in [start, start+len) is set. */
export function allBitsSet(bm: Uint8Array, start: number, len: number): boolean {
  return findZeroBit(bm, start, start + len) < 0;
}

/** Whether every bit in [start, start+len) is clear. */
export function allBitsClear(bm: Uint8Array, start: number, len: number): boolean {
  return findSetBit(bm, start, start + len) < 0;
}
