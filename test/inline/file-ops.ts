/**
 * write and truncate of a regular file the way the data path is to do them
 * (the vfs and iomap write path are not there yet): inline while the data
 * fits the inode, converting when it does not, then block by block through
 * getOrAllocateBlocks with the data written straight to the device. Each
 * step takes the inode lock (R4) and runs in its own journal handle.
 */
import type { WritableFs } from '../helpers/writable-fs.js';
import type { Ext4Inode } from '../../src/inode/ext4-inode.js';
import { allocatorsOf } from '../../src/alloc/allocators.js';
import {
  blockChangeCredits, freeBlocksFrom, getOrAllocateBlocks, maxNewMetadataBlocks, type FileBlockRequest,
} from '../../src/extent/file-blocks.js';
import {
  canWriteInline, convertInlineToExtents, disallowInlineData, INLINE_WRITE_CREDITS, inlineConvertCredits,
  inlineTruncateConverts, reserveInlineConvert, truncateInline, writeInline,
} from '../../src/inode/inline-write.js';
import { FileReader } from '../../src/iomap/buffered-read.js';
import { mapBlocks } from '../../src/extent/map-blocks.js';

export class FileOps {
  private readonly reader: FileReader;

  constructor(private readonly w: WritableFs) {
    this.reader = new FileReader(w.fs);
  }

  /** pwrite(2): `data` at `pos`. */
  async write(inode: Ext4Inode, pos: number, data: Uint8Array): Promise<void> {
    if (data.length === 0) return;
    await inode.rwsem.withExclusive(async () => {
      const end = pos + data.length;
      if (canWriteInline(this.w.fs, inode, end)) {
        await this.w.journal.run(INLINE_WRITE_CREDITS, async (h) => {
          await writeInline(this.w.fs, h, inode, pos, data);
          await this.w.inodes.writeInode(h, inode);
        });
        return;
      }
      disallowInlineData(inode);
      if (inode.hasInlineData) await this.convert(inode);
      await this.writeBlocks(inode, pos, data);
    });
  }

  /** truncate(2). */
  async truncate(inode: Ext4Inode, size: number): Promise<void> {
    await inode.rwsem.withExclusive(async () => {
      if (inode.hasInlineData) {
        if (!inlineTruncateConverts(this.w.fs, inode, size)) {
          await this.w.journal.run(INLINE_WRITE_CREDITS, async (h) => {
            await truncateInline(this.w.fs, h, inode, size);
            await this.w.inodes.writeInode(h, inode);
          });
          return;
        }
        await this.convert(inode);
      }
      await this.truncateBlocks(inode, size);
    });
  }

  async read(inode: Ext4Inode): Promise<Buffer> {
    const out = Buffer.alloc(inode.size);
    await this.reader.read(inode, 0, out, 0, out.length);
    return out;
  }

  private async convert(inode: Ext4Inode): Promise<void> {
    const r = reserveInlineConvert(this.w.fs, inode);
    try {
      await this.w.journal.run(inlineConvertCredits(this.w.fs, inode), async (h) => {
        await convertInlineToExtents(this.w.fs, h, inode, r);
        await this.w.inodes.writeInode(h, inode);
      });
    } finally {
      r.release();
    }
  }

  /** One handle with a reservation for `dataBlocks` blocks, dataSem held, the inode written at the end. */
  private async change(inode: Ext4Inode, dataBlocks: number, fn: (req: FileBlockRequest) => Promise<void>): Promise<void> {
    const fs = this.w.fs;
    const r = allocatorsOf(fs).blocks.reserve(dataBlocks + maxNewMetadataBlocks(fs, inode), true);
    try {
      await this.w.journal.run(blockChangeCredits(fs, inode) + dataBlocks, async (h) => {
        await inode.dataSem.withExclusive(() => fn({ fs, h, inode, r }));
        await this.w.inodes.writeInode(h, inode);
      });
    } finally {
      r.release();
    }
  }

  private async writeBlocks(inode: Ext4Inode, pos: number, data: Uint8Array): Promise<void> {
    const bs = this.w.fs.blockSize;
    const end = pos + data.length;
    for (let lblk = Math.floor(pos / bs); lblk * bs < end; lblk++) {
      await this.change(inode, 1, async (req) => {
        const run = await getOrAllocateBlocks(req, lblk, 1);
        const block = new Uint8Array(bs);
        if (!run.fresh) await this.w.fs.device.readInto(run.pblk * bs, block);
        const from = Math.max(pos, lblk * bs);
        const to = Math.min(end, (lblk + 1) * bs);
        block.set(data.subarray(from - pos, to - pos), from - lblk * bs);
        await this.w.fs.device.write(run.pblk * bs, block);
        if (to > inode.disk.size) inode.disk.size = to;
      });
    }
  }

  private async truncateBlocks(inode: Ext4Inode, size: number): Promise<void> {
    const bs = this.w.fs.blockSize;
    if (size < inode.disk.size) {
      let done = false;
      while (!done) await this.change(inode, 0, async (req) => { done = await freeBlocksFrom(req, Math.ceil(size / bs)); });
      // The part of the last block past the new end must read as zeros if the file grows again.
      if (size % bs !== 0) {
        await inode.dataSem.withShared(async () => {
          const m = await mapBlocks(this.w.fs, inode, Math.floor(size / bs));
          if (m.state !== 'written') return;
          const block = new Uint8Array(bs);
          await this.w.fs.device.readInto(m.pblk * bs, block);
          block.fill(0, size % bs);
          await this.w.fs.device.write(m.pblk * bs, block);
        });
      }
    }
    await this.change(inode, 0, async () => {
      inode.disk.size = size;
    });
  }
}
