/**
 * Extent tree nodes (ext4_extent_header + ext4_extent / ext4_extent_idx).
 *
 * A node is a 12-byte header followed by `max` 12-byte slots, of which the
 * first `entries` are live. The root node lives in the inode's 60-byte i_block
 * (room for 4 slots); every other node fills a whole block and is followed,
 * right after its `max` slots, by a 4-byte ext4_extent_tail holding a crc32c
 * of everything before it, seeded with the inode's checksum seed.
 *
 * Leaf slot (ext4_extent):      ee_block u32 | ee_len u16 | ee_start_hi u16 | ee_start_lo u32
 * Index slot (ext4_extent_idx): ei_block u32 | ei_leaf_lo u32 | ei_leaf_hi u16 | ei_unused u16
 *
 * Only the structure of one node is checked here. What needs the rest of the
 * file system is the caller's: that a child's depth is exactly its parent's
 * minus one and its first logical block equals the parent index's, and that
 * physical blocks lie inside the file system and outside its metadata.
 */
import { corrupted } from '../base/errors.js';
import { assert } from '../base/assert.js';
import { crc32c } from './crc32c.js';
import { readU16LE, readU32LE, writeU16LE, writeU32LE } from './le.js';

/** eh_magic */
export const EXT4_EXT_MAGIC = 0xf30a;
/** Longest initialized extent: ee_len values above it mark unwritten extents. */
export const EXT_INIT_MAX_LEN = 32768;
/** Longest unwritten extent (ee_len - 32768, and ee_len 32768 itself means initialized). */
export const EXT_UNWRITTEN_MAX_LEN = 32767;
/** The kernel refuses trees deeper than this (ext4_find_extent). */
export const EXT4_MAX_EXTENT_DEPTH = 5;
/** Size of the header and of each slot. */
export const EXTENT_HEADER_SIZE = 12;
export const EXTENT_ENTRY_SIZE = 12;
/** Size of i_block, where the root node lives. */
export const EXTENT_ROOT_SIZE = 60;

export interface ExtentHeader {
  /** eh_magic */
  magic: number;
  /** eh_entries: live slots */
  entries: number;
  /** eh_max: capacity in slots; also places the checksum tail */
  max: number;
  /** eh_depth: 0 for a leaf, else the number of index levels below this node */
  depth: number;
  /** eh_generation (unused by Linux, kept for round trips) */
  generation: number;
}

export interface ExtentIndex {
  /** ei_block: first logical block this subtree covers */
  lblk: number;
  /** ei_leaf_lo | ei_leaf_hi << 32: the child node's block */
  pblk: number;
}

export interface ExtentLeaf {
  /** ee_block: first logical block */
  lblk: number;
  /** Real length in blocks (ee_len, less 32768 when unwritten) */
  len: number;
  /** ee_len > 32768: allocated but reads as zeros */
  unwritten: boolean;
  /** ee_start_lo | ee_start_hi << 32: first physical block */
  pblk: number;
}

export type ExtentNode =
  | { kind: 'leaf'; header: ExtentHeader; leaves: ExtentLeaf[] }
  | { kind: 'index'; header: ExtentHeader; indexes: ExtentIndex[] };

/** Identifies the node in error messages: the inode, and the block when the node is not the root. */
export interface ExtentNodeWhere {
  ino: number;
  blockNr?: number;
}

const TWO_32 = 0x1_0000_0000;


/** How many slots fit in a node buffer: 4 in i_block, (blocksize - 12) / 12 in a block. */
export function extentNodeCapacity(bufLength: number): number {
  return Math.floor((bufLength - EXTENT_HEADER_SIZE) / EXTENT_ENTRY_SIZE);
}

/** Offset of ext4_extent_tail (et_checksum) in a non-root node: right after the `max` slots. */
export function extentTailOffset(header: Pick<ExtentHeader, 'max'>): number {
  return EXTENT_HEADER_SIZE + EXTENT_ENTRY_SIZE * header.max;
}

/** Reads the header without validating it. */
export function readExtentHeader(buf: Uint8Array): ExtentHeader {
  assert(buf.length >= EXTENT_HEADER_SIZE, 'extent node buffer shorter than its header');
  return { magic: readU16LE(buf, 0), entries: readU16LE(buf, 2), max: readU16LE(buf, 4), depth: readU16LE(buf, 6), generation: readU32LE(buf, 8) };
}

function fail(where: ExtentNodeWhere, what: string): Error {
  if (where.blockNr !== undefined) return corrupted('extent block', where.blockNr, `of inode ${where.ino}: ${what}`);
  return corrupted('inode', where.ino, `extent root in i_block: ${what}`);
}

/**
 * Decodes and checks one node: the 60-byte i_block (root) or a whole block.
 * `maxDepth` bounds eh_depth (default EXT4_MAX_EXTENT_DEPTH); a caller
 * descending the tree should pass the parent's depth - 1 and also check that
 * the depth is exactly that.
 */
export function decodeExtentNode(buf: Uint8Array, where: ExtentNodeWhere, maxDepth = EXT4_MAX_EXTENT_DEPTH): ExtentNode {
  if (buf.length < EXTENT_HEADER_SIZE + EXTENT_ENTRY_SIZE) throw fail(where, `node of ${buf.length} bytes is too small`);
  const header = readExtentHeader(buf);
  if (header.magic !== EXT4_EXT_MAGIC) {
    throw fail(where, `bad magic 0x${header.magic.toString(16)} (expected 0x${EXT4_EXT_MAGIC.toString(16)})`);
  }
  const capacity = extentNodeCapacity(buf.length);
  // Linux accepts an eh_max below the capacity (its test builds use smaller
  // nodes) but never 0, nor one that would run past the buffer.
  if (header.max === 0 || header.max > capacity) throw fail(where, `eh_max ${header.max} not in 1..${capacity}`);
  if (header.entries > header.max) throw fail(where, `eh_entries ${header.entries} exceeds eh_max ${header.max}`);
  if (header.depth > Math.min(maxDepth, EXT4_MAX_EXTENT_DEPTH)) {
    throw fail(where, `eh_depth ${header.depth} exceeds ${Math.min(maxDepth, EXT4_MAX_EXTENT_DEPTH)}`);
  }
  // An index node with no children would leave a hole in the tree that
  // nothing can describe; Linux rejects it.
  if (header.depth > 0 && header.entries === 0) throw fail(where, `index node (depth ${header.depth}) has no entries`);

  if (header.depth === 0) {
    const leaves: ExtentLeaf[] = [];
    let nextFree = 0; // first logical block not covered by the previous extent
    for (let i = 0; i < header.entries; i++) {
      const o = EXTENT_HEADER_SIZE + i * EXTENT_ENTRY_SIZE;
      const lblk = readU32LE(buf, o);
      const rawLen = readU16LE(buf, o + 4);
      const pblk = readU16LE(buf, o + 6) * TWO_32 + readU32LE(buf, o + 8);
      const unwritten = rawLen > EXT_INIT_MAX_LEN;
      const len = unwritten ? rawLen - EXT_INIT_MAX_LEN : rawLen;
      if (len === 0) throw fail(where, `extent ${i} has length 0`);
      // The kernel computes lblk + len in 32 bits and rejects a wrap, so the
      // last usable logical block is 2^32 - 2.
      if (lblk + len >= TWO_32) throw fail(where, `extent ${i} (logical ${lblk}, length ${len}) runs past 2^32`);
      if (i > 0 && lblk < nextFree) {
        throw fail(where, `extent ${i} at logical ${lblk} overlaps or precedes the previous one ending at ${nextFree}`);
      }
      if (pblk === 0) throw fail(where, `extent ${i} points to block 0`);
      nextFree = lblk + len;
      leaves.push({ lblk, len, unwritten, pblk });
    }
    return { kind: 'leaf', header, leaves };
  }

  const indexes: ExtentIndex[] = [];
  for (let i = 0; i < header.entries; i++) {
    const o = EXTENT_HEADER_SIZE + i * EXTENT_ENTRY_SIZE;
    const lblk = readU32LE(buf, o);
    const pblk = readU16LE(buf, o + 8) * TWO_32 + readU32LE(buf, o + 4);
    if (i > 0 && lblk <= indexes[i - 1].lblk) {
      throw fail(where, `index ${i} at logical ${lblk} does not follow index ${i - 1} at ${indexes[i - 1].lblk}`);
    }
    if (pblk === 0) throw fail(where, `index ${i} points to block 0`);
    indexes.push({ lblk, pblk });
  }
  return { kind: 'index', header, indexes };
}

/**
 * Writes a node: the header (eh_entries from the array length, the rest from
 * `node.header`), the live slots, and zeros in the unused slots up to eh_max.
 * The checksum tail of a block node is left alone: see `writeExtentBlockChecksum`.
 */
export function encodeExtentNode(node: ExtentNode, buf: Uint8Array): void {
  const { header } = node;
  const count = node.kind === 'leaf' ? node.leaves.length : node.indexes.length;
  assert(header.max >= 1 && header.max <= extentNodeCapacity(buf.length), () => `eh_max ${header.max} does not fit ${buf.length} bytes`);
  assert(count <= header.max, () => `${count} extent entries exceed eh_max ${header.max}`);
  assert((node.kind === 'leaf') === (header.depth === 0), 'extent node kind and depth disagree');
  writeU16LE(buf, 0, EXT4_EXT_MAGIC);
  writeU16LE(buf, 2, count);
  writeU16LE(buf, 4, header.max);
  writeU16LE(buf, 6, header.depth);
  writeU32LE(buf, 8, header.generation);
  for (let i = 0; i < count; i++) {
    const o = EXTENT_HEADER_SIZE + i * EXTENT_ENTRY_SIZE;
    if (node.kind === 'leaf') {
      const e = node.leaves[i];
      const maxLen = e.unwritten ? EXT_UNWRITTEN_MAX_LEN : EXT_INIT_MAX_LEN;
      assert(e.len >= 1 && e.len <= maxLen, () => `extent length ${e.len} out of range`);
      writeU32LE(buf, o, e.lblk);
      writeU16LE(buf, o + 4, e.unwritten ? e.len + EXT_INIT_MAX_LEN : e.len);
      writeU16LE(buf, o + 6, Math.floor(e.pblk / TWO_32));
      writeU32LE(buf, o + 8, e.pblk % TWO_32);
    } else {
      const e = node.indexes[i];
      writeU32LE(buf, o, e.lblk);
      writeU32LE(buf, o + 4, e.pblk % TWO_32);
      writeU16LE(buf, o + 8, Math.floor(e.pblk / TWO_32));
      writeU16LE(buf, o + 10, 0);
    }
  }
  buf.fill(0, EXTENT_HEADER_SIZE + count * EXTENT_ENTRY_SIZE, extentTailOffset(header));
}

/** crc32c of a non-root node up to its tail (ext4_extent_block_csum). */
export function extentBlockChecksum(inodeSeed: number, block: Uint8Array): number {
  const end = extentTailOffset(readExtentHeader(block));
  assert(end + 4 <= block.length, 'extent tail lies outside the block');
  return crc32c(inodeSeed, block, 0, end);
}

/** True when the block's et_checksum matches; false also when the header cannot place the tail. */
export function verifyExtentBlock(inodeSeed: number, block: Uint8Array): boolean {
  if (block.length < EXTENT_HEADER_SIZE) return false;
  const header = readExtentHeader(block);
  const tail = extentTailOffset(header);
  if (header.magic !== EXT4_EXT_MAGIC || tail + 4 > block.length) return false;
  return readU32LE(block, tail) === crc32c(inodeSeed, block, 0, tail);
}

/** Computes and stores et_checksum. */
export function writeExtentBlockChecksum(inodeSeed: number, block: Uint8Array): void {
  writeU32LE(block, extentTailOffset(readExtentHeader(block)), extentBlockChecksum(inodeSeed, block));
}
