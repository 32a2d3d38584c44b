/**
 * Reading file data (Linux: iomap_read_folio / filemap_read on the read
 * side). Each mapping becomes at most one device request: a whole extent is
 * read with one call, so contiguous files cost one read however large the
 * request. Holes and unwritten extents read as zeros without touching the
 * device.
 *
 * Reads go straight into the caller's buffer; the page cache that will sit
 * here (folios filled through the same iterator) arrives with the write
 * path, since a read-only volume has nothing to keep coherent.
 */
import type { Ext4Super } from '../super/ext4-super.js';
import type { Ext4Inode } from '../inode/ext4-inode.js';
import { iomapIterate, IOMapType, type IOMapOps } from './iomap.js';
import { ext4ReadIomapOps } from './ext4-iomap.js';

export class FileReader {
  private readonly ops: IOMapOps;

  constructor(private readonly fs: Ext4Super) {
    this.ops = ext4ReadIomapOps(fs);
  }

  /**
   * Reads up to `length` bytes at file offset `pos` into `target` at
   * `targetOffset`; returns the number of bytes read (short at end of file).
   */
  async read(inode: Ext4Inode, pos: number, target: Uint8Array, targetOffset: number, length: number): Promise<number> {
    const size = inode.size;
    if (pos >= size || length <= 0) return 0;
    const total = Math.min(length, size - pos);
    const device = this.fs.device;
    await iomapIterate(this.ops, inode, pos, total, async (iomap, p, len) => {
      const into = target.subarray(targetOffset + (p - pos), targetOffset + (p - pos) + len);
      switch (iomap.type) {
        case IOMapType.MAPPED:
          await device.readInto(iomap.addr + (p - iomap.offset), into);
          break;
        case IOMapType.INLINE:
          into.set(iomap.inlineData!.subarray(p, p + len));
          break;
        default:
          into.fill(0);
      }
      return len;
    });
    return total;
  }

  /**
   * The byte ranges that hold data (what SEEK_DATA/SEEK_HOLE would find);
   * unwritten extents count as holes since they read as zeros. Adjacent
   * mapped runs are merged.
   */
  async dataRanges(inode: Ext4Inode): Promise<Array<{ start: number; end: number }>> {
    const size = inode.size;
    const out: Array<{ start: number; end: number }> = [];
    if (size === 0) return out;
    await iomapIterate(this.ops, inode, 0, size, (iomap, p, len) => {
      if (iomap.type === IOMapType.MAPPED || iomap.type === IOMapType.INLINE) {
        const last = out[out.length - 1];
        if (last && last.end === p) last.end = p + len;
        else out.push({ start: p, end: p + len });
      }
      return len;
    });
    return out;
  }
}
