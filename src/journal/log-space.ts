/**
 * The circular log's bookkeeping (jbd2's j_head, j_tail, j_free and the
 * checkpoint list, reduced to what the log needs): which journal blocks each
 * committed transaction occupies until it is checkpointed.
 *
 * The log is the journal blocks [first, last). Transactions are appended at
 * the head, one contiguous stretch each (wrapping from last - 1 to first);
 * the tail is the start of the oldest transaction not yet checkpointed. A
 * block between tail and head still holds a transaction recovery may need,
 * so it can only be reused after the tail has moved past it on disk.
 */
import { assert } from '../base/assert.js';
import { tidGeq, tidGt } from './revoke-table.js';

/** A committed transaction that still occupies the log. */
export interface LoggedTransaction {
  readonly tid: number;
  /** Journal block of its first block. */
  readonly start: number;
  /** Journal blocks it occupies, commit block included. */
  readonly blocks: number;
}

export class LogSpace {
  /** Blocks in the circular log. */
  readonly length: number;
  private headBlock: number;
  /** Oldest first. */
  private readonly live: LoggedTransaction[] = [];
  private used = 0;

  constructor(readonly first: number, readonly last: number, head: number) {
    assert(Number.isInteger(first) && first >= 1 && last > first, () => `log [${first}, ${last}) is empty`);
    this.length = last - first;
    assert(head >= first && head < last, () => `log head ${head} outside [${first}, ${last})`);
    this.headBlock = head;
  }

  /** Where the next transaction starts. */
  get head(): number {
    return this.headBlock;
  }

  /** Start of the oldest transaction still in the log; the head when there is none. */
  get tail(): number {
    return this.live.length > 0 ? this.live[0].start : this.headBlock;
  }

  /** Blocks a new transaction may use without overwriting one still in the log. */
  get free(): number {
    return this.length - this.used;
  }

  /** The transactions still in the log, oldest first. */
  get transactions(): readonly LoggedTransaction[] {
    return this.live;
  }

  /** The journal block `n` blocks after `from`, wrapping from the log's end to its start. */
  advance(from: number, n: number): number {
    return this.first + ((from - this.first + n) % this.length);
  }

  /** Records a transaction of `blocks` blocks written from the head; returns its start. */
  append(tid: number, blocks: number): number {
    assert(blocks >= 1 && blocks <= this.free, () => `transaction of ${blocks} blocks does not fit the ${this.free} free`);
    const newest = this.live.at(-1);
    assert(newest === undefined || tidGt(tid, newest.tid), () => `transaction ${tid} is not newer than ${newest?.tid}`);
    const start = this.headBlock;
    this.live.push({ tid, start, blocks });
    this.used += blocks;
    this.headBlock = this.advance(start, blocks);
    return start;
  }

  /** The start block of live transaction `tid`, if it is still in the log. */
  startOf(tid: number): number | undefined {
    return this.live.find((t) => t.tid === tid)?.start;
  }

  /** Blocks that releasing every transaction older than `tid` would free. */
  freedBefore(tid: number): number {
    let n = 0;
    for (const t of this.live) {
      if (tidGeq(t.tid, tid)) break;
      n += t.blocks;
    }
    return n;
  }

  /** Forgets every transaction older than `tid` (they are checkpointed and the tail has moved past them on disk). */
  releaseBefore(tid: number): void {
    while (this.live.length > 0 && tidGt(tid, this.live[0].tid)) {
      this.used -= this.live[0].blocks;
      this.live.shift();
    }
  }

  /** Forgets every transaction (the log was marked empty on disk). */
  releaseAll(): void {
    this.live.length = 0;
    this.used = 0;
  }
}
