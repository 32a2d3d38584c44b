/**
 * The blocks no file may ever own (Linux: block_validity's system zone):
 * superblock and descriptor copies, reserved GDT blocks, every bitmap and
 * inode table. Built once at mount as sorted, merged ranges. The allocator
 * refuses to hand these out and the free path refuses to free them, so a
 * corrupt bitmap or extent can never turn an inode table into file data.
 */
import type { Ext4Super } from '../super/ext4-super.js';
import { groupBaseOverhead, groupRange } from './group-bitmaps.js';

export class SystemZone {
  private readonly starts: number[] = [];
  private readonly ends: number[] = [];

  constructor(fs: Ext4Super) {
    const ranges: Array<[number, number]> = [];
    if (fs.sb.firstDataBlock > 0) ranges.push([0, fs.sb.firstDataBlock]);
    for (let g = 0; g < fs.groupCount; g++) {
      const base = groupBaseOverhead(fs, g);
      if (base > 0) {
        const { first } = groupRange(fs, g);
        ranges.push([first, first + base]);
      }
      const gd = fs.groups[g];
      ranges.push([gd.blockBitmap, gd.blockBitmap + 1]);
      ranges.push([gd.inodeBitmap, gd.inodeBitmap + 1]);
      ranges.push([gd.inodeTable, gd.inodeTable + fs.inodeTableBlocks]);
    }
    ranges.sort((a, b) => a[0] - b[0]);
    for (const [s, e] of ranges) {
      const n = this.ends.length;
      if (n > 0 && s <= this.ends[n - 1]) {
        this.ends[n - 1] = Math.max(this.ends[n - 1], e);
      } else {
        this.starts.push(s);
        this.ends.push(e);
      }
    }
  }

  /** Whether [pblk, pblk+len) touches a system block. */
  overlaps(pblk: number, len: number): boolean {
    // Last zone starting before the range's end.
    let lo = 0;
    let hi = this.starts.length - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (this.starts[mid] < pblk + len) {
        found = mid;
        lo = mid + 1;
      } else {
        hi = mid - 1;
      }
    }
    return found >= 0 && this.ends[found] > pblk;
  }
}
