/**
 * A minimal mutex written the way the engine's locks must be (see the
 * report / src/sim README): it reports acquisitions and releases to the lock
 * validator and waits through `blockOn`, so the scheduler knows who is
 * blocked on what and decides who runs after a release.
 */
import { blockOn, lockAcquired, lockReleased } from '../../src/sim/hooks.js';

export class TestMutex {
  private held = false;
  private readonly waiters: (() => void)[] = [];
  constructor(readonly lockClass: string, readonly lockOrderKey?: number) {}

  async lock(): Promise<void> {
    if (this.held) {
      // Ownership is handed over by unlock(): no barging, no re-check loop.
      await blockOn(`${this.lockClass}${this.lockOrderKey === undefined ? '' : ` #${this.lockOrderKey}`}`, new Promise<void>((resolve) => this.waiters.push(resolve)));
    } else {
      this.held = true;
    }
    lockAcquired(this.lockClass, this);
  }

  unlock(): void {
    lockReleased(this.lockClass, this);
    const next = this.waiters.shift();
    if (next === undefined) this.held = false;
    else next();
  }
}
