/**
 * `fs.Stats`-shaped views of an inode. Times carry nanoseconds: the bigint
 * variant is exact, the number variant rounds to what a double can hold, as
 * Node's own does.
 */
import type { Ext4Inode } from '../inode/ext4-inode.js';
import type { Timestamp } from '../format/inode.js';
import * as I from '../format/inode.js';
import type { BigIntStats, Stats } from './types.js';

export interface StatContext {
  /** Stands in for st_dev: one number per open volume. */
  dev: number;
  blockSize: number;
  /** i_blocks in 512-byte units (huge_file aware). */
  blocks512(inode: Ext4Inode): number;
}

/**
 * Device number of a device inode, as Linux's st_rdev (glibc makedev). ext4
 * stores small numbers in i_block[0] (old 8:8 encoding) and larger ones in
 * i_block[1] (the 12:20 "new" encoding) with i_block[0] zero.
 */
export function deviceNumber(inode: Ext4Inode): { major: number; minor: number } {
  const b = inode.disk.block;
  const old = b[0] | (b[1] << 8) | (b[2] << 16) | (b[3] << 24);
  if (old !== 0) return { major: (old >>> 8) & 0xff, minor: old & 0xff };
  const dev = (b[4] | (b[5] << 8) | (b[6] << 16) | (b[7] << 24)) >>> 0;
  return { major: (dev & 0xfff00) >>> 8, minor: (dev & 0xff) | ((dev >>> 12) & 0xfff00) };
}

export function makedev(major: number, minor: number): number {
  return ((major & 0xfff) << 8) + (minor & 0xff) + (minor >>> 8) * 0x100000 + Math.floor(major / 0x1000) * 2 ** 32;
}

const S_IFMT = I.S_IFMT;

abstract class StatsMethods<T extends number | bigint> {
  abstract mode: T;
  /** The inode's four times, turned into Dates only when asked for (most callers never do). */
  protected abstract times: { a: Timestamp; m: Timestamp; c: Timestamp; b: Timestamp };
  get atime(): Date { return date(this.times.a); }
  get mtime(): Date { return date(this.times.m); }
  get ctime(): Date { return date(this.times.c); }
  get birthtime(): Date { return date(this.times.b); }
  private type(): number { return Number(this.mode) & S_IFMT; }
  isFile(): boolean { return this.type() === I.S_IFREG; }
  isDirectory(): boolean { return this.type() === I.S_IFDIR; }
  isSymbolicLink(): boolean { return this.type() === I.S_IFLNK; }
  isBlockDevice(): boolean { return this.type() === I.S_IFBLK; }
  isCharacterDevice(): boolean { return this.type() === I.S_IFCHR; }
  isFIFO(): boolean { return this.type() === I.S_IFIFO; }
  isSocket(): boolean { return this.type() === I.S_IFSOCK; }
}

function ns(t: Timestamp): bigint {
  return BigInt(t.sec) * 1_000_000_000n + BigInt(t.nsec);
}
function ms(t: Timestamp): number {
  return t.sec * 1000 + t.nsec / 1e6;
}
function date(t: Timestamp): Date {
  return new Date(Math.floor(ms(t)));
}

/**
 * st_blocks: i_blocks, plus, for a regular file holding inline data, the
 * sectors its bytes would take (Linux's ext4_file_getattr does this so
 * that tar, rsync and the like do not take a small inline file for an
 * all-hole one; directories and symlinks get no such addition).
 */
export function statBlocks(ctx: Pick<StatContext, 'blocks512'>, inode: Ext4Inode): number {
  const blocks = ctx.blocks512(inode);
  return inode.isReg && inode.hasInlineData ? blocks + Math.ceil(inode.disk.size / 512) : blocks;
}

/** st_rdev of a character or block device inode; 0 for every other type. */
export function rdevOf(inode: Ext4Inode): number {
  const type = inode.mode & S_IFMT;
  if (type !== I.S_IFCHR && type !== I.S_IFBLK) return 0;
  const { major, minor } = deviceNumber(inode);
  return makedev(major, minor);
}

/** ext4 only stores a creation time in the extra area; Node reports 0 where none exists. */
function birth(inode: Ext4Inode): Timestamp {
  return inode.disk.extraIsize >= 24 ? inode.disk.crtime : { sec: 0, nsec: 0 };
}

export class Ext4Stats extends StatsMethods<number> implements Stats {
  dev: number; ino: number; mode: number; nlink: number; uid: number; gid: number; rdev: number;
  size: number; blksize: number; blocks: number;
  atimeMs: number; mtimeMs: number; ctimeMs: number; birthtimeMs: number;
  protected times: { a: Timestamp; m: Timestamp; c: Timestamp; b: Timestamp };

  constructor(ctx: StatContext, inode: Ext4Inode) {
    super();
    const d = inode.disk;
    this.dev = ctx.dev; this.ino = inode.ino; this.mode = d.mode; this.nlink = d.linksCount;
    this.uid = d.uid; this.gid = d.gid; this.rdev = rdevOf(inode);
    this.size = d.size; this.blksize = ctx.blockSize; this.blocks = statBlocks(ctx, inode);
    const bt = birth(inode);
    this.atimeMs = ms(d.atime); this.mtimeMs = ms(d.mtime); this.ctimeMs = ms(d.ctime); this.birthtimeMs = ms(bt);
    this.times = { a: d.atime, m: d.mtime, c: d.ctime, b: bt };
  }
}

export class Ext4BigIntStats extends StatsMethods<bigint> implements BigIntStats {
  dev: bigint; ino: bigint; mode: bigint; nlink: bigint; uid: bigint; gid: bigint; rdev: bigint;
  size: bigint; blksize: bigint; blocks: bigint;
  atimeMs: bigint; mtimeMs: bigint; ctimeMs: bigint; birthtimeMs: bigint;
  atimeNs: bigint; mtimeNs: bigint; ctimeNs: bigint; birthtimeNs: bigint;
  protected times: { a: Timestamp; m: Timestamp; c: Timestamp; b: Timestamp };

  constructor(ctx: StatContext, inode: Ext4Inode) {
    super();
    const d = inode.disk;
    this.dev = BigInt(ctx.dev); this.ino = BigInt(inode.ino); this.mode = BigInt(d.mode); this.nlink = BigInt(d.linksCount);
    this.uid = BigInt(d.uid); this.gid = BigInt(d.gid); this.rdev = BigInt(rdevOf(inode));
    this.size = BigInt(d.size); this.blksize = BigInt(ctx.blockSize); this.blocks = BigInt(statBlocks(ctx, inode));
    const bt = birth(inode);
    this.atimeNs = ns(d.atime); this.mtimeNs = ns(d.mtime); this.ctimeNs = ns(d.ctime); this.birthtimeNs = ns(bt);
    // Floor division toward -infinity, as Node computes the bigint millisecond fields.
    const toMs = (n: bigint): bigint => (n >= 0n ? n / 1_000_000n : -((-n + 999_999n) / 1_000_000n));
    this.atimeMs = toMs(this.atimeNs); this.mtimeMs = toMs(this.mtimeNs); this.ctimeMs = toMs(this.ctimeNs); this.birthtimeMs = toMs(this.birthtimeNs);
    this.times = { a: d.atime, m: d.mtime, c: d.ctime, b: bt };
  }
}

