/**
 * A read-only device that shows some blocks with other contents: the
 * blocks a journal replay produced, laid over the unchanged device below.
 * This is how a read-only open of a filesystem that needs recovery sees the
 * replayed filesystem without writing a byte to the image.
 *
 * A read that spans replayed and untouched blocks is split: runs of
 * untouched blocks go to the device below in one request each, replayed
 * blocks are copied from memory.
 */
import { checkRange, checkWritable, type BlockDevice } from './block-device.js';
import { assert } from '../base/assert.js';

export class OverlayDevice implements BlockDevice {
  readonly readOnly = true;
  /** Replayed block numbers in ascending order, to find the first one a request touches. */
  private readonly sorted: number[];

  readonly readIntoSync?: (offset: number, target: Uint8Array) => void;

  constructor(
    private readonly inner: BlockDevice,
    private readonly blockSize: number,
    private readonly blocks: ReadonlyMap<number, Uint8Array>,
  ) {
    const sync = inner.readIntoSync;
    if (sync !== undefined) {
      this.readIntoSync = (offset, target) => {
        for (const [pos, part] of this.fromReplay(offset, target)) sync(pos, part);
      };
    }
    assert(blockSize > 0 && (blockSize & (blockSize - 1)) === 0, 'overlay block size is a power of two');
    for (const [nr, data] of blocks) {
      assert(data.length === blockSize, () => `overlay block ${nr} has ${data.length} bytes, not ${blockSize}`);
      assert((nr + 1) * blockSize <= inner.size, () => `overlay block ${nr} lies outside the device`);
    }
    this.sorted = [...blocks.keys()].sort((a, b) => a - b);
  }

  get size(): number { return this.inner.size; }

  async read(offset: number, length: number): Promise<Buffer> {
    checkRange(this.size, offset, length, 'read');
    const buf = Buffer.allocUnsafe(length);
    await this.readInto(offset, buf);
    return buf;
  }

  async readInto(offset: number, target: Uint8Array): Promise<void> {
    for (const [pos, part] of this.fromReplay(offset, target)) await this.inner.readInto(pos, part);
  }

  /**
   * Copies the replayed blocks a request covers into `target` and returns the
   * runs of untouched blocks, each to be read from the device below in one
   * request.
   */
  private fromReplay(offset: number, target: Uint8Array): Array<[number, Uint8Array]> {
    const length = target.length;
    checkRange(this.size, offset, length, 'read');
    const runs: Array<[number, Uint8Array]> = [];
    const bs = this.blockSize;
    const end = offset + length;
    let pos = offset;
    let i = this.firstAtOrAfter(Math.floor(offset / bs));
    while (pos < end) {
      const nr = i < this.sorted.length ? this.sorted[i] : Infinity;
      const replayedStart = nr * bs;
      if (replayedStart >= end) {
        runs.push([pos, target.subarray(pos - offset, length)]);
        return runs;
      }
      if (replayedStart > pos) {
        runs.push([pos, target.subarray(pos - offset, replayedStart - offset)]);
        pos = replayedStart;
      }
      const data = this.blocks.get(nr);
      assert(data !== undefined, 'overlay index and map agree');
      const from = pos - replayedStart;
      const upto = Math.min(bs, end - replayedStart);
      target.set(data.subarray(from, upto), pos - offset);
      pos = replayedStart + upto;
      i++;
    }
    return runs;
  }

  async write(): Promise<void> { checkWritable(this); }
  async flush(): Promise<void> {}
  close(): Promise<void> { return this.inner.close(); }

  private firstAtOrAfter(block: number): number {
    let lo = 0;
    let hi = this.sorted.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.sorted[mid] < block) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}
