/**
 * The only simulator hooks production code may call (DESIGN.md §4). Outside
 * tests both are no-ops: the simulator installs its implementation with
 * `installSimHooks` and removes it afterwards.
 */
export interface SimHooks {
  /** A place where the simulator may run other operations first. */
  yieldPoint(name: string): Promise<void> | undefined;
  lockAcquired(lockClass: string, instance: unknown): void;
  lockReleased(lockClass: string, instance: unknown): void;
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
