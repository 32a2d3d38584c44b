/**
 * Reading and writing the journal's own blocks. An internal journal is an ordinary file
 * (inode 8, s_journal_inum): block n of the journal is logical block n of
 * that inode, wherever the allocator put it. jbd2 asks the filesystem for
 * each block through `bmap`; this is the same split: the journal layer gets
 * a mapping function from the layer that knows inodes, so it never has to
 * know about files itself.
 */
import { assert } from '../base/assert.js';
import { corrupted } from '../base/errors.js';
import type { BlockDevice } from '../device/block-device.js';

/** A run of journal blocks that lie contiguously on the device. */
export interface JournalRun {
  /** First journal block of the run. */
  jblk: number;
  /** Device block holding `jblk`. */
  pblk: number;
  /** Blocks in the run (>= 1). */
  len: number;
}

/**
 * Maps journal block `jblk` to the contiguous run that holds it. Throws
 * EFSCORRUPTED for a hole (a journal file must be fully allocated).
 */
export type JournalBmap = (jblk: number) => Promise<JournalRun>;

/** What recovery reads the log through: whole journal blocks by number. */
export interface JournalSource {
  readonly blockSize: number;
  /** Journal length in blocks (s_maxlen). */
  readonly length: number;
  /** A fresh copy of journal block `jblk` (0 is the journal superblock). */
  read(jblk: number): Promise<Uint8Array>;
}

/** What the log writer writes through: whole journal blocks, in runs. */
export interface JournalTarget extends JournalSource {
  /**
   * Writes `data` (a whole number of blocks) to journal blocks
   * [jblk, jblk + data.length / blockSize), one device write per stretch
   * that is contiguous on the device. Durable only after a device flush.
   */
  write(jblk: number, data: Uint8Array): Promise<void>;
}

/**
 * The journal of an inode: reads and writes go through `bmap`, whose runs
 * are kept (sorted, found by binary search) because recovery reads the log
 * two or three times, the writer comes back to the same blocks on every
 * lap, and a journal is usually one or a few extents.
 */
export class InodeJournal implements JournalTarget {
  private readonly runs: JournalRun[] = [];

  constructor(
    private readonly device: BlockDevice,
    readonly blockSize: number,
    readonly length: number,
    private readonly bmap: JournalBmap,
  ) {}

  async read(jblk: number): Promise<Uint8Array> {
    if (!Number.isInteger(jblk) || jblk < 0 || jblk >= this.length) {
      throw corrupted('journal block', jblk, `is outside the journal (${this.length} blocks)`);
    }
    const run = this.findRun(jblk) ?? (await this.loadRun(jblk));
    const pblk = run.pblk + (jblk - run.jblk);
    const buf = new Uint8Array(this.blockSize);
    await this.device.readInto(pblk * this.blockSize, buf);
    return buf;
  }

  async write(jblk: number, data: Uint8Array): Promise<void> {
    const bs = this.blockSize;
    const count = data.length / bs;
    // The writer computes every position itself: a request outside the journal is a bug, not bad input.
    assert(Number.isInteger(count) && count >= 1, () => `journal write of ${data.length} bytes is not whole blocks`);
    assert(Number.isInteger(jblk) && jblk >= 0 && jblk + count <= this.length,
      () => `journal write of blocks ${jblk}+${count} is outside the journal (${this.length} blocks)`);
    let done = 0;
    while (done < count) {
      const at = jblk + done;
      const run = this.findRun(at) ?? (await this.loadRun(at));
      const n = Math.min(count - done, run.jblk + run.len - at);
      const pblk = run.pblk + (at - run.jblk);
      await this.device.write(pblk * bs, data.subarray(done * bs, (done + n) * bs));
      done += n;
    }
  }

  private findRun(jblk: number): JournalRun | undefined {
    let lo = 0;
    let hi = this.runs.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const r = this.runs[mid];
      if (jblk < r.jblk) hi = mid - 1;
      else if (jblk >= r.jblk + r.len) lo = mid + 1;
      else return r;
    }
    return undefined;
  }

  private async loadRun(jblk: number): Promise<JournalRun> {
    const run = await this.bmap(jblk);
    if (!(run.len >= 1 && run.jblk <= jblk && jblk < run.jblk + run.len)) {
      throw corrupted('journal block', jblk, `mapping returned a run ${run.jblk}+${run.len} that does not hold it`);
    }
    // Clip to the journal so a mapping past s_maxlen cannot overlap later lookups oddly.
    const len = Math.min(run.len, this.length - run.jblk);
    const clipped = { jblk: run.jblk, pblk: run.pblk, len };
    let i = 0;
    while (i < this.runs.length && this.runs[i].jblk < clipped.jblk) i++;
    this.runs.splice(i, 0, clipped);
    return clipped;
  }
}

/** A journal already in memory (tests, and journals copied out of an image). */
export class MemoryJournal implements JournalSource {
  readonly length: number;
  constructor(private readonly bytes: Uint8Array, readonly blockSize: number) {
    this.length = Math.floor(bytes.length / blockSize);
  }
  async read(jblk: number): Promise<Uint8Array> {
    if (!Number.isInteger(jblk) || jblk < 0 || jblk >= this.length) {
      throw corrupted('journal block', jblk, `is outside the journal (${this.length} blocks)`);
    }
    return this.bytes.slice(jblk * this.blockSize, (jblk + 1) * this.blockSize);
  }
}
