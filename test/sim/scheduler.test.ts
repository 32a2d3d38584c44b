import { describe, expect, it } from 'vitest';
import { yieldPoint } from '../../src/sim/hooks.js';
import { DeadlockError, SimulationError } from '../../src/sim/scheduler.js';
import { findFailingSeed, seedRange, withSimulator, type Simulator } from '../../src/sim/simulator.js';
import { TestMutex } from './test-mutex.js';

/** Three tasks with yield points, a sleep and device writes: a trace to compare. */
async function workload(sim: Simulator): Promise<string> {
  const dev = sim.device({ size: 64 * 512 });
  const log: string[] = [];
  for (const name of ['a', 'b', 'c']) {
    sim.spawn(name, async () => {
      for (let i = 0; i < 4; i++) {
        log.push(`${name}${i}`);
        await yieldPoint(`${name}.loop`);
        if (i === 2) await sim.clock.sleep(10);
        await dev.write((name.charCodeAt(0) - 97) * 512 * 4 + i * 512, new Uint8Array(512).fill(i));
      }
    });
  }
  await sim.run();
  return JSON.stringify({ trace: sim.scheduler.trace, log });
}

describe('scheduler: determinism', () => {
  it('the same seed gives the identical trace', async () => {
    for (const seed of [1, 7, 123456]) {
      const a = await withSimulator({ seed }, workload);
      const b = await withSimulator({ seed }, workload);
      expect(b).toBe(a);
    }
  });

  it('different seeds give different interleavings', async () => {
    const traces = new Set<string>();
    for (const seed of seedRange(1, 40)) traces.add(await withSimulator({ seed }, workload));
    // 40 seeds over a space of many thousands of interleavings: nearly all differ.
    expect(traces.size).toBeGreaterThan(35);
  });

  it('without a simulator the hooks are no-ops', () => {
    expect(yieldPoint('x')).toBeUndefined();
  });
});

/** The planted bug: read-modify-write of a shared counter across a yield point. */
function racyCounter(sim: Simulator, guard?: TestMutex): () => void {
  const shared = { n: 0 };
  const incr = async (): Promise<void> => {
    await guard?.lock();
    const v = shared.n;
    await yieldPoint('counter.read');
    shared.n = v + 1;
    guard?.unlock();
  };
  sim.spawn('inc1', incr);
  sim.spawn('inc2', incr);
  return () => {
    if (shared.n !== 2) throw new Error(`lost update: counter is ${shared.n}, expected 2`);
  };
}

describe('scheduler: finds a planted race', () => {
  it('some seed loses an update; the error names the seed and rerunning it reproduces the failure', async () => {
    const body = async (sim: Simulator): Promise<void> => {
      const check = racyCounter(sim);
      await sim.run();
      check();
    };
    const failure = await findFailingSeed(seedRange(1, 50), body);
    expect(failure).toBeInstanceOf(SimulationError);
    const err = failure!;
    expect(err.message).toContain('lost update');
    expect(err.message).toContain(`seed=${err.seed}`);
    expect(err.message).toContain('counter.read');
    // Replay: the same seed fails the same way, with the same trace.
    const again = await withSimulator({ seed: err.seed }, body).then(() => undefined, (e: unknown) => e);
    expect(again).toBeInstanceOf(SimulationError);
    expect((again as SimulationError).trace).toBe(err.trace);
  });

  it('with the read-modify-write under a lock no seed fails', async () => {
    const failure = await findFailingSeed(seedRange(1, 50), async (sim) => {
      const check = racyCounter(sim, new TestMutex('counter'));
      await sim.run();
      check();
    });
    expect(failure).toBeUndefined();
  });
});

describe('scheduler: deadlock detection', () => {
  it('reports an ABBA deadlock with who waits on what and who holds what', async () => {
    const failure = await findFailingSeed(seedRange(1, 30), async (sim) => {
      sim.locks.enabled = false; // the scheduler alone must find it (the validator would report the cycle first in lucky runs)
      const a = new TestMutex('lockA');
      const b = new TestMutex('lockB');
      sim.spawn('t1', async () => { await a.lock(); await yieldPoint('t1.holdsA'); await b.lock(); b.unlock(); a.unlock(); });
      sim.spawn('t2', async () => { await b.lock(); await yieldPoint('t2.holdsB'); await a.lock(); a.unlock(); b.unlock(); });
      await sim.run();
    });
    expect(failure).toBeInstanceOf(DeadlockError);
    const msg = failure!.message;
    expect(msg).toMatch(/t1: blocked on lockB; holds lockA/);
    expect(msg).toMatch(/t2: blocked on lockA; holds lockB/);
    expect(msg).toContain(`seed=${failure!.seed}`);
  });

  it('a task waiting on a promise nobody resolves is a deadlock, not a hang', async () => {
    const err = await withSimulator({ seed: 3 }, async (sim) => {
      sim.spawn('stuck', async () => {
        const { blockOn } = await import('../../src/sim/hooks.js');
        await blockOn('never', new Promise<void>(() => undefined));
      });
      await sim.run();
    }).then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(DeadlockError);
    expect((err as Error).message).toContain('stuck: blocked on never');
  });
});

describe('scheduler: livelock', () => {
  it('stops after maxSteps with the seed and the spinning task named', async () => {
    const err = await withSimulator({ seed: 8, maxSteps: 200 }, async (sim) => {
      sim.spawn('spinner', async () => { for (;;) await yieldPoint('spin'); });
      await sim.run();
    }).then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(SimulationError);
    expect((err as Error).message).toMatch(/no end after 200 steps[\s\S]*spinner: ready at spin[\s\S]*seed=8/);
  });
});

describe('scheduler: virtual time', () => {
  it('sleeps advance virtual time only when nothing else can run, in order', async () => {
    await withSimulator({ seed: 5 }, async (sim) => {
      const order: string[] = [];
      const started = Date.now();
      sim.spawn('slow', async () => { await sim.clock.sleep(60_000); order.push(`slow@${sim.clock.now()}`); });
      sim.spawn('fast', async () => { await sim.clock.sleep(100); order.push(`fast@${sim.clock.now()}`); });
      sim.spawn('busy', async () => {
        for (let i = 0; i < 5; i++) await yieldPoint('busy');
        order.push(`busy@${sim.clock.now()}`);
      });
      await sim.run();
      expect(order).toEqual(['busy@0', 'fast@100', 'slow@60000']);
      expect(Date.now() - started).toBeLessThan(2000);
    });
  });

  it('timers run background work as daemon tasks and do not keep the run alive', async () => {
    await withSimulator({ seed: 9 }, async (sim) => {
      const commits: number[] = [];
      // A periodic "commit timer" that re-arms itself forever.
      const arm = (): void => {
        sim.clock.setTimer(5000, () => { commits.push(sim.clock.now()); arm(); }, 'commit-timer');
      };
      arm();
      sim.spawn('main', async () => { await sim.clock.sleep(17_000); });
      await sim.run();
      expect(commits).toEqual([5000, 10_000, 15_000]);
      expect(sim.clock.now()).toBe(17_000);
    });
  });

  it('a cancelled timer never fires', async () => {
    await withSimulator({ seed: 2 }, async (sim) => {
      let fired = false;
      const t = sim.clock.setTimer(10, () => { fired = true; });
      sim.spawn('main', async () => { await sim.clock.sleep(5); t.cancel(); await sim.clock.sleep(50); });
      await sim.run();
      expect(fired).toBe(false);
    });
  });
});
