/**
 * Byte-order helpers for on-disk structures.
 *
 * ext4 stores every multi-byte field little-endian; jbd2 (inherited from
 * ext3's journal, which came from a big-endian design) stores them
 * big-endian. These work on any Uint8Array view, including a slice into a
 * larger block buffer, and do plain byte arithmetic so they neither allocate
 * nor depend on the host byte order.
 *
 * 64-bit quantities that ext4 splits into a low and a high word are joined
 * into one JS number: block numbers stay below 2^48, well inside the 2^53
 * range where doubles are exact. Callers that combine words which could
 * exceed that (corrupt input) must check `Number.isSafeInteger`.
 */

const TWO_32 = 0x1_0000_0000;

export function readU8(buf: Uint8Array, off: number): number {
  return buf[off];
}

export function readU16LE(buf: Uint8Array, off: number): number {
  return buf[off] | (buf[off + 1] << 8);
}

export function readU32LE(buf: Uint8Array, off: number): number {
  return (buf[off] | (buf[off + 1] << 8) | (buf[off + 2] << 16) | (buf[off + 3] << 24)) >>> 0;
}

/** Signed 32-bit little-endian (ext4 timestamps without their epoch bits). */
export function readS32LE(buf: Uint8Array, off: number): number {
  return buf[off] | (buf[off + 1] << 8) | (buf[off + 2] << 16) | (buf[off + 3] << 24);
}

/** Signed 16-bit little-endian (s_max_mnt_count is -1 for "never check"). */
export function readS16LE(buf: Uint8Array, off: number): number {
  const v = readU16LE(buf, off);
  return v >= 0x8000 ? v - 0x10000 : v;
}

export function readU16BE(buf: Uint8Array, off: number): number {
  return (buf[off] << 8) | buf[off + 1];
}

export function readU32BE(buf: Uint8Array, off: number): number {
  return ((buf[off] << 24) | (buf[off + 1] << 16) | (buf[off + 2] << 8) | buf[off + 3]) >>> 0;
}

/** Signed 32-bit big-endian (jbd2 s_errno holds a negative errno). */
export function readS32BE(buf: Uint8Array, off: number): number {
  return (buf[off] << 24) | (buf[off + 1] << 16) | (buf[off + 2] << 8) | buf[off + 3];
}

/** Unsigned 64-bit little-endian as bigint, for counters that may use all 64 bits. */
export function readU64LEBig(buf: Uint8Array, off: number): bigint {
  return (BigInt(readU32LE(buf, off + 4)) << 32n) | BigInt(readU32LE(buf, off));
}

export function writeU8(buf: Uint8Array, off: number, v: number): void {
  buf[off] = v & 0xff;
}

export function writeU16LE(buf: Uint8Array, off: number, v: number): void {
  buf[off] = v & 0xff;
  buf[off + 1] = (v >>> 8) & 0xff;
}

/** Accepts negative values (written as their two's complement), so signed fields need no separate writer. */
export function writeU32LE(buf: Uint8Array, off: number, v: number): void {
  buf[off] = v & 0xff;
  buf[off + 1] = (v >>> 8) & 0xff;
  buf[off + 2] = (v >>> 16) & 0xff;
  buf[off + 3] = (v >>> 24) & 0xff;
}

export function writeU16BE(buf: Uint8Array, off: number, v: number): void {
  buf[off] = (v >>> 8) & 0xff;
  buf[off + 1] = v & 0xff;
}

export function writeU32BE(buf: Uint8Array, off: number, v: number): void {
  buf[off] = (v >>> 24) & 0xff;
  buf[off + 1] = (v >>> 16) & 0xff;
  buf[off + 2] = (v >>> 8) & 0xff;
  buf[off + 3] = v & 0xff;
}

export function writeU64LEBig(buf: Uint8Array, off: number, v: bigint): void {
  writeU32LE(buf, off, Number(v & 0xffff_ffffn));
  writeU32LE(buf, off + 4, Number((v >> 32n) & 0xffff_ffffn));
}

/** lo | hi << 32 as a number (exact while the result is below 2^53). */
export function join64(lo: number, hi: number): number {
  return hi * TWO_32 + lo;
}

/** Low 32 bits of a non-negative integer number. */
export function lo32(v: number): number {
  return v % TWO_32 >>> 0;
}

/** Bits 32 and up of a non-negative integer number. */
export function hi32(v: number): number {
  return Math.floor(v / TWO_32);
}

/** A copy of `len` bytes at `off` (so a decoded structure never aliases the block buffer). */
export function copyBytes(buf: Uint8Array, off: number, len: number): Uint8Array {
  return buf.slice(off, off + len);
}

/** Bytes up to the first NUL, as UTF-8 (fixed-size name fields on disk are NUL-padded, not terminated when full). */
export function cString(bytes: Uint8Array): string {
  let end = bytes.indexOf(0);
  if (end < 0) end = bytes.length;
  return new TextDecoder('utf-8').decode(bytes.subarray(0, end));
}
