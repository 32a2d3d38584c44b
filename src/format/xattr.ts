/**
 * Extended attributes: in the inode body after the fixed fields, and in one
 * external block (i_file_acl).
 *
 * Both hold a list of ext4_xattr_entry records growing up from the start and
 * the values growing down from the end, each padded to 4 bytes:
 *
 *   name_len u8 | name_index u8 | value_offs u16 | value_inum u32 | value_size u32 | hash u32 | name
 *
 * The list ends with four zero bytes. The name is stored without its prefix
 * ("user.", "trusted.", ...), which `name_index` encodes. With the ea_inode
 * feature a value may live in its own inode (value_inum != 0, value_offs 0).
 *
 * In the inode: at 128 + i_extra_isize a u32 magic 0xEA020000, then the
 * entries; value offsets count from the first entry. The region ends at the
 * end of the on-disk inode.
 *
 * In a block: a 32-byte ext4_xattr_header (magic, refcount, blocks = 1, hash
 * of all entries, crc32c checksum, 12 reserved bytes), entries from offset 32,
 * value offsets from the start of the block.
 */
import { corrupted, FsError } from '../base/errors.js';
import { assert } from '../base/assert.js';
import { crc32c, crc32cU32 } from './crc32c.js';
import { readU16LE, readU32LE, writeU16LE, writeU32LE } from './le.js';

/** h_magic, and the in-inode header's magic */
export const EXT4_XATTR_MAGIC = 0xea020000;
/** sizeof(struct ext4_xattr_header) */
export const XATTR_BLOCK_HEADER_SIZE = 32;
/** sizeof(struct ext4_xattr_ibody_header) */
export const XATTR_IBODY_HEADER_SIZE = 4;
/** Fixed part of an entry, before the name. */
export const XATTR_ENTRY_HEADER_SIZE = 16;
/** EXT4_XATTR_SIZE_MAX: the largest value Linux accepts. */
export const EXT4_XATTR_SIZE_MAX = 1 << 24;
/** Offset of h_checksum in the block header. */
const H_CHECKSUM_OFFSET = 16;
/** The root directory can never hold an xattr value. */
const EXT4_ROOT_INO = 2;

export const XATTR_INDEX_USER = 1;
export const XATTR_INDEX_POSIX_ACL_ACCESS = 2;
export const XATTR_INDEX_POSIX_ACL_DEFAULT = 3;
export const XATTR_INDEX_TRUSTED = 4;
export const XATTR_INDEX_LUSTRE = 5;
export const XATTR_INDEX_SECURITY = 6;
export const XATTR_INDEX_SYSTEM = 7;
export const XATTR_INDEX_RICHACL = 8;
export const XATTR_INDEX_ENCRYPTION = 9;
export const XATTR_INDEX_HURD = 10;

/** Name prefixes by name_index. The ACL and richacl indexes stand for a whole name (the stored suffix is empty). */
const PREFIXES: ReadonlyMap<number, string> = new Map([
  [XATTR_INDEX_USER, 'user.'],
  [XATTR_INDEX_POSIX_ACL_ACCESS, 'system.posix_acl_access'],
  [XATTR_INDEX_POSIX_ACL_DEFAULT, 'system.posix_acl_default'],
  [XATTR_INDEX_TRUSTED, 'trusted.'],
  [XATTR_INDEX_LUSTRE, 'lustre.'],
  [XATTR_INDEX_SECURITY, 'security.'],
  [XATTR_INDEX_SYSTEM, 'system.'],
  [XATTR_INDEX_RICHACL, 'system.richacl'],
  [XATTR_INDEX_HURD, 'gnu.'],
]);

export interface XattrEntry {
  /** e_name_index */
  nameIndex: number;
  /** e_name: the name after the prefix (a copy) */
  name: Uint8Array;
  /** Prefix + name as text (name bytes read as UTF-8); no prefix for unknown indexes, as e2fsprogs shows them */
  fullName: string;
  /** e_value_offs (from the first entry in the inode, from the block start in a block) */
  valueOffset: number;
  /** e_value_inum: the inode holding the value (ea_inode), else 0 */
  valueInum: number;
  /** e_value_size */
  valueSize: number;
  /** e_hash */
  hash: number;
  /** The value (a copy); undefined when it lives in another inode */
  value?: Uint8Array;
}

/** What encoding needs of an entry. */
export interface XattrInput {
  nameIndex: number;
  name: Uint8Array;
  /** The value, when stored here. */
  value?: Uint8Array;
  /** ea_inode: the inode holding the value; then valueSize and hash must be given. */
  valueInum?: number;
  valueSize?: number;
  /**
   * e_hash. When absent: computed from name and value (unsigned form) in a
   * block, 0 in the inode, as Linux writes them (it hashes in-inode entries
   * only when the value lives in an ea_inode, and e2fsprogs never does).
   */
  hash?: number;
}

export interface XattrBlockHeader {
  /** h_magic */
  magic: number;
  /** h_refcount: how many inodes share the block */
  refcount: number;
  /** h_blocks: always 1 */
  blocks: number;
  /** h_hash: hash over the entry hashes, for sharing identical blocks */
  hash: number;
  /** h_checksum */
  checksum: number;
}


const utf8 = new TextDecoder('utf-8');
const utf8Encoder = new TextEncoder();

/** EXT4_XATTR_LEN: bytes an entry with an n-byte name takes in the list. */
export function xattrEntrySize(nameLen: number): number {
  return (XATTR_ENTRY_HEADER_SIZE + nameLen + 3) & ~3;
}

/** EXT4_XATTR_SIZE: bytes a value takes, padded to 4. */
export function xattrValueSize(size: number): number {
  return (size + 3) & ~3;
}

/** The prefix for a name index, or undefined for indexes without one. */
export function xattrNamePrefix(nameIndex: number): string | undefined {
  return PREFIXES.get(nameIndex);
}

/** Full attribute name of an entry. */
export function xattrFullName(nameIndex: number, name: Uint8Array): string {
  return (PREFIXES.get(nameIndex) ?? '') + utf8.decode(name);
}

/**
 * Splits a full name into index and stored suffix, undefined when no known
 * prefix applies. The ACL names map to their own indexes only when they match
 * exactly; "system.foo" goes to the generic system index.
 */
export function splitXattrName(fullName: string): { nameIndex: number; name: Uint8Array } | undefined {
  for (const idx of [XATTR_INDEX_POSIX_ACL_ACCESS, XATTR_INDEX_POSIX_ACL_DEFAULT, XATTR_INDEX_RICHACL]) {
    if (fullName === PREFIXES.get(idx)) return { nameIndex: idx, name: new Uint8Array(0) };
  }
  for (const idx of [XATTR_INDEX_USER, XATTR_INDEX_TRUSTED, XATTR_INDEX_SECURITY, XATTR_INDEX_SYSTEM, XATTR_INDEX_HURD, XATTR_INDEX_LUSTRE]) {
    const p = PREFIXES.get(idx)!;
    if (fullName.startsWith(p)) return { nameIndex: idx, name: utf8Encoder.encode(fullName.slice(p.length)) };
  }
  return undefined;
}

/**
 * The order Linux keeps block entries in (and searches them by): name index,
 * then name length, then name bytes. In-inode entries are not sorted.
 */
export function compareXattrEntries(a: Pick<XattrInput, 'nameIndex' | 'name'>, b: Pick<XattrInput, 'nameIndex' | 'name'>): number {
  if (a.nameIndex !== b.nameIndex) return a.nameIndex - b.nameIndex;
  if (a.name.length !== b.name.length) return a.name.length - b.name.length;
  for (let i = 0; i < a.name.length; i++) if (a.name[i] !== b.name[i]) return a.name[i] - b.name[i];
  return 0;
}

/**
 * Walks the entry list in buf[first, end) like the kernel's check_xattrs:
 * every entry and the terminator inside the region, no NUL in names, value
 * sizes bounded, values inside the region, after the terminator and not
 * overlapping one another. Value offsets count from `valueBase`.
 */
function parseEntries(buf: Uint8Array, first: number, end: number, valueBase: number, fail: (what: string) => Error): XattrEntry[] {
  const entries: XattrEntry[] = [];
  let off = first;
  for (;;) {
    if (off + 4 > end) throw fail(`entry list at offset ${off} runs past the end (${end}) without its terminator`);
    if (readU32LE(buf, off) === 0) break;
    const nameLen = buf[off];
    const next = off + xattrEntrySize(nameLen);
    if (next + 4 > end) throw fail(`entry at offset ${off} runs past the end (${end})`);
    const nameStart = off + XATTR_ENTRY_HEADER_SIZE;
    if (buf.subarray(nameStart, nameStart + nameLen).includes(0)) throw fail(`entry at offset ${off}: name contains NUL`);
    const nameIndex = buf[off + 1];
    const name = buf.slice(nameStart, nameStart + nameLen);
    entries.push({
      nameIndex, name, fullName: xattrFullName(nameIndex, name),
      valueOffset: readU16LE(buf, off + 2), valueInum: readU32LE(buf, off + 4), valueSize: readU32LE(buf, off + 8), hash: readU32LE(buf, off + 12),
    });
    off = next;
  }
  const listEnd = off + 4;
  const ranges: Array<[number, number, string]> = [];
  for (const e of entries) {
    if (e.valueSize > EXT4_XATTR_SIZE_MAX) throw fail(`${e.fullName}: value size ${e.valueSize} exceeds ${EXT4_XATTR_SIZE_MAX}`);
    if (e.valueInum !== 0) {
      if (e.valueInum === EXT4_ROOT_INO) throw fail(`${e.fullName}: value inode ${e.valueInum} is the root directory`);
      if (e.valueSize === 0) throw fail(`${e.fullName}: value inode ${e.valueInum} with size 0`);
      continue;
    }
    if (e.valueSize === 0) {
      e.value = new Uint8Array(0);
      continue;
    }
    const start = valueBase + e.valueOffset;
    const padded = start + xattrValueSize(e.valueSize);
    if (start < listEnd || padded > end) {
      throw fail(`${e.fullName}: value at ${e.valueOffset} (size ${e.valueSize}) outside the value area [${listEnd - valueBase}, ${end - valueBase})`);
    }
    ranges.push([start, padded, e.fullName]);
    e.value = buf.slice(start, start + e.valueSize);
  }
  ranges.sort((a, b) => a[0] - b[0]);
  for (let i = 1; i < ranges.length; i++) {
    if (ranges[i][0] < ranges[i - 1][1]) throw fail(`values of ${ranges[i - 1][2]} and ${ranges[i][2]} overlap`);
  }
  return entries;
}

/**
 * In-inode attributes. `areaStart` is 128 + i_extra_isize (where the magic
 * sits), `areaEnd` the on-disk inode size. No magic means no attributes.
 */
export function parseInodeXattrs(inodeBuf: Uint8Array, areaStart: number, areaEnd: number, ino: number): XattrEntry[] {
  const fail = (what: string): Error => corrupted('inode', ino, `in-inode xattrs: ${what}`);
  if (areaStart > areaEnd || areaEnd > inodeBuf.length) throw fail(`area [${areaStart}, ${areaEnd}) outside the ${inodeBuf.length}-byte inode`);
  if (areaEnd - areaStart < XATTR_IBODY_HEADER_SIZE || readU32LE(inodeBuf, areaStart) !== EXT4_XATTR_MAGIC) return [];
  if (areaEnd - areaStart < XATTR_IBODY_HEADER_SIZE + 4) throw fail('area too small for an entry list');
  const first = areaStart + XATTR_IBODY_HEADER_SIZE;
  return parseEntries(inodeBuf, first, areaEnd, first, fail);
}

export function readXattrBlockHeader(block: Uint8Array): XattrBlockHeader {
  assert(block.length >= XATTR_BLOCK_HEADER_SIZE, 'xattr block shorter than its header');
  return { magic: readU32LE(block, 0), refcount: readU32LE(block, 4), blocks: readU32LE(block, 8), hash: readU32LE(block, 12), checksum: readU32LE(block, 16) };
}

/** Entries of an external attribute block, after checking its header and layout. */
export function parseXattrBlock(block: Uint8Array, blockNr: number): XattrEntry[] {
  const fail = (what: string): Error => corrupted('xattr block', blockNr, what);
  if (block.length < 1024) throw fail(`block of ${block.length} bytes`);
  const h = readXattrBlockHeader(block);
  if (h.magic !== EXT4_XATTR_MAGIC) throw fail(`bad magic 0x${h.magic.toString(16)}`);
  if (h.blocks !== 1) throw fail(`h_blocks ${h.blocks}, expected 1`);
  return parseEntries(block, XATTR_BLOCK_HEADER_SIZE, block.length, 0, fail);
}

/**
 * ext4_xattr_hash_entry: name bytes folded in with a 5-bit rotation, then the
 * value as little-endian u32 words (zero-padded) with a 16-bit rotation. For
 * a value in its own inode, pass the le32 of that inode's value hash.
 * `signedNames` gives the variant older kernels computed on x86, where name
 * bytes >= 0x80 were sign-extended; Linux accepts either when verifying.
 */
export function xattrEntryHash(entry: { name: Uint8Array }, value: Uint8Array, signedNames = false): number {
  let h = 0;
  for (const b of entry.name) {
    const c = signedNames && b >= 0x80 ? b - 0x100 : b;
    h = ((h << 5) ^ (h >>> 27) ^ c) >>> 0;
  }
  const words = (value.length + 3) >>> 2;
  for (let i = 0; i < words; i++) {
    const o = 4 * i;
    const w = ((value[o] ?? 0) | ((value[o + 1] ?? 0) << 8) | ((value[o + 2] ?? 0) << 16) | ((value[o + 3] ?? 0) << 24)) >>> 0;
    h = ((h << 16) ^ (h >>> 16) ^ w) >>> 0;
  }
  return h;
}

/** Whether a stored e_hash matches the entry's own name and value (either name signedness). Not for ea_inode values. */
export function xattrEntryHashMatches(entry: XattrEntry): boolean {
  if (entry.value === undefined) return false;
  return entry.hash === xattrEntryHash(entry, entry.value) || entry.hash === xattrEntryHash(entry, entry.value, true);
}

/**
 * ext4_xattr_rehash: the block hash folds the entry hashes with a 16-bit
 * rotation. An entry hash of 0 makes the whole hash 0 (the block is then
 * never shared).
 */
export function xattrBlockHash(entries: ReadonlyArray<{ hash: number }>): number {
  let h = 0;
  for (const e of entries) {
    if (e.hash === 0) return 0;
    h = ((h << 16) ^ (h >>> 16) ^ e.hash) >>> 0;
  }
  return h;
}

/** ext4_xattr_block_csum: crc32c(fsSeed, le64 block number), then the block with h_checksum taken as zero. */
export function xattrBlockChecksum(fsSeed: number, blockNr: number, block: Uint8Array): number {
  let c = crc32cU32(fsSeed, blockNr % 0x1_0000_0000);
  c = crc32cU32(c, Math.floor(blockNr / 0x1_0000_0000));
  c = crc32c(c, block, 0, H_CHECKSUM_OFFSET);
  c = crc32cU32(c, 0);
  return crc32c(c, block, H_CHECKSUM_OFFSET + 4, block.length);
}

export function verifyXattrBlock(fsSeed: number, blockNr: number, block: Uint8Array): boolean {
  if (block.length < XATTR_BLOCK_HEADER_SIZE) return false;
  return readU32LE(block, H_CHECKSUM_OFFSET) === xattrBlockChecksum(fsSeed, blockNr, block);
}

export function writeXattrBlockChecksum(fsSeed: number, blockNr: number, block: Uint8Array): void {
  writeU32LE(block, H_CHECKSUM_OFFSET, xattrBlockChecksum(fsSeed, blockNr, block));
}

/** Bytes the entries need: the list with its terminator, plus the padded values stored alongside. */
export function xattrSpaceNeeded(entries: readonly XattrInput[]): number {
  let n = 4;
  for (const e of entries) {
    n += xattrEntrySize(e.name.length);
    if (!e.valueInum) n += xattrValueSize(e.value?.length ?? 0);
  }
  return n;
}

/**
 * Lays out entries in buf[first, end): the list from `first` in the given
 * order, values from `end` downwards (the first entry's value highest), as
 * Linux and e2fsprogs do. Zero-length values get offset 0, as Linux writes
 * them (e2fsprogs writes the current value boundary instead; both are read
 * the same). Returns the entry hashes written.
 */
function layOut(buf: Uint8Array, entries: readonly XattrInput[], first: number, end: number, valueBase: number, inBlock: boolean): number[] {
  if (first + xattrSpaceNeeded(entries) > end) throw new FsError('ENOSPC', 'extended attributes do not fit');
  buf.fill(0, first, end);
  const hashes: number[] = [];
  let off = first;
  let valueEnd = end;
  for (const e of entries) {
    assert(e.name.length <= 255 && !e.name.includes(0), 'bad xattr name');
    assert(e.nameIndex >= 0 && e.nameIndex <= 255, () => `bad xattr name index ${e.nameIndex}`);
    let valueOffset = 0;
    let size: number;
    let hash: number;
    if (e.valueInum) {
      assert(e.valueSize !== undefined && e.hash !== undefined, 'an ea_inode entry needs its size and hash');
      size = e.valueSize;
      hash = e.hash;
    } else {
      const value = e.value ?? new Uint8Array(0);
      assert(value.length <= EXT4_XATTR_SIZE_MAX, 'xattr value too large');
      size = value.length;
      if (size > 0) {
        valueEnd -= xattrValueSize(size);
        buf.set(value, valueEnd);
        valueOffset = valueEnd - valueBase;
      }
      hash = e.hash ?? (inBlock ? xattrEntryHash(e, value) : 0);
    }
    buf[off] = e.name.length;
    buf[off + 1] = e.nameIndex;
    writeU16LE(buf, off + 2, valueOffset);
    writeU32LE(buf, off + 4, e.valueInum ?? 0);
    writeU32LE(buf, off + 8, size);
    writeU32LE(buf, off + 12, hash);
    buf.set(e.name, off + XATTR_ENTRY_HEADER_SIZE);
    hashes.push(hash);
    off += xattrEntrySize(e.name.length);
  }
  return hashes;
}

/**
 * A new external attribute block holding `entries` in the given order (Linux
 * keeps them sorted: `compareXattrEntries`), with h_checksum left 0 (see
 * `writeXattrBlockChecksum`). h_hash is computed as Linux does unless
 * `blockHash` is given (e2fsprogs leaves it 0, which only stops sharing).
 * Throws ENOSPC when the entries do not fit.
 */
export function encodeXattrBlock(
  entries: readonly XattrInput[], blockSize: number, opts: { refcount?: number; blockHash?: number } = {},
): Uint8Array {
  const block = new Uint8Array(blockSize);
  const hashes = layOut(block, entries, XATTR_BLOCK_HEADER_SIZE, blockSize, 0, true);
  writeU32LE(block, 0, EXT4_XATTR_MAGIC);
  writeU32LE(block, 4, opts.refcount ?? 1);
  writeU32LE(block, 8, 1);
  writeU32LE(block, 12, opts.blockHash ?? xattrBlockHash(hashes.map((hash) => ({ hash }))));
  return block;
}

/**
 * Writes the in-inode attribute area: `area` runs from 128 + i_extra_isize
 * to the end of the on-disk inode. With no entries the magic is cleared, as
 * Linux does. Throws ENOSPC when they do not fit.
 */
export function encodeInodeXattrs(entries: readonly XattrInput[], area: Uint8Array): void {
  if (entries.length === 0) {
    area.fill(0);
    return;
  }
  if (area.length < XATTR_IBODY_HEADER_SIZE) throw new FsError('ENOSPC', 'no room for in-inode extended attributes');
  layOut(area, entries, XATTR_IBODY_HEADER_SIZE, area.length, XATTR_IBODY_HEADER_SIZE, false);
  writeU32LE(area, 0, EXT4_XATTR_MAGIC);
}

// ---------------------------------------------------------------------------
// POSIX ACLs

/** ACL entry tags (e_tag) */
export const ACL_USER_OBJ = 0x01;
export const ACL_USER = 0x02;
export const ACL_GROUP_OBJ = 0x04;
export const ACL_GROUP = 0x08;
export const ACL_MASK = 0x10;
export const ACL_OTHER = 0x20;
/** a_version of ext4's on-disk ACL and of the xattr form the kernel exchanges with user space */
export const EXT4_ACL_VERSION = 1;
export const POSIX_ACL_XATTR_VERSION = 2;
/** e_id of entries that name no user or group in the xattr form */
const ACL_UNDEFINED_ID = 0xffffffff;

function isShortTag(tag: number): boolean {
  return tag === ACL_USER_OBJ || tag === ACL_GROUP_OBJ || tag === ACL_MASK || tag === ACL_OTHER;
}

/**
 * ext4's compact ACL (version 1 header; 4-byte entries for the owner, owning
 * group, mask and other, 8-byte entries with an id for named users and
 * groups) to the form getxattr returns: version 2 header and 8-byte entries,
 * id 0xFFFFFFFF where there is none (the kernel's posix_acl_to_xattr).
 */
export function aclDiskToXattr(value: Uint8Array, ino?: number): Uint8Array {
  const fail = (what: string): Error =>
    ino === undefined ? corrupted('POSIX ACL', undefined, what) : corrupted('inode', ino, `POSIX ACL: ${what}`);
  if (value.length < 4 || readU32LE(value, 0) !== EXT4_ACL_VERSION) throw fail('bad header');
  const out: number[][] = [];
  let off = 4;
  while (off < value.length) {
    if (off + 4 > value.length) throw fail(`truncated entry at offset ${off}`);
    const tag = readU16LE(value, off);
    const perm = readU16LE(value, off + 2);
    if (isShortTag(tag)) {
      out.push([tag, perm, ACL_UNDEFINED_ID]);
      off += 4;
    } else if (tag === ACL_USER || tag === ACL_GROUP) {
      if (off + 8 > value.length) throw fail(`truncated entry at offset ${off}`);
      out.push([tag, perm, readU32LE(value, off + 4)]);
      off += 8;
    } else {
      throw fail(`unknown tag 0x${tag.toString(16)} at offset ${off}`);
    }
  }
  const x = new Uint8Array(4 + 8 * out.length);
  writeU32LE(x, 0, POSIX_ACL_XATTR_VERSION);
  out.forEach(([tag, perm, id], i) => {
    writeU16LE(x, 4 + 8 * i, tag);
    writeU16LE(x, 6 + 8 * i, perm);
    writeU32LE(x, 8 + 8 * i, id);
  });
  return x;
}

/** The inverse of `aclDiskToXattr`; EINVAL for a malformed xattr value (it comes from the user). */
export function aclXattrToDisk(value: Uint8Array): Uint8Array {
  if (value.length < 4 || readU32LE(value, 0) !== POSIX_ACL_XATTR_VERSION || (value.length - 4) % 8 !== 0) {
    throw new FsError('EINVAL', 'invalid POSIX ACL xattr value');
  }
  const n = (value.length - 4) / 8;
  const parts: Uint8Array[] = [];
  let size = 4;
  for (let i = 0; i < n; i++) {
    const o = 4 + 8 * i;
    const tag = readU16LE(value, o);
    const short = isShortTag(tag);
    if (!short && tag !== ACL_USER && tag !== ACL_GROUP) throw new FsError('EINVAL', `invalid POSIX ACL tag 0x${tag.toString(16)}`);
    const e = new Uint8Array(short ? 4 : 8);
    writeU16LE(e, 0, tag);
    writeU16LE(e, 2, readU16LE(value, o + 2));
    if (!short) writeU32LE(e, 4, readU32LE(value, o + 4));
    parts.push(e);
    size += e.length;
  }
  const disk = new Uint8Array(size);
  writeU32LE(disk, 0, EXT4_ACL_VERSION);
  let off = 4;
  for (const p of parts) {
    disk.set(p, off);
    off += p.length;
  }
  return disk;
}
