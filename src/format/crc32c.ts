/**
 * CRC-32C (Castagnoli) in the "raw" form ext4 and jbd2 use: `crc32c_le(seed,
 * bytes)` with no final inversion. The superblock is seeded with ~0; every
 * other metadata checksum with the filesystem's checksum seed (see
 * superblock.ts). A standard CRC-32C library computes `~raw(~0, data)`.
 *
 * Slicing-by-8 over 32-bit words: eight 256-entry tables fold 8 input bytes
 * per step with independent lookups. Reading the input as an Int32Array
 * (when 4-byte aligned, which block buffers are) instead of byte by byte is
 * what takes pure TypeScript from ~0.9 to ~1.6 GB/s on 4 KiB blocks. The word
 * path assumes a little-endian host, checked once at load.
 */
import { endianness } from 'node:os';

const POLY = 0x82f63b78; // reflected Castagnoli polynomial

function makeTables(): Int32Array[] {
  const tables: Int32Array[] = [];
  for (let t = 0; t < 8; t++) tables.push(new Int32Array(256));
  const t0 = tables[0];
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ POLY : c >>> 1;
    t0[n] = c;
  }
  for (let n = 0; n < 256; n++) {
    for (let t = 1; t < 8; t++) {
      const prev = tables[t - 1][n];
      tables[t][n] = (prev >>> 8) ^ t0[prev & 0xff];
    }
  }
  return tables;
}

const [t0, t1, t2, t3, t4, t5, t6, t7] = makeTables() as [
  Int32Array, Int32Array, Int32Array, Int32Array, Int32Array, Int32Array, Int32Array, Int32Array,
];
const LITTLE_ENDIAN = endianness() === 'LE';
/** Below this many bytes the word view costs more than it saves. */
const WORD_PATH_MIN = 64;

/** crc32c_le(seed, data[start, end)) without final inversion; returns an unsigned 32-bit value. */
export function crc32c(seed: number, data: Uint8Array, start = 0, end = data.length): number {
  let crc = seed | 0;
  let i = start;
  if (LITTLE_ENDIAN && end - i >= WORD_PATH_MIN && ((data.byteOffset + i) & 3) === 0) {
    const words = new Int32Array(data.buffer, data.byteOffset + i, (end - i) >>> 3 << 1);
    const n = words.length;
    for (let j = 0; j < n; j += 2) {
      const a = crc ^ words[j];
      const b = words[j + 1];
      crc =
        t7[a & 0xff] ^ t6[(a >>> 8) & 0xff] ^ t5[(a >>> 16) & 0xff] ^ t4[a >>> 24] ^
        t3[b & 0xff] ^ t2[(b >>> 8) & 0xff] ^ t1[(b >>> 16) & 0xff] ^ t0[b >>> 24];
    }
    i += n * 4;
  }
  while (end - i >= 8) {
    const a = crc ^ (data[i] | (data[i + 1] << 8) | (data[i + 2] << 16) | (data[i + 3] << 24));
    const b = data[i + 4] | (data[i + 5] << 8) | (data[i + 6] << 16) | (data[i + 7] << 24);
    crc =
      t7[a & 0xff] ^ t6[(a >>> 8) & 0xff] ^ t5[(a >>> 16) & 0xff] ^ t4[a >>> 24] ^
      t3[b & 0xff] ^ t2[(b >>> 8) & 0xff] ^ t1[(b >>> 16) & 0xff] ^ t0[b >>> 24];
    i += 8;
  }
  while (i < end) {
    crc = (crc >>> 8) ^ t0[(crc ^ data[i]) & 0xff];
    i++;
  }
  return crc >>> 0;
}

/** crc32c of a little-endian 32-bit value (inode numbers, generations, block numbers in checksums). */
export function crc32cU32(seed: number, value: number): number {
  let crc = seed | 0;
  for (let k = 0; k < 4; k++) {
    crc = (crc >>> 8) ^ t0[(crc ^ (value >>> (8 * k))) & 0xff];
  }
  return crc >>> 0;
}

/** The standard CRC-32C (iSCSI, RFC 3720): for tests against published vectors. */
export function crc32cStandard(data: Uint8Array): number {
  return ~crc32c(~0, data) >>> 0;
}
