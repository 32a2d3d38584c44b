/**
 * The engine's sleeping locks: a mutex and a reader-writer semaphore (Linux:
 * `struct mutex`, `struct rw_semaphore`).
 *
 * ext4kit is single-threaded: code between two `await`s runs alone, so a lock
 * is needed only for what must stay consistent ACROSS an await (a directory
 * being rewritten block by block, an extent tree being split). Both locks
 * report every acquisition and release to the simulator's lock validator
 * (DESIGN.md §3) and park waiters through `blockOn`, so a deterministic
 * simulation sees who waits for whom. Outside tests those hooks are no-ops.
 *
 * Ownership is handed over directly on release (the next waiter is woken
 * already holding the lock), so a released lock cannot be stolen by a caller
 * that arrives between the release and the waiter's wake-up: waiters are
 * served in FIFO order and a writer queued behind readers blocks later
 * readers (no writer starvation).
 */
import { assert } from './assert.js';
import { blockOn, lockAcquired, lockReleased } from '../sim/hooks.js';

export class Mutex {
  private held = false;
  private readonly waiters: Array<() => void> = [];

  /**
   * @param lockClass lock validator class (`inode.rwsem`, `alloc`, ...)
   * @param lockOrderKey orders two instances of one class (lower first), e.g. an inode number
   */
  constructor(readonly lockClass: string, readonly lockOrderKey: number = 0) {}

  get locked(): boolean { return this.held; }

  async lock(): Promise<void> {
    if (this.held) {
      await blockOn(`${this.lockClass} #${this.lockOrderKey}`, new Promise<void>((resolve) => this.waiters.push(resolve)));
    } else {
      this.held = true;
    }
    lockAcquired(this.lockClass, this);
  }

  /** Takes the lock if it is free, without waiting. */
  tryLock(): boolean {
    if (this.held) return false;
    this.held = true;
    lockAcquired(this.lockClass, this);
    return true;
  }

  unlock(): void {
    assert(this.held, () => `${this.lockClass} unlocked while not held`);
    lockReleased(this.lockClass, this);
    const next = this.waiters.shift();
    if (next) next();
    else this.held = false;
  }

  /** Runs `fn` with the lock held. */
  async with<T>(fn: () => Promise<T> | T): Promise<T> {
    await this.lock();
    try {
      return await fn();
    } finally {
      this.unlock();
    }
  }
}

interface RwWaiter {
  exclusive: boolean;
  wake: () => void;
}

export class RwSemaphore {
  /** Number of readers holding it, or -1 when a writer holds it. */
  private holders = 0;
  private readonly waiters: RwWaiter[] = [];

  constructor(readonly lockClass: string, readonly lockOrderKey: number = 0) {}

  get writeLocked(): boolean { return this.holders === -1; }
  get readers(): number { return Math.max(0, this.holders); }

  async lockShared(): Promise<void> {
    if (this.holders >= 0 && this.waiters.length === 0) {
      this.holders++;
    } else {
      await blockOn(`${this.lockClass} #${this.lockOrderKey} (shared)`,
        new Promise<void>((wake) => this.waiters.push({ exclusive: false, wake })));
    }
    lockAcquired(this.lockClass, this);
  }

  async lockExclusive(): Promise<void> {
    if (this.holders === 0 && this.waiters.length === 0) {
      this.holders = -1;
    } else {
      await blockOn(`${this.lockClass} #${this.lockOrderKey}`,
        new Promise<void>((wake) => this.waiters.push({ exclusive: true, wake })));
    }
    lockAcquired(this.lockClass, this);
  }

  unlockShared(): void {
    assert(this.holders > 0, () => `${this.lockClass} shared unlock while not read-held`);
    lockReleased(this.lockClass, this);
    this.holders--;
    if (this.holders === 0) this.handOver();
  }

  unlockExclusive(): void {
    assert(this.holders === -1, () => `${this.lockClass} exclusive unlock while not write-held`);
    lockReleased(this.lockClass, this);
    this.holders = 0;
    this.handOver();
  }

  async withShared<T>(fn: () => Promise<T> | T): Promise<T> {
    await this.lockShared();
    try {
      return await fn();
    } finally {
      this.unlockShared();
    }
  }

  async withExclusive<T>(fn: () => Promise<T> | T): Promise<T> {
    await this.lockExclusive();
    try {
      return await fn();
    } finally {
      this.unlockExclusive();
    }
  }

  /** Wakes the next writer, or every reader at the head of the queue, already holding the lock. */
  private handOver(): void {
    const first = this.waiters[0];
    if (first === undefined) return;
    if (first.exclusive) {
      this.waiters.shift();
      this.holders = -1;
      first.wake();
      return;
    }
    while (this.waiters.length > 0 && !this.waiters[0].exclusive) {
      const w = this.waiters.shift()!;
      this.holders++;
      w.wake();
    }
  }
}

/**
 * A one-shot event several tasks can wait for (Linux: `struct completion`):
 * a commit finishing, a transaction becoming free of handles.
 */
export class Completion {
  private done = false;
  private readonly waiters: Array<() => void> = [];

  constructor(readonly what: string) {}

  get completed(): boolean { return this.done; }

  wait(): Promise<void> {
    if (this.done) return Promise.resolve();
    return blockOn(this.what, new Promise<void>((resolve) => this.waiters.push(resolve)));
  }

  complete(): void {
    if (this.done) return;
    this.done = true;
    for (const w of this.waiters.splice(0)) w();
  }
}
