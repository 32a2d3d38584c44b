/**
 * The on-disk inode (struct ext4_inode): a 128-byte base, then, when
 * s_inode_size is larger, an extra area of i_extra_isize bytes holding the
 * newer fields (checksum high half, sub-second and post-2038 time bits,
 * creation time, version high half, project id), and after that the
 * in-inode extended attribute space up to s_inode_size.
 *
 * A newer field exists only if i_extra_isize covers it entirely: inodes
 * written by older kernels have smaller extra areas, and the bytes after the
 * extra area belong to the xattrs. Uncovered fields decode as zero and are
 * not written back.
 */
import { assert } from '../base/assert.js';
import { corrupted } from '../base/errors.js';
import { crc32c, crc32cU32 } from './crc32c.js';
import { RO_COMPAT_HUGE_FILE } from './features.js';
import {
  copyBytes,
  hi32,
  join64,
  lo32,
  readS32LE,
  readU16LE,
  readU32LE,
  writeU16LE,
  writeU32LE,
} from './le.js';
import type { Superblock } from './superblock.js';

// ---- i_mode file types and permission bits ----
export const S_IFMT = 0o170000;
export const S_IFSOCK = 0o140000;
export const S_IFLNK = 0o120000;
export const S_IFREG = 0o100000;
export const S_IFBLK = 0o060000;
export const S_IFDIR = 0o040000;
export const S_IFCHR = 0o020000;
export const S_IFIFO = 0o010000;
export const S_ISUID = 0o4000;
export const S_ISGID = 0o2000;
export const S_ISVTX = 0o1000;

// ---- i_flags ----
export const EXT4_SECRM_FL = 0x00000001;
export const EXT4_UNRM_FL = 0x00000002;
export const EXT4_COMPR_FL = 0x00000004;
export const EXT4_SYNC_FL = 0x00000008;
export const EXT4_IMMUTABLE_FL = 0x00000010;
export const EXT4_APPEND_FL = 0x00000020;
export const EXT4_NODUMP_FL = 0x00000040;
export const EXT4_NOATIME_FL = 0x00000080;
export const EXT4_DIRTY_FL = 0x00000100;
export const EXT4_COMPRBLK_FL = 0x00000200;
export const EXT4_NOCOMPR_FL = 0x00000400;
/** Contents and names are encrypted (fscrypt). */
export const EXT4_ENCRYPT_FL = 0x00000800;
/** Directory uses an htree index. */
export const EXT4_INDEX_FL = 0x00001000;
export const EXT4_IMAGIC_FL = 0x00002000;
export const EXT4_JOURNAL_DATA_FL = 0x00004000;
export const EXT4_NOTAIL_FL = 0x00008000;
export const EXT4_DIRSYNC_FL = 0x00010000;
/** Top of a directory hierarchy (the Orlov allocator spreads its children). */
export const EXT4_TOPDIR_FL = 0x00020000;
/** i_blocks counts filesystem blocks, not 512-byte sectors. */
export const EXT4_HUGE_FILE_FL = 0x00040000;
/** i_block holds an extent tree root instead of block pointers. */
export const EXT4_EXTENTS_FL = 0x00080000;
export const EXT4_VERITY_FL = 0x00100000;
/** This inode stores a large extended attribute value. */
export const EXT4_EA_INODE_FL = 0x00200000;
export const EXT4_DAX_FL = 0x02000000;
/** Data lives in i_block and the system.data xattr. */
export const EXT4_INLINE_DATA_FL = 0x10000000;
export const EXT4_PROJINHERIT_FL = 0x20000000;
/** Directory with case-insensitive name lookup. */
export const EXT4_CASEFOLD_FL = 0x40000000;
export const EXT4_RESERVED_FL = 0x80000000;

// ---- special inode numbers ----
export const BAD_INO = 1;
export const ROOT_INO = 2;
export const USR_QUOTA_INO = 3;
export const GRP_QUOTA_INO = 4;
export const BOOT_LOADER_INO = 5;
export const UNDEL_DIR_INO = 6;
/** Holds the reserved GDT blocks (resize_inode). */
export const RESIZE_INO = 7;
export const JOURNAL_INO = 8;
export const EXCLUDE_INO = 9;
export const REPLICA_INO = 10;

export const GOOD_OLD_INODE_SIZE = 128;
/** Size of i_block: 15 block pointers, an extent root, inline data or a fast symlink target. */
export const I_BLOCK_SIZE = 60;
/** Magic opening the in-inode xattr space (after 128 + i_extra_isize). */
export const XATTR_IBODY_MAGIC = 0xea020000;

const OFF_CHECKSUM_LO = 0x7c;
const OFF_EXTRA_ISIZE = 0x80;
const OFF_CHECKSUM_HI = 0x82;
/** End of the extra fields this codec knows (i_projid ends here): i_extra_isize 32. */
const KNOWN_EXTRA_END = 0xa0;

/**
 * A timestamp as ext4 stores it: 32-bit signed seconds plus, in the extra
 * area, 2 epoch bits extending the range to the year 2446 and 30 bits of
 * nanoseconds.
 */
export interface Timestamp {
  /** Seconds since 1970 (may be negative). */
  sec: number;
  /** Nanoseconds (0 when the inode has no extra field for this time). */
  nsec: number;
}

export interface Inode {
  /** i_mode: file type (S_IF*) and permission bits */
  mode: number;
  /** i_uid | l_i_uid_high << 16 */
  uid: number;
  /** i_size_lo | i_size_high << 32 */
  size: number;
  /** i_atime + i_atime_extra */
  atime: Timestamp;
  /** i_ctime + i_ctime_extra */
  ctime: Timestamp;
  /** i_mtime + i_mtime_extra */
  mtime: Timestamp;
  /** i_dtime: deletion time, or the next inode of the orphan list while orphaned */
  dtime: number;
  /** i_gid | l_i_gid_high << 16 */
  gid: number;
  /** i_links_count */
  linksCount: number;
  /** i_blocks_lo | l_i_blocks_high << 32, raw (see `inodeBlocks512` for its unit) */
  blocks: number;
  /** i_flags (EXT4_*_FL) */
  flags: number;
  /** l_i_version | i_version_hi << 32 */
  version: bigint;
  /** i_block: raw 60 bytes */
  block: Uint8Array;
  /** i_generation: file version for NFS; also salts the inode's checksums */
  generation: number;
  /** i_file_acl_lo | l_i_file_acl_high << 32: the xattr block */
  fileAcl: number;
  /** i_faddr (obsolete fragment address) */
  faddr: number;
  /** l_i_reserved (2 bytes after l_i_checksum_lo) */
  osd2Reserved: number;
  /** i_extra_isize: bytes of extra fields after the 128-byte base (0 for 128-byte inodes) */
  extraIsize: number;
  /** l_i_checksum_lo | i_checksum_hi << 16 (high half only when the extra area covers it) */
  checksum: number;
  /** i_crtime + i_crtime_extra: creation time */
  crtime: Timestamp;
  /** i_projid */
  projid: number;
  /** Extra-area bytes past the fields known here (i_extra_isize > 32, future fields). */
  extraUnknown: Uint8Array;
  /** Bytes after 128 + i_extra_isize up to the inode size: the in-inode xattr space, raw. */
  xattrSpace: Uint8Array;
}

function extraEnd(extraIsize: number): number {
  return GOOD_OLD_INODE_SIZE + extraIsize;
}

/** Whether a field ending at byte `end` lies inside the inode's extra area. */
function fits(extraIsize: number, end: number): boolean {
  return extraEnd(extraIsize) >= end;
}

function decodeTime(buf: Uint8Array, off: number, extraOff: number, hasExtra: boolean): Timestamp {
  const sec = readS32LE(buf, off);
  if (!hasExtra) return { sec, nsec: 0 };
  const extra = readU32LE(buf, extraOff);
  return { sec: sec + (extra & 3) * 0x1_0000_0000, nsec: extra >>> 2 };
}

function encodeTime(buf: Uint8Array, off: number, extraOff: number, hasExtra: boolean, t: Timestamp, what: string): void {
  assert(Number.isInteger(t.sec) && Number.isInteger(t.nsec), () => `${what} is not integral`);
  // The epoch bits count whole 2^32-second spans above the signed 32-bit range.
  const epoch = Math.floor((t.sec + 0x8000_0000) / 0x1_0000_0000);
  if (!hasExtra) {
    assert(epoch === 0 && t.nsec === 0, () => `${what} ${t.sec}.${t.nsec} needs the inode's extra time field`);
  }
  assert(epoch >= 0 && epoch <= 3, () => `${what} ${t.sec} outside ext4's range`);
  assert(t.nsec >= 0 && t.nsec < 2 ** 30, () => `${what} nanoseconds ${t.nsec} out of range`);
  writeU32LE(buf, off, t.sec - epoch * 0x1_0000_0000);
  if (hasExtra) writeU32LE(buf, extraOff, (t.nsec * 4 + epoch) >>> 0);
}

function readExtraIsize(buf: Uint8Array, inodeSize: number, ino: number): number {
  if (inodeSize <= GOOD_OLD_INODE_SIZE) return 0;
  const extra = readU16LE(buf, OFF_EXTRA_ISIZE);
  if ((extra & 3) !== 0 || GOOD_OLD_INODE_SIZE + extra > inodeSize) {
    throw corrupted('inode', ino, `bad extra_isize ${extra} (inode size ${inodeSize})`);
  }
  return extra;
}

function viewBytes(buf: Uint8Array, off: number, len: number): Uint8Array {
  return buf.subarray(off, off + len);
}

function checkInodeSize(buf: Uint8Array, inodeSize: number): void {
  assert(inodeSize >= GOOD_OLD_INODE_SIZE && (inodeSize & (inodeSize - 1)) === 0, () => `invalid inode size ${inodeSize}`);
  assert(buf.length >= inodeSize, 'inode buffer shorter than the inode size');
}

/**
 * Decodes the inode whose `inodeSize` bytes (s_inode_size) start `buf`.
 * `ino` names it in errors. Throws EFSCORRUPTED when i_extra_isize is not a
 * multiple of 4 or overruns the inode, or when the size exceeds 2^53.
 *
 * The byte fields (i_block, the unknown extra fields, the in-inode xattr
 * area) are copies, unless `views`: then they look into `buf`, which the
 * caller promises never to change (a read-only volume's cached block, where
 * a walk over thousands of inodes gains from three fewer allocations each).
 */
export function decodeInode(buf: Uint8Array, inodeSize: number, ino: number, views = false): Inode {
  const bytes = views ? viewBytes : copyBytes;
  checkInodeSize(buf, inodeSize);
  const extraIsize = readExtraIsize(buf, inodeSize, ino);
  const size = join64(readU32LE(buf, 0x04), readU32LE(buf, 0x6c));
  if (!Number.isSafeInteger(size)) throw corrupted('inode', ino, `size ${size} exceeds 2^53`);
  const has = (end: number): boolean => fits(extraIsize, end);
  const end = extraEnd(extraIsize);
  let checksum = readU16LE(buf, OFF_CHECKSUM_LO);
  if (has(0x84)) checksum = (checksum | (readU16LE(buf, OFF_CHECKSUM_HI) << 16)) >>> 0;
  const versionLo = BigInt(readU32LE(buf, 0x24));
  return {
    mode: readU16LE(buf, 0x00),
    uid: readU16LE(buf, 0x02) + readU16LE(buf, 0x78) * 0x10000,
    size,
    atime: decodeTime(buf, 0x08, 0x8c, has(0x90)),
    ctime: decodeTime(buf, 0x0c, 0x84, has(0x88)),
    mtime: decodeTime(buf, 0x10, 0x88, has(0x8c)),
    dtime: readU32LE(buf, 0x14),
    gid: readU16LE(buf, 0x18) + readU16LE(buf, 0x7a) * 0x10000,
    linksCount: readU16LE(buf, 0x1a),
    blocks: join64(readU32LE(buf, 0x1c), readU16LE(buf, 0x74)),
    flags: readU32LE(buf, 0x20),
    version: has(0x9c) ? (BigInt(readU32LE(buf, 0x98)) << 32n) | versionLo : versionLo,
    block: bytes(buf, 0x28, I_BLOCK_SIZE),
    generation: readU32LE(buf, 0x64),
    fileAcl: join64(readU32LE(buf, 0x68), readU16LE(buf, 0x76)),
    faddr: readU32LE(buf, 0x70),
    osd2Reserved: readU16LE(buf, 0x7e),
    extraIsize,
    checksum,
    crtime: has(0x94) ? decodeTime(buf, 0x90, 0x94, has(0x98)) : { sec: 0, nsec: 0 },
    projid: has(0xa0) ? readU32LE(buf, 0x9c) : 0,
    extraUnknown: end > KNOWN_EXTRA_END ? bytes(buf, KNOWN_EXTRA_END, end - KNOWN_EXTRA_END) : new Uint8Array(0),
    xattrSpace: inodeSize > end ? bytes(buf, end, inodeSize - end) : new Uint8Array(0),
  };
}

/**
 * Writes the inode into `buf[0, inodeSize)`: the base, the extra fields
 * that `extraIsize` covers, and the raw extra and xattr bytes. The
 * checksum is written as given; see `setInodeChecksum`.
 */
export function encodeInode(inode: Inode, buf: Uint8Array, inodeSize: number): void {
  checkInodeSize(buf, inodeSize);
  const extraIsize = inode.extraIsize;
  assert(
    (extraIsize & 3) === 0 && GOOD_OLD_INODE_SIZE + extraIsize <= inodeSize && (inodeSize > GOOD_OLD_INODE_SIZE || extraIsize === 0),
    () => `extra_isize ${extraIsize} does not fit inode size ${inodeSize}`,
  );
  const has = (end: number): boolean => fits(extraIsize, end);
  const end = extraEnd(extraIsize);
  assert(Number.isSafeInteger(inode.size) && inode.size >= 0, () => `inode size ${inode.size} invalid`);
  assert(inode.uid >= 0 && inode.uid < 2 ** 32 && inode.gid >= 0 && inode.gid < 2 ** 32, 'uid/gid out of range');
  assert(inode.blocks >= 0 && inode.blocks < 2 ** 48, () => `i_blocks ${inode.blocks} exceeds 48 bits`);
  assert(inode.fileAcl >= 0 && inode.fileAcl < 2 ** 48, () => `file ACL block ${inode.fileAcl} exceeds 48 bits`);
  assert(inode.block.length === I_BLOCK_SIZE, 'i_block must be 60 bytes');

  writeU16LE(buf, 0x00, inode.mode);
  writeU16LE(buf, 0x02, inode.uid & 0xffff);
  writeU32LE(buf, 0x04, lo32(inode.size));
  encodeTime(buf, 0x08, 0x8c, has(0x90), inode.atime, 'atime');
  encodeTime(buf, 0x0c, 0x84, has(0x88), inode.ctime, 'ctime');
  encodeTime(buf, 0x10, 0x88, has(0x8c), inode.mtime, 'mtime');
  writeU32LE(buf, 0x14, inode.dtime);
  writeU16LE(buf, 0x18, inode.gid & 0xffff);
  writeU16LE(buf, 0x1a, inode.linksCount);
  writeU32LE(buf, 0x1c, lo32(inode.blocks));
  writeU32LE(buf, 0x20, inode.flags);
  writeU32LE(buf, 0x24, Number(inode.version & 0xffff_ffffn));
  buf.set(inode.block, 0x28);
  writeU32LE(buf, 0x64, inode.generation);
  writeU32LE(buf, 0x68, lo32(inode.fileAcl));
  writeU32LE(buf, 0x6c, hi32(inode.size));
  writeU32LE(buf, 0x70, inode.faddr);
  writeU16LE(buf, 0x74, hi32(inode.blocks));
  writeU16LE(buf, 0x76, hi32(inode.fileAcl));
  writeU16LE(buf, 0x78, inode.uid >>> 16);
  writeU16LE(buf, 0x7a, inode.gid >>> 16);
  writeU16LE(buf, OFF_CHECKSUM_LO, inode.checksum & 0xffff);
  writeU16LE(buf, 0x7e, inode.osd2Reserved);
  if (inodeSize === GOOD_OLD_INODE_SIZE) {
    assert(inode.version < 2n ** 32n, 'a 128-byte inode has no room for i_version_hi');
    return;
  }

  writeU16LE(buf, OFF_EXTRA_ISIZE, extraIsize);
  if (has(0x84)) writeU16LE(buf, OFF_CHECKSUM_HI, inode.checksum >>> 16);
  if (has(0x94)) {
    encodeTime(buf, 0x90, 0x94, has(0x98), inode.crtime, 'crtime');
  } else {
    assert(inode.crtime.sec === 0 && inode.crtime.nsec === 0, 'crtime needs i_extra_isize >= 20');
  }
  if (has(0x9c)) {
    writeU32LE(buf, 0x98, Number((inode.version >> 32n) & 0xffff_ffffn));
  } else {
    assert(inode.version < 2n ** 32n, 'i_version_hi needs i_extra_isize >= 28');
  }
  if (has(0xa0)) writeU32LE(buf, 0x9c, inode.projid);
  else assert(inode.projid === 0, 'i_projid needs i_extra_isize >= 32');

  const unknownLen = Math.max(0, end - KNOWN_EXTRA_END);
  assert(inode.extraUnknown.length === unknownLen, 'extraUnknown length does not match i_extra_isize');
  buf.set(inode.extraUnknown, KNOWN_EXTRA_END);
  assert(inode.xattrSpace.length === inodeSize - end, 'xattrSpace length does not match the inode and extra sizes');
  buf.set(inode.xattrSpace, end);
}

const ZERO16 = new Uint8Array(2);

/**
 * Seed for every checksum of this inode and of blocks it owns (extent
 * blocks, directory blocks, its xattr block uses its own): the filesystem
 * seed extended with the inode number and generation, both as le32.
 */
export function inodeCsumSeed(fsSeed: number, ino: number, generation: number): number {
  return crc32cU32(crc32cU32(fsSeed, ino), generation);
}

/** Whether the inode's extra area holds i_checksum_hi (read from the encoded bytes). */
function hasChecksumHi(buf: Uint8Array, inodeSize: number): boolean {
  return inodeSize > GOOD_OLD_INODE_SIZE && GOOD_OLD_INODE_SIZE + readU16LE(buf, OFF_EXTRA_ISIZE) >= OFF_CHECKSUM_HI + 2;
}

/**
 * crc32c of the whole encoded inode (all `inodeSize` bytes, xattr space
 * included) seeded with `inodeCsumSeed`, with the checksum fields counted
 * as zero. Returns all 32 bits; only the low 16 are stored when the inode
 * has no room for i_checksum_hi.
 */
export function inodeChecksum(fsSeed: number, ino: number, buf: Uint8Array, inodeSize: number): number {
  checkInodeSize(buf, inodeSize);
  let c = inodeCsumSeed(fsSeed, ino, readU32LE(buf, 0x64));
  c = crc32c(c, buf, 0, OFF_CHECKSUM_LO);
  c = crc32c(c, ZERO16, 0, 2);
  c = crc32c(c, buf, OFF_CHECKSUM_LO + 2, GOOD_OLD_INODE_SIZE);
  if (inodeSize > GOOD_OLD_INODE_SIZE) {
    c = crc32c(c, buf, GOOD_OLD_INODE_SIZE, OFF_CHECKSUM_HI);
    let rest = OFF_CHECKSUM_HI;
    if (hasChecksumHi(buf, inodeSize)) {
      c = crc32c(c, ZERO16, 0, 2);
      rest += 2;
    }
    c = crc32c(c, buf, rest, inodeSize);
  }
  return c;
}

export function verifyInodeChecksum(fsSeed: number, ino: number, buf: Uint8Array, inodeSize: number): boolean {
  const computed = inodeChecksum(fsSeed, ino, buf, inodeSize);
  const lo = readU16LE(buf, OFF_CHECKSUM_LO);
  if (hasChecksumHi(buf, inodeSize)) return ((lo | (readU16LE(buf, OFF_CHECKSUM_HI) << 16)) >>> 0) === computed;
  return lo === (computed & 0xffff);
}

/** Recomputes and stores the checksum of an encoded inode; returns the full 32-bit value. */
export function setInodeChecksum(fsSeed: number, ino: number, buf: Uint8Array, inodeSize: number): number {
  const c = inodeChecksum(fsSeed, ino, buf, inodeSize);
  writeU16LE(buf, OFF_CHECKSUM_LO, c & 0xffff);
  if (hasChecksumHi(buf, inodeSize)) writeU16LE(buf, OFF_CHECKSUM_HI, c >>> 16);
  return c;
}

/**
 * The in-inode xattr space of an encoded inode: from 128 + i_extra_isize
 * (where the 4-byte XATTR_IBODY_MAGIC header goes) to the end of the inode.
 * Empty for 128-byte inodes. Clamped to the inode, so a corrupt
 * i_extra_isize (which decodeInode reports) yields an empty area rather
 * than one that runs past the inode.
 */
export function inodeXattrArea(buf: Uint8Array, inodeSize: number): { start: number; end: number } {
  if (inodeSize <= GOOD_OLD_INODE_SIZE) return { start: inodeSize, end: inodeSize };
  return { start: Math.min(GOOD_OLD_INODE_SIZE + readU16LE(buf, OFF_EXTRA_ISIZE), inodeSize), end: inodeSize };
}

/**
 * i_blocks in 512-byte units. Without huge_file only the low 32 bits count;
 * with it the field is 48 bits, and an inode flagged EXT4_HUGE_FILE_FL
 * counts filesystem blocks instead of sectors.
 */
export function inodeBlocks512(inode: Inode, sb: Pick<Superblock, 'featureRoCompat' | 'logBlockSize'>): number {
  if ((sb.featureRoCompat & RO_COMPAT_HUGE_FILE) === 0) return lo32(inode.blocks);
  if ((inode.flags & EXT4_HUGE_FILE_FL) !== 0) return inode.blocks * 2 ** (sb.logBlockSize + 1);
  return inode.blocks;
}

/**
 * Stores a device number (st_rdev as glibc's makedev lays it out) in a
 * device inode's i_block as Linux does: the old 8:8 encoding in i_block[0]
 * when major and minor both fit a byte, else the 12:20 "new" encoding in
 * i_block[1] with i_block[0] left zero.
 */
export function encodeDeviceNumber(block: Uint8Array, rdev: number): void {
  const major = Math.floor(rdev / 256) & 0xfff;
  // dev_t as glibc lays it out: minor bits 8-19 sit at bits 20-31.
  const minor = (rdev & 0xff) | (Math.floor(rdev / 0x1000) & 0xfff00);
  if (major < 256 && minor < 256) writeU32LE(block, 0, (major << 8) | minor);
  else writeU32LE(block, 4, ((minor & 0xff) | (major << 8) | ((minor & ~0xff) << 12)) >>> 0);
}

export type FileType = 'file' | 'directory' | 'symlink' | 'chardev' | 'blockdev' | 'fifo' | 'socket' | 'unknown';

export function fileType(mode: number): FileType {
  switch (mode & S_IFMT) {
    case S_IFREG: return 'file';
    case S_IFDIR: return 'directory';
    case S_IFLNK: return 'symlink';
    case S_IFCHR: return 'chardev';
    case S_IFBLK: return 'blockdev';
    case S_IFIFO: return 'fifo';
    case S_IFSOCK: return 'socket';
    default: return 'unknown';
  }
}

export function isDir(mode: number): boolean { return (mode & S_IFMT) === S_IFDIR; }
export function isReg(mode: number): boolean { return (mode & S_IFMT) === S_IFREG; }
export function isSymlink(mode: number): boolean { return (mode & S_IFMT) === S_IFLNK; }
export function isChrdev(mode: number): boolean { return (mode & S_IFMT) === S_IFCHR; }
export function isBlkdev(mode: number): boolean { return (mode & S_IFMT) === S_IFBLK; }
export function isFifo(mode: number): boolean { return (mode & S_IFMT) === S_IFIFO; }
export function isSocket(mode: number): boolean { return (mode & S_IFMT) === S_IFSOCK; }
