import { describe, expect, it } from 'vitest';
import { lockAcquired, lockReleased, waitingFor, yieldPoint } from '../../src/sim/hooks.js';
import { LockViolation, type ViolationKind } from '../../src/sim/lock-validator.js';
import { SimulationError } from '../../src/sim/scheduler.js';
import { withSimulator, type Simulator } from '../../src/sim/simulator.js';
import { TestMutex } from './test-mutex.js';

/** Runs `body` under a simulator; returns the violation it ends with, if any. */
async function violationOf(body: (sim: Simulator) => Promise<void>, opts: { disable?: boolean } = {}): Promise<LockViolation | undefined> {
  try {
    await withSimulator({ seed: 42 }, async (sim) => {
      if (opts.disable) sim.locks.enabled = false;
      await body(sim);
    });
    return undefined;
  } catch (e) {
    expect(e).toBeInstanceOf(SimulationError);
    const cause = (e as SimulationError).cause;
    expect(cause).toBeInstanceOf(LockViolation);
    expect((e as Error).message).toContain('seed=42');
    return cause as LockViolation;
  }
}

function expectKind(v: LockViolation | undefined, kind: ViolationKind): LockViolation {
  expect(v?.kind).toBe(kind);
  return v!;
}

// Named functions, so the acquisition stacks in reports can be checked.
async function takeAThenB(a: TestMutex, b: TestMutex): Promise<void> {
  await a.lock();
  await yieldPoint('holdsA');
  await b.lock();
  b.unlock();
  a.unlock();
}
async function takeBThenA(a: TestMutex, b: TestMutex): Promise<void> {
  await b.lock();
  await a.lock();
  a.unlock();
  b.unlock();
}

describe('lock validator: order between tasks (R4)', () => {
  const inversion = async (sim: Simulator): Promise<void> => {
    const a = new TestMutex('lockA');
    const b = new TestMutex('lockB');
    // The two tasks never overlap (t2 starts after t1 ended), so this run
    // cannot deadlock: only the class graph shows the inversion.
    const t1 = sim.spawn('t1', () => takeAThenB(a, b));
    sim.spawn('t2', async () => {
      await sim.clock.sleep(10);
      await t1.result;
      await takeBThenA(a, b);
    });
    await sim.run();
  };

  it('reports an A→B / B→A inversion between two tasks with both acquisition stacks', async () => {
    const v = expectKind(await violationOf(inversion), 'cycle');
    expect(v.message).toContain('t2 takes lockA while holding lockB');
    expect(v.message).toContain('t1 took lockB while holding lockA');
    expect(v.message).toContain('takeAThenB');
    expect(v.message).toContain('takeBThenA');
  });

  it('the same scenario passes with the validator switched off (the test depends on it)', async () => {
    expect(await violationOf(inversion, { disable: true })).toBeUndefined();
  });

  it('writeback taking the inode lock while holding a folio breaks §3', async () => {
    const v = expectKind(await violationOf(async (sim) => {
      sim.spawn('writeback', async () => {
        lockAcquired('folio', 3);
        lockAcquired('inode.rwsem', 12);
        lockReleased('inode.rwsem', 12);
        lockReleased('folio', 3);
      });
      await sim.run();
    }), 'order');
    expect(v.message).toContain('takes inode.rwsem while holding folio');
  });

  it('the full declared order, outermost first, is accepted', async () => {
    expect(await violationOf(async (sim) => {
      sim.spawn('write', async () => {
        const order: [string, unknown][] = [
          ['inode.rwsem', 5], ['inode.rwsem', 12], ['inode.invalidateLock', 12], ['folio', 0], ['folio', 1],
          ['journal.handle', 'h1'], ['inode.dataSem', 12], ['alloc', 'group 0'],
        ];
        for (const [cls, inst] of order) { lockAcquired(cls, inst); await yieldPoint(cls); }
        for (const [cls, inst] of order.reverse()) lockReleased(cls, inst);
      });
      await sim.run();
    })).toBeUndefined();
  });

  it('two inodes must be locked lower number first', async () => {
    const v = expectKind(await violationOf(async (sim) => {
      sim.spawn('rename', async () => {
        lockAcquired('inode.rwsem', 12);
        lockAcquired('inode.rwsem', 5);
      });
      await sim.run();
    }), 'same-class');
    expect(v.message).toContain('ascending');
  });

  it('a violation the engine swallows still fails the test', async () => {
    expectKind(await violationOf(async (sim) => {
      sim.spawn('swallower', async () => {
        lockAcquired('inode.dataSem', 1);
        try { lockAcquired('journal.handle', 'h'); } catch { /* a careless catch-all in the engine */ }
        lockReleased('inode.dataSem', 1);
      });
      await sim.run();
    }), 'order');
  });

  it('a task that ends holding a lock is reported', async () => {
    const v = expectKind(await violationOf(async (sim) => {
      sim.spawn('leaky', async () => { lockAcquired('inode.rwsem', 7); });
      await sim.run();
    }), 'held-at-end');
    expect(v.message).toContain('leaky holds inode.rwsem');
  });
  it('a background task abandoned mid-work (daemon still running) is not reported', async () => {
    expect(await violationOf(async (sim) => {
      sim.clock.setTimer(1, async () => { lockAcquired('folio', 9); await sim.clock.sleep(1_000_000); }, 'writeback');
      sim.spawn('main', async () => { await sim.clock.sleep(10); });
      await sim.run();
    })).toBeUndefined();
  });
});

describe('lock validator: no wait for writeback or commit under a journal handle (R3)', () => {
  async function zeroRange(holdHandleAcrossWait: boolean): Promise<void> {
    lockAcquired('journal.handle', 'h7');
    await yieldPoint('zero.partial-block');
    if (!holdHandleAcrossWait) lockReleased('journal.handle', 'h7');
    waitingFor('writeback');
    await yieldPoint('zero.wait-writeback');
    if (holdHandleAcrossWait) lockReleased('journal.handle', 'h7');
  }

  it('flags a writeback wait while the task holds a handle, with both stacks', async () => {
    const v = expectKind(await violationOf(async (sim) => {
      sim.spawn('zero', () => zeroRange(true));
      await sim.run();
    }), 'handle-wait');
    expect(v.message).toContain('R3: zero waits for writeback while holding a journal handle');
    expect(v.message).toContain('handle acquired at');
    expect(v.message).toContain('zeroRange');
  });

  it('flags a commit wait too', async () => {
    expectKind(await violationOf(async (sim) => {
      sim.spawn('fsync', async () => { lockAcquired('journal.handle', 1); waitingFor('commit'); });
      await sim.run();
    }), 'handle-wait');
  });

  it('accepts the wait once the handle is stopped, and a handle held by another task does not count', async () => {
    expect(await violationOf(async (sim) => {
      sim.spawn('zero', () => zeroRange(false));
      sim.spawn('other', async () => {
        lockAcquired('journal.handle', 'h8');
        await yieldPoint('other.in-handle');
        lockReleased('journal.handle', 'h8');
      });
      await sim.run();
    })).toBeUndefined();
  });
});
