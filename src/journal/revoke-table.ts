/**
 * The revoke table built by recovery's REVOKE pass (Linux:
 * jbd2_journal_set_revoke / jbd2_journal_test_revoke). A revoke record in
 * transaction T says "the copies of this block logged up to T are stale":
 * the block was freed (and may have been reused for data, which is not
 * journalled), so replaying an old metadata copy over it would corrupt it.
 * Only the newest revoking transaction per block matters.
 */

/** tid_gt: transaction IDs are 32-bit and wrap, so compare by signed difference. */
export function tidGt(a: number, b: number): boolean {
  return ((a - b) | 0) > 0;
}

export function tidGeq(a: number, b: number): boolean {
  return ((a - b) | 0) >= 0;
}

export class RevokeTable {
  private readonly newest = new Map<number, number>();

  get size(): number {
    return this.newest.size;
  }

  /** Records that `blockNr` was revoked in transaction `tid`. */
  set(blockNr: number, tid: number): void {
    const old = this.newest.get(blockNr);
    if (old === undefined || tidGt(tid, old)) this.newest.set(blockNr, tid);
  }

  /** Whether the copy of `blockNr` logged in transaction `tid` must not be replayed. */
  revoked(blockNr: number, tid: number): boolean {
    const rec = this.newest.get(blockNr);
    return rec !== undefined && !tidGt(tid, rec);
  }
}
