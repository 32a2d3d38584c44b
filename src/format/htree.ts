/**
 * Hashed directory index (htree, dir_index feature).
 *
 * Block 0 of an indexed directory is the dx_root. To code that does not know
 * about indexes it still reads as a directory block holding "." (rec_len 12)
 * and ".." (rec_len blocksize - 12, covering the rest); inside the space of
 * ".." sit:
 *
 *   24: dx_root_info   reserved_zero u32 | hash_version u8 | info_length u8 (8)
 *                      | indirect_levels u8 | unused_flags u8
 *   32: dx_countlimit  limit u16 | count u16   (overlays entry 0's hash)
 *   36: entry 0 block u32, then dx_entry { hash u32, block u32 } x (count - 1)
 *
 * Interior nodes (dx_node) start with a fake entry (inode 0, rec_len
 * blocksize, name_len 0) and put the count/limit at offset 8. With
 * metadata_csum a dx_tail (dt_reserved u32, dt_checksum u32) follows the
 * `limit` entry slots, so `limit` is one smaller than without checksums.
 *
 * Entry i covers hashes from entries[i].hash up to the next entry's hash;
 * entry 0 covers everything below entry 1. A hash whose low bit is set in an
 * index entry marks a run of equal hashes continued from the previous block.
 *
 * Round trip: encode reproduces the header, the live entries and the tail.
 * Slots past `count` may hold stale entries on disk (a kernel split leaves
 * them) and are written as zeros; the checksum does not cover them.
 */
import { corrupted } from '../base/errors.js';
import { assert } from '../base/assert.js';
import { crc32c } from './crc32c.js';
import { recLenFromDisk, recLenToDisk } from './dirent.js';
import { DX_HASH_HALF_MD4, DX_HASH_LEGACY, DX_HASH_SIPHASH, DX_HASH_TEA } from './dirhash.js';
import { readU16LE, readU32LE, writeU16LE, writeU32LE } from './le.js';

/** Offset of dx_countlimit in a root and in a node. */
export const DX_ROOT_COUNT_OFFSET = 32;
export const DX_NODE_COUNT_OFFSET = 8;
/** sizeof(struct dx_entry), sizeof(struct dx_tail), sizeof(struct dx_root_info) */
export const DX_ENTRY_SIZE = 8;
export const DX_TAIL_SIZE = 8;
export const DX_ROOT_INFO_SIZE = 8;
/** Index levels below the root: at most 1 without large_dir, 2 with it (EXT4_HTREE_LEVEL_COMPAT / EXT4_HTREE_LEVEL, less one). */
export const DX_MAX_INDIRECT_LEVELS = 1;
export const DX_MAX_INDIRECT_LEVELS_LARGEDIR = 2;
/** unused_flags bit that Linux refuses (EXT2_HASH_FLAG_INCOMPAT). */
const DX_FLAG_INCOMPAT = 1;

export interface DxEntry {
  /** hash: the lowest hash in the child (0 for entry 0, whose hash field holds the count/limit) */
  hash: number;
  /** block: the child's logical block in the directory */
  block: number;
}

export interface DxRoot {
  /** inode of "." (the directory itself) and its file_type byte */
  dotInode: number;
  dotFileType: number;
  /** inode of ".." (the parent) and its file_type byte */
  dotdotInode: number;
  dotdotFileType: number;
  /** dx_root_info.hash_version: DX_HASH_LEGACY / HALF_MD4 / TEA / SIPHASH (never the _UNSIGNED values) */
  hashVersion: number;
  /** dx_root_info.indirect_levels: 0 when the root points straight at leaves */
  indirectLevels: number;
  /** dx_root_info.unused_flags */
  unusedFlags: number;
  /** live entries (count of them) */
  entries: DxEntry[];
  /** dx_countlimit.limit */
  limit: number;
  /** dx_countlimit.count */
  count: number;
  /** Where dx_countlimit sits (32) */
  countOffset: number;
}

export interface DxNode {
  entries: DxEntry[];
  limit: number;
  count: number;
  /** Where dx_countlimit sits (8) */
  countOffset: number;
}

export interface DxWhere {
  ino: number;
  /** Logical block in the directory (0 for the root) */
  lblk?: number;
  /** Physical block */
  blockNr?: number;
}

export interface DxOptions {
  /** metadata_csum: a dx_tail follows the entry slots. */
  hasTail: boolean;
  /** Directory size in blocks, to reject entries pointing past the end. */
  dirBlocks?: number;
}

export interface DxRootOptions extends DxOptions {
  /** large_dir feature: allows a third index level. */
  largeDir: boolean;
}


/** Entry slots in a root block (dx_root_limit): after ".", "..", and dx_root_info, less the tail. */
export function dxRootLimit(blockSize: number, hasTail: boolean): number {
  return Math.floor((blockSize - DX_ROOT_COUNT_OFFSET - (hasTail ? DX_TAIL_SIZE : 0)) / DX_ENTRY_SIZE);
}

/** Entry slots in a node block (dx_node_limit): after the 8-byte fake entry, less the tail. */
export function dxNodeLimit(blockSize: number, hasTail: boolean): number {
  return Math.floor((blockSize - DX_NODE_COUNT_OFFSET - (hasTail ? DX_TAIL_SIZE : 0)) / DX_ENTRY_SIZE);
}

function dxFail(where: DxWhere, kind: string, what: string): Error {
  const l = where.lblk !== undefined ? ` (logical block ${where.lblk})` : '';
  if (where.blockNr !== undefined) return corrupted('directory block', where.blockNr, `inode ${where.ino} htree ${kind}${l}: ${what}`);
  return corrupted('inode', where.ino, `htree ${kind}${l}: ${what}`);
}

/** Reads count, limit and the entries at `countOffset`, checking them against the expected limit. */
function decodeEntries(
  block: Uint8Array, countOffset: number, expectedLimit: number, where: DxWhere, kind: string, opts: DxOptions,
): { entries: DxEntry[]; limit: number; count: number } {
  const limit = readU16LE(block, countOffset);
  const count = readU16LE(block, countOffset + 2);
  if (limit !== expectedLimit) throw dxFail(where, kind, `limit ${limit}, expected ${expectedLimit}`);
  if (count === 0 || count > limit) throw dxFail(where, kind, `count ${count} not in 1..${limit}`);
  const entries: DxEntry[] = [];
  for (let i = 0; i < count; i++) {
    const o = countOffset + i * DX_ENTRY_SIZE;
    const hash = i === 0 ? 0 : readU32LE(block, o);
    const child = readU32LE(block, o + 4);
    // Block 0 is the root: pointing back at it would make a cycle.
    if (child === 0) throw dxFail(where, kind, `entry ${i} points to block 0`);
    if (opts.dirBlocks !== undefined && child >= opts.dirBlocks) {
      throw dxFail(where, kind, `entry ${i} points to block ${child}, past the directory's ${opts.dirBlocks} blocks`);
    }
    if (i > 1 && hash < entries[i - 1].hash) {
      throw dxFail(where, kind, `entry ${i} hash 0x${hash.toString(16)} below the previous 0x${entries[i - 1].hash.toString(16)}`);
    }
    entries.push({ hash, block: child });
  }
  return { entries, limit, count };
}

/** Decodes and checks a dx_root block, as dx_probe and e2fsck do. */
export function decodeDxRoot(block: Uint8Array, where: DxWhere, opts: DxRootOptions): DxRoot {
  const bs = block.length;
  const w = { ...where, lblk: where.lblk ?? 0 };
  if (bs < 1024) throw dxFail(w, 'root', `block of ${bs} bytes`);
  const dotLen = recLenFromDisk(readU16LE(block, 4), bs);
  if (block[6] !== 1 || block[8] !== 0x2e || dotLen !== 12) throw dxFail(w, 'root', '"." entry malformed');
  const dotdotLen = recLenFromDisk(readU16LE(block, 16), bs);
  if (block[18] !== 2 || block[20] !== 0x2e || block[21] !== 0x2e || dotdotLen !== bs - 12) {
    throw dxFail(w, 'root', '".." entry malformed');
  }
  const reservedZero = readU32LE(block, 24);
  const hashVersion = block[28];
  const infoLength = block[29];
  const indirectLevels = block[30];
  const unusedFlags = block[31];
  if (reservedZero !== 0) throw dxFail(w, 'root', `reserved_zero is 0x${reservedZero.toString(16)}`);
  if (hashVersion !== DX_HASH_LEGACY && hashVersion !== DX_HASH_HALF_MD4 && hashVersion !== DX_HASH_TEA && hashVersion !== DX_HASH_SIPHASH) {
    throw dxFail(w, 'root', `unknown hash version ${hashVersion}`);
  }
  if (infoLength !== DX_ROOT_INFO_SIZE) throw dxFail(w, 'root', `info_length ${infoLength}, expected 8`);
  const maxLevels = opts.largeDir ? DX_MAX_INDIRECT_LEVELS_LARGEDIR : DX_MAX_INDIRECT_LEVELS;
  if (indirectLevels > maxLevels) throw dxFail(w, 'root', `indirect_levels ${indirectLevels} exceeds ${maxLevels}`);
  if (unusedFlags & DX_FLAG_INCOMPAT) throw dxFail(w, 'root', `unsupported flags 0x${unusedFlags.toString(16)}`);
  const e = decodeEntries(block, DX_ROOT_COUNT_OFFSET, dxRootLimit(bs, opts.hasTail), w, 'root', opts);
  return {
    dotInode: readU32LE(block, 0), dotFileType: block[7],
    dotdotInode: readU32LE(block, 12), dotdotFileType: block[19],
    hashVersion, indirectLevels, unusedFlags,
    ...e, countOffset: DX_ROOT_COUNT_OFFSET,
  };
}

/** Whether a block looks like an interior index node (fake entry: inode 0, rec_len = block size, no name). */
export function isDxNodeBlock(block: Uint8Array): boolean {
  // An empty leaf block of a directory without checksums looks the same; only
  // the tree walk that reached the block knows which one it is.
  return block.length >= 16 && readU32LE(block, 0) === 0 && recLenFromDisk(readU16LE(block, 4), block.length) === block.length && block[6] === 0;
}

/** Decodes and checks an interior dx_node block. */
export function decodeDxNode(block: Uint8Array, where: DxWhere, opts: DxOptions): DxNode {
  const bs = block.length;
  if (bs < 1024) throw dxFail(where, 'node', `block of ${bs} bytes`);
  if (!isDxNodeBlock(block)) throw dxFail(where, 'node', 'fake directory entry malformed');
  const e = decodeEntries(block, DX_NODE_COUNT_OFFSET, dxNodeLimit(bs, opts.hasTail), where, 'node', opts);
  return { ...e, countOffset: DX_NODE_COUNT_OFFSET };
}

/**
 * ext4_dx_csum: crc32c over the header and the live entries
 * [0, countOffset + count * 8), then over the dx_tail with dt_checksum taken
 * as zero. The tail sits after all `limit` slots.
 */
export function dxBlockChecksum(inodeSeed: number, block: Uint8Array, countOffset: number, count: number, limit: number): number {
  const tail = countOffset + limit * DX_ENTRY_SIZE;
  assert(count <= limit && tail + DX_TAIL_SIZE <= block.length, 'dx tail outside the block');
  let c = crc32c(inodeSeed, block, 0, countOffset + count * DX_ENTRY_SIZE);
  c = crc32c(c, block, tail, tail + 4);
  return crc32c(c, ZERO4);
}
const ZERO4 = new Uint8Array(4);

/**
 * Finds dx_countlimit the way the kernel does before checking a checksum
 * (get_dx_countlimit): rec_len = block size means a node, "." with rec_len 12
 * followed by ".." to the end and a sane dx_root_info means a root.
 */
export function dxCountOffset(block: Uint8Array): number | undefined {
  const bs = block.length;
  if (bs < 40) return undefined;
  const first = recLenFromDisk(readU16LE(block, 4), bs);
  if (first === bs) return DX_NODE_COUNT_OFFSET;
  if (first !== 12) return undefined;
  if (recLenFromDisk(readU16LE(block, 16), bs) !== bs - 12) return undefined;
  if (readU32LE(block, 24) !== 0 || block[29] !== DX_ROOT_INFO_SIZE) return undefined;
  return DX_ROOT_COUNT_OFFSET;
}

/**
 * True when the block's dx_tail checksum matches (ext4_dx_csum_verify);
 * false when the block has no room for a tail. Pass the decoded countOffset,
 * count and limit, or leave them out to locate dx_countlimit as the kernel
 * does (`dxCountOffset`).
 */
export function verifyDxBlock(inodeSeed: number, block: Uint8Array, countOffset?: number, count?: number, limit?: number): boolean {
  const at = countOffset ?? dxCountOffset(block);
  if (at === undefined || at + 4 > block.length) return false;
  const lim = limit ?? readU16LE(block, at);
  const cnt = count ?? readU16LE(block, at + 2);
  const tail = at + lim * DX_ENTRY_SIZE;
  if (cnt > lim || tail + DX_TAIL_SIZE > block.length) return false;
  return readU32LE(block, tail + 4) === dxBlockChecksum(inodeSeed, block, at, cnt, lim);
}

/** Computes and stores dt_checksum (dt_reserved is left as is, normally 0). */
export function writeDxChecksum(inodeSeed: number, block: Uint8Array): void {
  const countOffset = dxCountOffset(block);
  assert(countOffset !== undefined, 'not a dx block');
  const limit = readU16LE(block, countOffset);
  const count = readU16LE(block, countOffset + 2);
  writeU32LE(block, countOffset + limit * DX_ENTRY_SIZE + 4, dxBlockChecksum(inodeSeed, block, countOffset, count, limit));
}

/**
 * Index of the entry whose range holds `hash`: the last entry with
 * entry.hash <= hash, entry 0 covering everything below entry 1 (dx_probe's
 * binary search).
 */
export function dxLookup(entries: readonly DxEntry[], hash: number): number {
  assert(entries.length > 0, 'dx lookup in an empty index');
  let lo = 1;
  let hi = entries.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    if (entries[mid].hash > hash >>> 0) hi = mid - 1;
    else lo = mid + 1;
  }
  return lo - 1;
}

function encodeEntries(block: Uint8Array, countOffset: number, limit: number, entries: readonly DxEntry[], hasTail: boolean): void {
  assert(entries.length >= 1 && entries.length <= limit, () => `${entries.length} dx entries for limit ${limit}`);
  const tail = countOffset + limit * DX_ENTRY_SIZE;
  assert(tail + (hasTail ? DX_TAIL_SIZE : 0) <= block.length, 'dx entries do not fit the block');
  block.fill(0, countOffset, hasTail ? tail + DX_TAIL_SIZE : block.length);
  writeU16LE(block, countOffset, limit);
  writeU16LE(block, countOffset + 2, entries.length);
  for (let i = 0; i < entries.length; i++) {
    const o = countOffset + i * DX_ENTRY_SIZE;
    if (i > 0) writeU32LE(block, o, entries[i].hash);
    writeU32LE(block, o + 4, entries[i].block);
  }
}

/**
 * Writes a root block: ".", "..", dx_root_info, count/limit and entries;
 * with `hasTail`, a zeroed dx_tail (fill it with `writeDxChecksum`).
 * count is taken from `entries`, limit from `root.limit`.
 */
export function encodeDxRoot(
  root: Pick<DxRoot, 'dotInode' | 'dotFileType' | 'dotdotInode' | 'dotdotFileType' | 'hashVersion' | 'indirectLevels' | 'entries' | 'limit'> & { unusedFlags?: number },
  block: Uint8Array, opts: { hasTail: boolean },
): void {
  const bs = block.length;
  block.fill(0, 0, DX_ROOT_COUNT_OFFSET);
  writeU32LE(block, 0, root.dotInode);
  writeU16LE(block, 4, recLenToDisk(12, bs));
  block[6] = 1;
  block[7] = root.dotFileType;
  block[8] = 0x2e;
  writeU32LE(block, 12, root.dotdotInode);
  writeU16LE(block, 16, recLenToDisk(bs - 12, bs));
  block[18] = 2;
  block[19] = root.dotdotFileType;
  block[20] = 0x2e;
  block[21] = 0x2e;
  block[28] = root.hashVersion;
  block[29] = DX_ROOT_INFO_SIZE;
  block[30] = root.indirectLevels;
  block[31] = root.unusedFlags ?? 0;
  encodeEntries(block, DX_ROOT_COUNT_OFFSET, root.limit, root.entries, opts.hasTail);
}

/** Writes a node block: the fake entry, count/limit and entries; with `hasTail`, a zeroed dx_tail. */
export function encodeDxNode(node: Pick<DxNode, 'entries' | 'limit'>, block: Uint8Array, opts: { hasTail: boolean }): void {
  block.fill(0, 0, DX_NODE_COUNT_OFFSET);
  writeU16LE(block, 4, recLenToDisk(block.length, block.length));
  encodeEntries(block, DX_NODE_COUNT_OFFSET, node.limit, node.entries, opts.hasTail);
}
