/**
 * Blocks freed by a transaction that has not committed yet (Linux: mballoc's
 * ext4_free_data, released in ext4_process_freed_data after the commit).
 *
 * The bitmap in the running transaction already shows them free, but they
 * must not be handed out again until that transaction is durable: if the
 * machine crashed before the commit, the file that owned them still owns
 * them after recovery, and new data written into them would show up in that
 * file — another file's bytes, the stale-data exposure R5 forbids.
 */
import { assert } from '../base/assert.js';

interface Range { start: number; end: number }

export class PendingFree {
  /** Per group: ranges of absolute block numbers, unsorted (few per group between commits). */
  private readonly byGroup = new Map<number, Range[]>();
  private total = 0;

  /** Blocks waiting for their freeing transaction to commit. */
  get count(): number { return this.total; }

  add(group: number, start: number, len: number): void {
    assert(len > 0, 'pending free of no blocks');
    let list = this.byGroup.get(group);
    if (list === undefined) {
      list = [];
      this.byGroup.set(group, list);
    }
    list.push({ start, end: start + len });
    this.total += len;
  }

  remove(group: number, start: number, len: number): void {
    const list = this.byGroup.get(group);
    const i = list?.findIndex((r) => r.start === start && r.end === start + len) ?? -1;
    assert(list !== undefined && i >= 0, () => `pending free ${start}+${len} not registered`);
    list.splice(i, 1);
    if (list.length === 0) this.byGroup.delete(group);
    this.total -= len;
  }

  /**
   * Cuts the free run [start, start+len) at the first pending block in it:
   * returns how many blocks from `start` are usable, and where to look next
   * when that is zero.
   */
  clip(group: number, start: number, len: number): { usable: number; skipTo: number } {
    const list = this.byGroup.get(group);
    let usable = len;
    if (list !== undefined) {
      for (const r of list) {
        // A run starting inside a pending range: nothing usable before its end
        // (the caller searches again from there).
        if (r.start <= start && start < r.end) return { usable: 0, skipTo: r.end };
        if (r.start > start && r.start < start + usable) usable = r.start - start;
      }
    }
    return { usable, skipTo: start + usable };
  }
}
