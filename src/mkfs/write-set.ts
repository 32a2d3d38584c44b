/**
 * Everything mkfs writes, collected first and then issued as few, large,
 * ascending requests: ranges to zero go out first, then the data, adjacent
 * pieces merged into one write (up to a bound, so memory stays small).
 */
import { assert } from '../base/assert.js';
import type { BlockDevice } from '../device/block-device.js';

/** Largest single request. */
const MAX_REQUEST = 1 << 20;

interface Piece {
  offset: number;
  bytes: Uint8Array;
}

export class WriteSet {
  private readonly pieces: Piece[] = [];
  private readonly zeros: Array<{ offset: number; length: number }> = [];

  put(offset: number, bytes: Uint8Array): void {
    assert(Number.isSafeInteger(offset) && offset >= 0, () => `bad write offset ${offset}`);
    if (bytes.length > 0) this.pieces.push({ offset, bytes });
  }

  zero(offset: number, length: number): void {
    assert(Number.isSafeInteger(offset) && offset >= 0 && length >= 0, () => `bad zero range ${offset}+${length}`);
    if (length > 0) this.zeros.push({ offset, length });
  }

  /** Bytes this set will write. */
  get byteCount(): number {
    let n = 0;
    for (const p of this.pieces) n += p.bytes.length;
    for (const z of this.zeros) n += z.length;
    return n;
  }

  /** Zeroes the ranges not yet zeroed, then writes the data. */
  async execute(device: BlockDevice): Promise<void> {
    await this.executeZeros(device);
    await this.writePieces(device);
  }

  /** Zeroes the ranges (once: a later `execute` skips them), so other writes can go between the zeros and the data. */
  async executeZeros(device: BlockDevice): Promise<void> {
    const ranges = this.zeros.splice(0).sort((a, b) => a.offset - b.offset);
    const merged: Array<{ offset: number; end: number }> = [];
    for (const r of ranges) {
      const last = merged[merged.length - 1];
      if (last !== undefined && r.offset <= last.end) last.end = Math.max(last.end, r.offset + r.length);
      else merged.push({ offset: r.offset, end: r.offset + r.length });
    }
    const zero = new Uint8Array(Math.min(MAX_REQUEST, merged.reduce((m, r) => Math.max(m, r.end - r.offset), 0)));
    for (const r of merged) {
      for (let off = r.offset; off < r.end; off += zero.length) {
        await device.write(off, zero.subarray(0, Math.min(zero.length, r.end - off)));
      }
    }
  }

  private async writePieces(device: BlockDevice): Promise<void> {
    const sorted = [...this.pieces].sort((a, b) => a.offset - b.offset);
    for (let i = 1; i < sorted.length; i++) {
      assert(sorted[i - 1].offset + sorted[i - 1].bytes.length <= sorted[i].offset,
        () => `mkfs writes overlap at byte ${sorted[i].offset}`);
    }
    let i = 0;
    while (i < sorted.length) {
      let j = i + 1;
      let end = sorted[i].offset + sorted[i].bytes.length;
      while (j < sorted.length && sorted[j].offset === end && end - sorted[i].offset + sorted[j].bytes.length <= MAX_REQUEST) {
        end += sorted[j].bytes.length;
        j++;
      }
      if (j === i + 1) {
        await device.write(sorted[i].offset, sorted[i].bytes);
      } else {
        const buf = new Uint8Array(end - sorted[i].offset);
        for (let k = i; k < j; k++) buf.set(sorted[k].bytes, sorted[k].offset - sorted[i].offset);
        await device.write(sorted[i].offset, buf);
      }
      i = j;
    }
  }
}
