/**
 * Gathers consecutive journal blocks into one buffer so a transaction goes
 * to the device in a few large writes instead of one per block. The buffer
 * is drained when the next block is not the one after the last (the log
 * wrapped), when it is full, and at the end.
 */
import { assert } from '../base/assert.js';
import type { JournalTarget } from './journal-blocks.js';

export class StagedWrites {
  private count = 0;
  private startJblk = 0;
  private readonly capacity: number;

  constructor(private readonly journal: JournalTarget, private readonly buffer: Uint8Array) {
    this.capacity = buffer.length / journal.blockSize;
    assert(Number.isInteger(this.capacity) && this.capacity >= 1, 'staging buffer holds whole blocks');
  }

  /**
   * The buffer slot for journal block `jblk` (contents undefined: the caller
   * fills all of it). Valid until the next `slot` or `drain`.
   */
  async slot(jblk: number): Promise<Uint8Array> {
    if (this.count > 0 && (jblk !== this.startJblk + this.count || this.count === this.capacity)) await this.drain();
    if (this.count === 0) this.startJblk = jblk;
    const bs = this.journal.blockSize;
    const s = this.buffer.subarray(this.count * bs, (this.count + 1) * bs);
    this.count++;
    return s;
  }

  /** Writes what is gathered. */
  async drain(): Promise<void> {
    if (this.count === 0) return;
    const n = this.count;
    this.count = 0;
    await this.journal.write(this.startJblk, this.buffer.subarray(0, n * this.journal.blockSize));
  }
}
