import { describe, expect, it } from 'vitest';
import { yieldPoint } from '../../src/sim/hooks.js';
import { SimDevice, findStale, SECTOR } from '../../src/sim/sim-device.js';
import { Prng } from '../../src/sim/prng.js';
import { seedRange, withSimulator } from '../../src/sim/simulator.js';

describe('withSimulator', () => {
  it('installs the hooks for the body only, and refuses to nest', async () => {
    await withSimulator({ seed: 1 }, async (sim) => {
      await expect(withSimulator({ seed: 2 }, async () => undefined)).rejects.toThrow(/already installed/);
      let inside: Promise<void> | undefined;
      sim.spawn('t', async () => { inside = yieldPoint('p'); await inside; });
      await sim.run();
      expect(inside).toBeInstanceOf(Promise);
    });
    expect(yieldPoint('after')).toBeUndefined();
  });

  it('wraps a failing body with the seed', async () => {
    await expect(withSimulator({ seed: 77 }, async () => { throw new Error('boom'); })).rejects.toThrow(/boom[\s\S]*seed=77/);
  });

  it('tolerates a task waiting on real time (outside the simulator) and records it', async () => {
    await withSimulator({ seed: 4 }, async (sim) => {
      let done = false;
      sim.spawn('real-io', async () => {
        await new Promise((resolve) => setTimeout(resolve, 5));
        await yieldPoint('after-real-io');
        done = true;
      });
      await sim.run();
      expect(done).toBe(true);
      expect(sim.scheduler.trace.some((e) => e.point.startsWith('untracked'))).toBe(true);
    });
  });
});

/**
 * The shape of the crash tests the write path will run: concurrent
 * operations, power cut at a chosen step, reopen the durable image, check.
 * Here the "filesystem" is a log of fixed records with a commit flag, written
 * data-first: write record, flush, write commit flag, flush.
 */
describe('crash at a chosen step', () => {
  async function appendRecord(dev: SimDevice, slot: number, safe: boolean): Promise<void> {
    await dev.write(slot * 2 * SECTOR, new Uint8Array(SECTOR).fill(slot + 1));
    if (safe) await dev.flush(); // the ordering point the planted bug omits
    await yieldPoint('between-data-and-commit');
    await dev.write((slot * 2 + 1) * SECTOR, new Uint8Array(SECTOR).fill(0xc0));
    await dev.flush();
  }

  function check(image: Uint8Array): void {
    for (let slot = 0; slot < 4; slot++) {
      const committed = image[(slot * 2 + 1) * SECTOR] === 0xc0;
      const data = image.subarray(slot * 2 * SECTOR, (slot * 2 + 1) * SECTOR);
      if (committed && findStale(data, 1).length > 0) throw new Error(`slot ${slot} is committed but shows stale data`);
    }
  }

  async function crashRun(seed: number, step: number, safe: boolean): Promise<void> {
    await withSimulator({ seed }, async (sim) => {
      const dev = sim.device({ size: 16 * SECTOR });
      for (let slot = 0; slot < 4; slot++) sim.spawn(`append${slot}`, () => appendRecord(dev, slot, safe));
      sim.cutPowerAtStep(step, dev);
      await sim.run();
      const image = sim.crashImage ?? dev.durableImage();
      // Reopen: a fresh device over the durable image sees exactly it.
      const reopened = new SimDevice({ image, rng: new Prng(seed) });
      check(await reopened.read(0, reopened.size));
    });
  }

  it('with the flush between data and commit, no crash point exposes stale data', async () => {
    for (const seed of seedRange(1, 15)) {
      for (let step = 1; step <= 40; step += 3) await crashRun(seed, step, true);
    }
  });

  it('cutPowerAtYield crashes exactly when a task reaches the named point', async () => {
    for (const seed of seedRange(1, 10)) {
      await withSimulator({ seed }, async (sim) => {
        const dev = sim.device({ size: 16 * SECTOR });
        sim.spawn('append0', () => appendRecord(dev, 0, false));
        sim.cutPowerAtYield('between-data-and-commit', dev, { keepProbability: 0 });
        await sim.run();
        expect(sim.scheduler.halted).toBe(true);
        // Data written but never flushed, commit never written: nothing survives.
        const image = sim.crashImage!;
        expect(findStale(image.subarray(0, SECTOR), 1)[0]?.sector).toBe(0);
        expect(image[SECTOR]).not.toBe(0xc0);
      });
    }
  });

  it('without it, some seed and crash point exposes stale data, named with its seed', async () => {
    let failure: Error | undefined;
    outer: for (const seed of seedRange(1, 30)) {
      for (let step = 1; step <= 40; step += 3) {
        try { await crashRun(seed, step, false); } catch (e) { failure = e as Error; break outer; }
      }
    }
    expect(failure?.message).toMatch(/committed but shows stale data[\s\S]*seed=\d+/);
  });
});
