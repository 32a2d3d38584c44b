/**
 * Transactions and handles (Linux: fs/jbd2/transaction.c, commit.c,
 * checkpoint.c), over the buffer cache and the on-disk log.
 *
 * Every metadata change happens inside a `Handle`: `journal.start(credits)`
 * joins the running transaction, `getWriteAccess(buf)` adds a block to it
 * (one credit per new block), the caller changes the bytes synchronously and
 * calls `dirtyMetadata(buf)`, and `stop()` leaves. A transaction collects the
 * changes of many handles; committing it
 *
 *   1. locks it (new handles wait) and waits until its handles have stopped,
 *   2. runs its commit hooks (checksums of bitmaps and group descriptors,
 *      the superblock's counters: values that sum up many handles' work),
 *   3. snapshots every block it changed into `checkpointData`, after which
 *      new handles may change the live bytes for the next transaction,
 *   4. writes the snapshots to the log and makes the commit block durable,
 *   5. leaves the snapshots for the checkpoint, which writes them home.
 *
 * No handle is ever held across a wait for a commit (R3): a commit waits for
 * every open handle, so that wait would deadlock. The lock validator treats
 * an open handle as a held lock of class `journal.handle` and flags such a
 * wait. Handles do not nest; a caller passes its handle down.
 *
 * A failure while a handle holds changes (an internal invariant, an I/O
 * error, corruption found half way) aborts the journal (Linux: ext4_abort
 * with errors=remount-ro): the running transaction is never committed, the
 * image stays at its last commit, and every later change fails with EROFS.
 * So an operation must check everything that can fail for ordinary reasons
 * (ENOSPC, EEXIST, ...) before its first `getWriteAccess`.
 *
 * Without a journal (ext2, ^has_journal) the same machinery runs and a
 * commit writes the snapshots straight home: batching stays, crash
 * consistency is what ext2 gives.
 */
import { assert } from '../base/assert.js';
import { FsError } from '../base/errors.js';
import { Completion, Mutex } from '../base/locks.js';
import type { Clock, TimerHandle } from '../base/clock.js';
import type { BufferCache, MetaBuffer } from '../cache/buffer-cache.js';
import { lockAcquired, lockReleased, waitingFor } from '../sim/hooks.js';
import { writeBlocksHome } from './write-home.js';

/** A block as logged: its home block number and the snapshot of its bytes. */
export interface LoggedBlock {
  blockNr: number;
  data: Uint8Array;
}

/** What transactions need of the on-disk log (log-writer.ts implements it over the journal inode). */
export interface LogWriter {
  /** Journal blocks a transaction of `blocks` metadata blocks and `revokes` revoke records takes (descriptors, revoke blocks and commit block included). */
  blocksNeeded(blocks: number, revokes: number): number;
  /** Journal blocks not holding any transaction still needed. */
  readonly freeBlocks: number;
  /** Largest transaction, in journal blocks (jbd2: a quarter of the log). */
  readonly maxTransactionBlocks: number;
  /** Writes the next transaction (the log numbers it) and returns once its commit block is durable. */
  commit(blocks: readonly LoggedBlock[], revokes: readonly number[], commitTimeMs: number): Promise<void>;
  /** Every committed transaction is home: the log space may be reused (the tail moves to the head). */
  releaseAll(): Promise<void>;
  /** Everything is home: leave the log empty (clean unmount). */
  markClean(): Promise<void>;
}

const enum TxState { RUNNING, LOCKED, COMMITTING, COMMITTED }

/** Commit hooks run in phase order: bitmap checksums into descriptors, then descriptor checksums, then the superblock. */
export const enum CommitPhase { BITMAPS = 0, GROUP_DESCS = 1, SUPERBLOCK = 2 }

export class Transaction {
  state = TxState.RUNNING;
  handles = 0;
  /** Credits handed to open handles and not yet used. */
  outstandingCredits = 0;
  readonly buffers: MetaBuffer[] = [];
  readonly revokes = new Set<number>();
  readonly hooks: Array<Map<string, () => void>> = [new Map<string, () => void>(), new Map<string, () => void>(), new Map<string, () => void>()];
  /** Run once the commit is durable (e.g. blocks freed here become reusable). */
  readonly afterCommit: Array<() => void> = [];
  readonly drained = new Completion('transaction handles drained');
  /** Completed once the locked transaction is snapshotted and new handles may start. */
  readonly unlocked = new Completion('transaction unlocked');
  readonly done = new Completion('transaction committed');
  error: Error | undefined = undefined;

  constructor(readonly tid: number) {}

  get empty(): boolean { return this.buffers.length === 0 && this.revokes.size === 0; }
}

export interface JournalOptions {
  clock: Clock;
  /** Commit the running transaction this long after its first change (jbd2: commit interval, 5 s). */
  commitIntervalMs?: number;
  /** Checkpoint once this many bytes of committed snapshots wait to go home (bounds pinned memory). */
  checkpointBytes?: number;
}

export class Journal {
  private running: Transaction | undefined;
  /** The transaction being locked and snapshotted; starters wait for it. */
  private locking: Transaction | undefined;
  /** Committed transactions whose blocks are not all home yet, oldest first. */
  private readonly checkpointQueue: Transaction[] = [];
  private nextTid: number;
  /**
   * One commit or checkpoint at a time; both change which snapshot a block's
   * home write must carry. (Transaction ids here identify transactions in
   * memory; the log numbers what it writes itself, skipping empty commits.)
   */
  private readonly commitMutex = new Mutex('journal.commit');
  private timer: TimerHandle | undefined;
  private pendingCheckpointBytes = 0;
  private readonly commitIntervalMs: number;
  private readonly checkpointBytes: number;
  /** Set when the journal aborted: every later change fails with EROFS. */
  abortError: unknown = undefined;

  constructor(
    private readonly cache: BufferCache,
    /** The on-disk log; undefined for a filesystem without a journal. */
    private readonly log: LogWriter | undefined,
    private readonly options: JournalOptions,
  ) {
    this.nextTid = 1;
    this.commitIntervalMs = options.commitIntervalMs ?? 5000;
    this.checkpointBytes = options.checkpointBytes ?? Math.max(cache.blockSize * 64, Math.floor(cache.budget / 2));
  }

  get hasLog(): boolean { return this.log !== undefined; }
  get aborted(): boolean { return this.abortError !== undefined; }

  /**
   * Joins the running transaction with room for `credits` new blocks or
   * revokes. Waits while a transaction is being locked, and makes room in the
   * log first when the running transaction could outgrow it.
   */
  async start(credits: number): Promise<Handle> {
    assert(Number.isInteger(credits) && credits > 0, () => `handle credits ${credits}`);
    for (;;) {
      this.checkNotAborted();
      if (this.locking !== undefined) {
        await this.locking.unlocked.wait();
        continue;
      }
      const tx = this.running ?? this.newTransaction();
      if (this.log !== undefined && !this.fits(tx, credits)) {
        assert(!tx.empty || tx.handles > 0 || this.checkpointQueue.length > 0 || this.pendingCommit !== undefined,
          () => `a handle of ${credits} credits cannot fit in the journal`);
        await this.makeRoom(tx);
        continue;
      }
      if (this.pendingCheckpointBytes > this.checkpointBytes) {
        await this.checkpoint();
        continue;
      }
      tx.handles++;
      tx.outstandingCredits += credits;
      const h = new Handle(this, tx, credits);
      lockAcquired('journal.handle', h);
      return h;
    }
  }

  /** Runs `fn` inside a handle; an error after it changed metadata aborts the journal. */
  async run<T>(credits: number, fn: (h: Handle) => Promise<T>): Promise<T> {
    const h = await this.start(credits);
    try {
      return await fn(h);
    } catch (e) {
      if (h.changed) this.abort(e);
      throw e;
    } finally {
      h.stop();
    }
  }

  /**
   * Commits the running transaction (if it holds anything) and waits until
   * it is durable. Never call with a handle open (R3).
   */
  async commit(): Promise<void> {
    waitingFor('commit');
    const tx = this.running;
    if (tx !== undefined && !tx.empty) {
      await this.commitTransaction(tx);
    } else {
      // Wait for a commit already under way, so "commit" means everything so far is durable.
      await this.commitMutex.with(() => undefined);
    }
    this.checkNotAborted();
  }

  /** Commits, writes every committed block home, and leaves the log empty. */
  async shutdown(): Promise<void> {
    this.timer?.cancel();
    this.timer = undefined;
    await this.commit();
    await this.checkpoint();
    if (this.log !== undefined) {
      await this.commitMutex.with(() => this.log!.markClean());
    }
  }

  /** Writes every committed snapshot home, flushes, and frees the log space. */
  async checkpoint(): Promise<void> {
    await this.commitMutex.with(async () => {
      const txs = this.checkpointQueue.splice(0);
      if (txs.length === 0) return;
      const writes: LoggedBlock[] = [];
      const written: Array<{ b: MetaBuffer; data: Uint8Array }> = [];
      for (const tx of txs) {
        for (const b of tx.buffers) {
          // A block logged again by a later transaction is on that one's list;
          // under the commit mutex every transaction here is committed.
          if (b.checkpointData === undefined || b.checkpointTid !== tx.tid) continue;
          writes.push({ blockNr: b.blockNr, data: b.checkpointData });
          written.push({ b, data: b.checkpointData });
        }
      }
      try {
        await writeBlocksHome(this.cache.device, this.cache.blockSize, writes);
        await this.cache.device.flush();
        for (const { b, data } of written) {
          if (b.checkpointData === data) b.checkpointData = undefined;
        }
        this.pendingCheckpointBytes = 0;
        // Under the commit mutex no commit is in flight: nothing in the log is needed any more.
        if (this.log !== undefined) await this.log.releaseAll();
      } catch (e) {
        this.abort(e);
        throw e;
      }
      this.cache.trim();
    });
  }

  /** Stops all further changes; the running transaction is discarded (never committed). */
  abort(error: unknown): void {
    if (this.abortError !== undefined) return;
    this.abortError = error;
    this.timer?.cancel();
    this.timer = undefined;
  }

  // ---- internals used by Handle ----

  /** A handle joined `b` to its transaction (jbd2: do_get_write_access). */
  joinBuffer(tx: Transaction, b: MetaBuffer): boolean {
    if (b.runningTid === tx.tid) return false;
    assert(b.runningTid === undefined, () => `block ${b.blockNr} belongs to transaction ${b.runningTid}, not the running ${tx.tid}`);
    b.runningTid = tx.tid;
    tx.buffers.push(b);
    if (tx.buffers.length === 1) this.armTimer(tx);
    return true;
  }

  adopt(b: MetaBuffer): void {
    this.cache.adopt(b);
  }

  handleStopped(h: Handle): void {
    const tx = h.tx;
    tx.handles--;
    tx.outstandingCredits -= h.creditsLeft;
    assert(tx.handles >= 0 && tx.outstandingCredits >= 0, 'handle accounting');
    if (tx.handles === 0 && tx.state === TxState.LOCKED) tx.drained.complete();
  }

  private pendingCommit: Promise<void> | undefined;

  private newTransaction(): Transaction {
    const tx = new Transaction(this.nextTid++);
    this.running = tx;
    return tx;
  }

  private armTimer(tx: Transaction): void {
    this.timer?.cancel();
    this.timer = this.options.clock.setTimer(this.commitIntervalMs, async () => {
      if (this.running === tx && !this.aborted) {
        try {
          await this.commitTransaction(tx);
        } catch {
          // Recorded as the abort error; the next change reports EROFS.
        }
      }
    }, 'jbd2 commit timer');
  }

  /** Whether `tx` plus a new handle of `credits` still fits in one transaction and in the free log space. */
  private fits(tx: Transaction, credits: number): boolean {
    const log = this.log!;
    const need = log.blocksNeeded(tx.buffers.length + tx.outstandingCredits + credits, tx.revokes.size + tx.outstandingCredits + credits);
    return need <= log.maxTransactionBlocks && need <= log.freeBlocks - this.committingBlocks;
  }

  /** Log blocks the commit in flight will take (its space is not yet counted by the log). */
  private committingBlocks = 0;

  /** Makes room for more changes: commit the running transaction, and checkpoint if the log is short. */
  private async makeRoom(tx: Transaction): Promise<void> {
    if (!tx.empty || tx.handles > 0) {
      await this.commitTransaction(tx);
    } else if (this.pendingCommit !== undefined) {
      await this.pendingCommit;
    }
    await this.checkpoint();
  }

  private async commitTransaction(tx: Transaction): Promise<void> {
    if (tx.state !== TxState.RUNNING) {
      await tx.done.wait();
      if (tx.error !== undefined) throw tx.error;
      return;
    }
    const p = this.commitMutex.with(() => this.doCommit(tx));
    this.pendingCommit = p;
    try {
      await p;
    } finally {
      if (this.pendingCommit === p) this.pendingCommit = undefined;
    }
  }

  private async doCommit(tx: Transaction): Promise<void> {
    if (tx.state !== TxState.RUNNING) return;
    this.checkNotAborted();
    // 1. Lock: no new handles join; wait for the open ones.
    tx.state = TxState.LOCKED;
    if (this.running === tx) this.running = undefined;
    this.locking = tx;
    if (this.timer !== undefined) { this.timer.cancel(); this.timer = undefined; }
    if (tx.handles === 0) tx.drained.complete();
    await tx.drained.wait();
    let logged: LoggedBlock[];
    try {
      this.checkNotAborted();
      // 2. Commit hooks, 3. snapshots — synchronously, with no handle open.
      for (const phase of tx.hooks) for (const hook of phase.values()) hook();
      logged = [];
      for (const b of tx.buffers) {
        assert(b.runningTid === tx.tid, () => `block ${b.blockNr} left transaction ${tx.tid}`);
        const snap = b.data.slice();
        b.runningTid = undefined;
        if (b.checkpointData === undefined) this.pendingCheckpointBytes += snap.length;
        b.checkpointData = snap;
        b.checkpointTid = tx.tid;
        logged.push({ blockNr: b.blockNr, data: snap });
      }
    } catch (e) {
      throw this.failCommit(tx, e);
    } finally {
      this.locking = undefined;
      tx.unlocked.complete();
    }
    tx.state = TxState.COMMITTING;
    // 4. The log write (or, without a journal, the home write).
    try {
      if (this.log !== undefined) {
        if (!tx.empty) {
          this.committingBlocks = this.log.blocksNeeded(logged.length, tx.revokes.size);
          await this.log.commit(logged, [...tx.revokes], this.options.clock.now());
        }
      } else {
        await writeBlocksHome(this.cache.device, this.cache.blockSize, logged);
        for (const b of tx.buffers) if (b.checkpointTid === tx.tid) b.checkpointData = undefined;
        this.pendingCheckpointBytes = 0;
        this.cache.trim();
      }
    } catch (e) {
      throw this.failCommit(tx, e);
    } finally {
      this.committingBlocks = 0;
    }
    tx.state = TxState.COMMITTED;
    if (this.log !== undefined && !tx.empty) this.checkpointQueue.push(tx);
    for (const fn of tx.afterCommit) fn();
    tx.done.complete();
  }

  /** A commit failed: abort the journal, release whoever waits for `tx`, and return the error to rethrow. */
  private failCommit(tx: Transaction, e: unknown): unknown {
    this.abort(e);
    tx.error = e instanceof Error ? e : new Error(`commit failed: ${JSON.stringify(e)}`);
    tx.done.complete();
    return e;
  }

  private checkNotAborted(): void {
    if (this.abortError !== undefined) {
      throw new FsError('EROFS', 'the journal has aborted after an error; the volume is read-only');
    }
  }
}

export class Handle {
  /** Set once the handle changed metadata: an error after that aborts the journal. */
  changed = false;
  private stopped = false;

  constructor(
    private readonly journal: Journal,
    readonly tx: Transaction,
    public creditsLeft: number,
  ) {}

  /**
   * Adds `b` to the transaction before the caller changes it (jbd2:
   * jbd2_journal_get_write_access). Costs a credit the first time the
   * transaction sees the block. Synchronous: the live bytes are free to
   * change (the commit works on a snapshot).
   */
  getWriteAccess(b: MetaBuffer): void {
    this.checkOpen();
    this.changed = true;
    this.journal.adopt(b);
    if (this.journal.joinBuffer(this.tx, b)) this.useCredit(`block ${b.blockNr}`);
  }

  /** The caller finished changing `b`: drop any decoding of the old bytes (jbd2: jbd2_journal_dirty_metadata). */
  dirtyMetadata(b: MetaBuffer): void {
    this.checkOpen();
    assert(b.runningTid === this.tx.tid, () => `block ${b.blockNr} dirtied without write access`);
    b.decoded = undefined;
    b.verified = true;
  }

  /**
   * A metadata block was freed (jbd2: jbd2_journal_forget + revoke): its
   * journaled copies must never be replayed over whatever uses the block
   * next, and no checkpoint may write it home.
   */
  forget(cache: BufferCache, blockNr: number): void {
    this.checkOpen();
    this.changed = true;
    const b = cache.cached(blockNr);
    if (b !== undefined) {
      if (b.runningTid === this.tx.tid) {
        const i = this.tx.buffers.indexOf(b);
        if (i >= 0) this.tx.buffers.splice(i, 1);
      }
      b.runningTid = undefined;
      b.checkpointData = undefined;
      cache.drop(blockNr);
    }
    if (this.journal.hasLog && !this.tx.revokes.has(blockNr)) {
      this.tx.revokes.add(blockNr);
      this.useCredit(`revoke of block ${blockNr}`);
    }
  }

  /** Registers a commit hook (deduplicated by key) that runs when the transaction locks. */
  onCommit(phase: CommitPhase, key: string, fn: () => void): void {
    this.checkOpen();
    const m = this.tx.hooks[phase];
    if (!m.has(key)) m.set(key, fn);
  }

  /** Runs `fn` once this handle's transaction is durable. */
  afterCommit(fn: () => void): void {
    this.checkOpen();
    this.tx.afterCommit.push(fn);
  }

  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    lockReleased('journal.handle', this);
    this.journal.handleStopped(this);
  }

  private useCredit(what: string): void {
    assert(this.creditsLeft > 0, () => `journal handle ran out of credits at ${what} (transaction ${this.tx.tid})`);
    this.creditsLeft--;
    this.tx.outstandingCredits--;
  }

  private checkOpen(): void {
    assert(!this.stopped, 'journal handle used after stop');
  }
}
