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
import { mapBlocksSync } from '../extent/map-blocks.js';
import { inlineData } from '../inode/inline.js';

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

  /**
   * `read` without waiting, for a caller that reads many files one after the
   * other (the CLI's tree copy) and gains nothing from yielding: the same
   * mappings and checks as the iomap path (ext4-iomap.ts), each run read
   * with one synchronous device request, holes and unwritten extents zeroed.
   * Undefined, with `target` in an unknown state, when the device or a
   * mapping block cannot be read synchronously: then use `read`.
   *
   * `readDevice` replaces the device's own readIntoSync for the data (not
   * for mapping blocks): a read-only caller may put a read-ahead window
   * there (device/read-ahead.ts).
   */
  readSync(
    inode: Ext4Inode, pos: number, target: Uint8Array, targetOffset: number, length: number,
    readDevice?: (offset: number, into: Uint8Array) => void,
  ): number | undefined {
    const sync = this.fs.device.readIntoSync === undefined ? undefined : (readDevice ?? this.fs.device.readIntoSync);
    if (sync === undefined) return undefined;
    if (inode.hasInlineData) {
      const size = inode.size;
      if (pos >= size || length <= 0) return 0;
      const total = Math.min(length, size - pos);
      const end = pos + total;
      const out = target.subarray(targetOffset, targetOffset + total);
      // Past what the inode stores, the file reads as zeros up to i_size.
      const data = inlineData(this.fs, inode);
      const have = Math.max(0, Math.min(data.length, end) - pos);
      if (have > 0) out.set(data.subarray(pos, pos + have));
      out.fill(0, have);
      return total;
    }
    const base = targetOffset - pos;
    return this.mapRunsSync(inode, pos, length, (p, deviceOffset, len) => {
      const into = target.subarray(base + p, base + p + len);
      if (deviceOffset < 0) into.fill(0);
      else sync(deviceOffset, into);
    });
  }

  /**
   * Where `readSync` would take [pos, pos + length) from, without reading
   * it: `visit(filePos, deviceOffset, len)` for each run in file order, with
   * deviceOffset -1 for a run that reads as zeros (hole, unwritten extent).
   * Returns the bytes covered (short only at end of file), or undefined when
   * a mapping block cannot be read synchronously or the file keeps its data
   * in the inode (inline data has no device range of its own).
   */
  mapRunsSync(inode: Ext4Inode, pos: number, length: number, visit: (filePos: number, deviceOffset: number, len: number) => void): number | undefined {
    if (inode.hasInlineData) return undefined;
    const size = inode.size;
    if (pos >= size || length <= 0) return 0;
    const total = Math.min(length, size - pos);
    const end = pos + total;
    const bs = this.fs.blockSize;
    for (let p = pos; p < end;) {
      const m = mapBlocksSync(this.fs, inode, Math.floor(p / bs));
      if (m === undefined) return undefined;
      const upto = Math.min(end, (m.lblk + m.len) * bs);
      visit(p, m.state === 'written' ? m.pblk * bs + (p - m.lblk * bs) : -1, upto - p);
      p = upto;
    }
    return total;
  }

  /** `dataRanges` without waiting, under the same conditions as `readSync`. */
  dataRangesSync(inode: Ext4Inode): Array<{ start: number; end: number }> | undefined {
    const size = inode.size;
    const out: Array<{ start: number; end: number }> = [];
    if (size === 0) return out;
    if (inode.hasInlineData) {
      const stored = Math.min(size, inlineData(this.fs, inode).length);
      if (stored > 0) out.push({ start: 0, end: stored });
      return out;
    }
    const mapped = this.mapRunsSync(inode, 0, size, (p, deviceOffset, len) => {
      if (deviceOffset < 0) return;
      const last = out[out.length - 1];
      if (last !== undefined && last.end === p) last.end = p + len;
      else out.push({ start: p, end: p + len });
    });
    return mapped === undefined ? undefined : out;
  }
}
