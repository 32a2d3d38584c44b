/**
 * The only simulator hooks production code may call (DESIGN.md §4). Outside
 * tests all are no-ops: the simulator installs its implementation with
 * `installSimHooks` and removes it afterwards.
 *
 * Two hooks are the core: `yieldPoint` and the lock validator's
 * `lockAcquired` / `lockReleased`. The optional extensions exist so that the
 * simulator can see waits it would otherwise be blind to:
 *  - `blockOn(what, until)`: a lock or wait queue that parks the caller on a
 *    promise says so, so the deterministic scheduler knows the task is
 *    blocked (and on what: the deadlock report names it) and picks who runs
 *    once the promise settles, instead of the JS microtask queue deciding;
 *  - `waitingFor('writeback' | 'commit')`: announced before such a wait, so
 *    the lock validator can flag it when the caller holds a journal handle
 *    (rule R3).
 */
export type WaitKind = 'writeback' | 'commit';

export interface SimHooks {
  /** A place where the simulator may run other operations first. */
  yieldPoint(name: string): Promise<void> | undefined;
  lockAcquired(lockClass: string, instance: unknown): void;
  lockReleased(lockClass: string, instance: unknown): void;
  /** Returns a promise to await in place of `until`, or undefined to await `until` itself. */
  blockOn?<T>(what: string, until: Promise<T>): Promise<T> | undefined;
  waitingFor?(kind: WaitKind): void;
}

let hooks: SimHooks | undefined;

export function installSimHooks(h: SimHooks | undefined): void {
  hooks = h;
}

/** Returns undefined (nothing to await) unless a simulator is installed. */
export function yieldPoint(name: string): Promise<void> | undefined {
  return hooks?.yieldPoint(name);
}

export function lockAcquired(lockClass: string, instance: unknown): void {
  hooks?.lockAcquired(lockClass, instance);
}

export function lockReleased(lockClass: string, instance: unknown): void {
  hooks?.lockReleased(lockClass, instance);
}

/**
 * Waits for `until`, telling the simulator (if any) what the caller is
 * blocked on. Use it for every wait whose wake-up comes from another
 * operation (lock contention, waiting for writeback or a commit); in
 * production it is `until` itself.
 */
export function blockOn<T>(what: string, until: Promise<T>): Promise<T> {
  return hooks?.blockOn?.(what, until) ?? until;
}

/** Announces a wait for writeback or a journal commit (checked against R3). */
export function waitingFor(kind: WaitKind): void {
  hooks?.waitingFor?.(kind);
}
