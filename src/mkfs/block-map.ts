/**
 * The block bitmap of a filesystem being made, and the three searches
 * libext2fs allocates with. mkfs must place every structure where mke2fs
 * does, so the searches follow libext2fs's (alloc.c) semantics rather than
 * the kernel allocator's:
 *
 *  - `newBlock(goal)`: the first free block at or after `goal`, wrapping to
 *    the start (ext2fs_new_block2);
 *  - `getFreeBlocks(start, finish, n)`: the first run of `n` free blocks
 *    starting in [start, finish) (ext2fs_get_free_blocks2);
 *  - `newRange(goal, len)`: the first free run at or after `goal`, up to
 *    `len` blocks long (ext2fs_new_range without a minimum length).
 *
 * Groups are materialized only when something in them is marked, so a
 * multi-terabyte filesystem costs memory only for the groups holding
 * metadata.
 */
import { assert } from '../base/assert.js';
import { FsError } from '../base/errors.js';

export interface BlockMapGeometry {
  firstDataBlock: number;
  blocksCount: number;
  blocksPerGroup: number;
}

export class BlockMap {
  private readonly groups = new Map<number, Uint8Array>();

  constructor(private readonly g: BlockMapGeometry) {}

  private locate(b: number): { group: number; bit: number } {
    const rel = b - this.g.firstDataBlock;
    return { group: Math.floor(rel / this.g.blocksPerGroup), bit: rel % this.g.blocksPerGroup };
  }

  private groupBits(group: number, create: boolean): Uint8Array | undefined {
    let bits = this.groups.get(group);
    if (bits === undefined && create) {
      bits = new Uint8Array(Math.ceil(this.g.blocksPerGroup / 8));
      this.groups.set(group, bits);
    }
    return bits;
  }

  private checkBlock(b: number): void {
    assert(Number.isSafeInteger(b) && b >= this.g.firstDataBlock && b < this.g.blocksCount, () => `block ${b} outside the filesystem`);
  }

  isUsed(b: number): boolean {
    if (b < this.g.firstDataBlock) return true;
    this.checkBlock(b);
    const { group, bit } = this.locate(b);
    const bits = this.groupBits(group, false);
    return bits !== undefined && (bits[bit >>> 3] & (1 << (bit & 7))) !== 0;
  }

  mark(b: number): void {
    this.markRange(b, 1);
  }

  markRange(b: number, n: number): void {
    assert(n >= 0 && b >= this.g.firstDataBlock && b + n <= this.g.blocksCount, () => `range ${b}+${n} outside the filesystem`);
    let next = b;
    const end = b + n;
    while (next < end) {
      const { group, bit } = this.locate(next);
      const count = Math.min(end - next, this.g.blocksPerGroup - bit);
      const bits = this.groupBits(group, true);
      assert(bits !== undefined, 'group bitmap');
      let i = bit;
      const iEnd = bit + count;
      while (i < iEnd && (i & 7) !== 0) bits[i >>> 3] |= 1 << (i++ & 7);
      const wholeEnd = iEnd & ~7;
      if (wholeEnd > i) {
        bits.fill(0xff, i >>> 3, wholeEnd >>> 3);
        i = wholeEnd;
      }
      while (i < iEnd) bits[i >>> 3] |= 1 << (i++ & 7);
      next += count;
    }
  }

  /** Whether [b, b+n) lies inside the filesystem and is all free. */
  isRangeFree(b: number, n: number): boolean {
    if (b < this.g.firstDataBlock || b + n > this.g.blocksCount) return false;
    return this.findFirstUsed(b, b + n - 1) === -1;
  }

  /** The first free block in [start, end], or -1. */
  findFirstFree(start: number, end: number): number {
    return this.scan(start, end, false);
  }

  /** The first used block in [start, end], or -1. */
  findFirstUsed(start: number, end: number): number {
    return this.scan(start, end, true);
  }

  private scan(start: number, end: number, wantUsed: boolean): number {
    let b = Math.max(start, this.g.firstDataBlock);
    const last = Math.min(end, this.g.blocksCount - 1);
    while (b <= last) {
      const { group, bit } = this.locate(b);
      const groupLast = Math.min(last, this.g.firstDataBlock + (group + 1) * this.g.blocksPerGroup - 1);
      const bits = this.groupBits(group, false);
      if (bits === undefined) {
        if (!wantUsed) return b;
        b = groupLast + 1;
        continue;
      }
      const skipByte = wantUsed ? 0x00 : 0xff;
      let i = bit;
      const iEnd = bit + (groupLast - b);
      while (i <= iEnd) {
        if ((i & 7) === 0 && i + 7 <= iEnd && bits[i >>> 3] === skipByte) {
          i += 8;
          continue;
        }
        const used = (bits[i >>> 3] & (1 << (i & 7))) !== 0;
        if (used === wantUsed) return b + (i - bit);
        i++;
      }
      b = groupLast + 1;
    }
    return -1;
  }

  /** ext2fs_new_block2: the first free block at or after `goal`, else the first one from the start. */
  newBlock(goal: number): number {
    if (goal < this.g.firstDataBlock || goal >= this.g.blocksCount) goal = this.g.firstDataBlock;
    let b = this.findFirstFree(goal, this.g.blocksCount - 1);
    if (b === -1 && goal !== this.g.firstDataBlock) b = this.findFirstFree(this.g.firstDataBlock, goal - 1);
    if (b === -1) throw new FsError('ENOSPC', 'no free block left for the filesystem metadata');
    return b;
  }

  /**
   * ext2fs_get_free_blocks2 as mkfs uses it (always searching forward,
   * `finish` > `start`): the first b from `start` (the first data block when
   * 0) whose run [b, b+num) is free, tried while b < finish; when `start`
   * already lies at or past `finish` the search runs to the end of the
   * filesystem instead. Returns -1 when nothing fits.
   */
  getFreeBlocks(start: number, finish: number, num: number): number {
    assert(finish > start && num >= 1, 'getFreeBlocks searches forward');
    let b = start === 0 ? this.g.firstDataBlock : start;
    const limit = b < finish ? finish : this.g.blocksCount;
    while (b < limit && b + num - 1 < this.g.blocksCount) {
      const free = this.findFirstFree(b, this.g.blocksCount - 1);
      if (free === -1 || free >= limit || free + num - 1 >= this.g.blocksCount) return -1;
      const used = this.findFirstUsed(free, free + num - 1);
      if (used === -1) return free;
      b = used + 1;
    }
    return -1;
  }

  /** ext2fs_new_range without flags: the first free run at or after `goal` (wrapping once), at most `len` long. */
  newRange(goal: number, len: number): { start: number; len: number } {
    if (goal < this.g.firstDataBlock || goal >= this.g.blocksCount) goal = this.g.firstDataBlock;
    let start = this.findFirstFree(goal, this.g.blocksCount - 1);
    if (start === -1 && goal !== this.g.firstDataBlock) start = this.findFirstFree(this.g.firstDataBlock, goal - 1);
    if (start === -1) throw new FsError('ENOSPC', 'no free blocks left for the filesystem metadata');
    const last = Math.min(start + len - 1, this.g.blocksCount - 1);
    const used = this.findFirstUsed(start, last);
    return { start, len: (used === -1 ? last + 1 : used) - start };
  }

  /** Used blocks in [start, end]. */
  countUsed(start: number, end: number): number {
    let n = 0;
    for (let b = this.findFirstUsed(start, end); b !== -1; b = this.findFirstUsed(b + 1, end)) {
      const free = this.findFirstFree(b, end);
      const runEnd = free === -1 ? end + 1 : free;
      n += runEnd - b;
      if (free === -1) break;
      b = runEnd - 1;
    }
    return n;
  }

  /** A copy of one group's bits (`blocksPerGroup` bits, bit i for block groupStart + i). */
  groupBitmap(group: number): Uint8Array {
    const bits = this.groupBits(group, false);
    return bits === undefined ? new Uint8Array(Math.ceil(this.g.blocksPerGroup / 8)) : bits.slice();
  }
}
