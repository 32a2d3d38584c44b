import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Prng } from '../../src/sim/prng.js';
import { SECTOR, SimDevice, fillStale, findStale } from '../../src/sim/sim-device.js';
import { seedRange, withSimulator, type Simulator } from '../../src/sim/simulator.js';

const sector = (fill: number): Uint8Array => new Uint8Array(SECTOR).fill(fill);

describe('SimDevice: volatile cache and flush', () => {
  it('reads see completed writes; only flush makes them durable', async () => {
    const dev = new SimDevice({ size: 16 * SECTOR, rng: new Prng(1) });
    await dev.write(3 * SECTOR, sector(0xaa));
    expect((await dev.read(3 * SECTOR, SECTOR)).every((b) => b === 0xaa)).toBe(true);
    expect(dev.durableImage().subarray(3 * SECTOR, 4 * SECTOR).every((b) => b === 0xaa)).toBe(false);
    await dev.flush();
    expect(dev.durableImage().subarray(3 * SECTOR, 4 * SECTOR).every((b) => b === 0xaa)).toBe(true);
    expect(dev.pendingWrites).toBe(0);
  });

  it('a flush covers what completed before it began, not what completes during it', async () => {
    await withSimulator({ seed: 11 }, async (sim) => {
      const dev = sim.device({ size: 16 * SECTOR });
      sim.spawn('w', async () => {
        await dev.write(0, sector(1));
        await Promise.all([dev.flush(), dev.write(SECTOR, sector(2))]);
      });
      await sim.run();
      const durable = dev.durableImage();
      expect(durable[0]).toBe(1);
      // The second write was issued after flush() began: the flush does not cover it.
      expect(durable[SECTOR]).not.toBe(2);
      expect(dev.latestImage()[SECTOR]).toBe(2);
    });
  });

  it('concurrent writes complete in a PRNG-chosen order', async () => {
    const orders = new Set<string>();
    for (const seed of seedRange(1, 20)) {
      await withSimulator({ seed }, async (sim) => {
        const dev = sim.device({ size: 16 * SECTOR });
        sim.spawn('submit', async () => {
          // Four writes to the same sector in flight at once: the last to complete wins.
          await Promise.all([1, 2, 3, 4].map((v) => dev.write(0, sector(v))));
        });
        await sim.run();
        orders.add(String(dev.latestImage()[0]));
      });
    }
    expect(orders.size).toBeGreaterThan(2);
  });

  it('optional per-request yield points let other tasks run between submission and completion', async () => {
    await withSimulator({ seed: 3 }, async (sim) => {
      const dev = sim.device({ size: 8 * SECTOR, yieldPoints: true });
      sim.spawn('io', async () => { await dev.write(0, sector(5)); await dev.read(0, SECTOR); await dev.flush(); });
      await sim.run();
      const points = sim.scheduler.trace.map((e) => e.point);
      expect(points).toEqual(expect.arrayContaining(['dev.write', 'dev.read', 'dev.flush']));
      expect(dev.durableImage()[0]).toBe(5);
    });
  });

  it('a request after the power cut fails with EIO', async () => {
    const dev = new SimDevice({ size: 4 * SECTOR, rng: new Prng(1) });
    dev.powerCut();
    await expect(dev.write(0, sector(1))).rejects.toMatchObject({ code: 'EIO' });
  });
});

describe('SimDevice: power cut', () => {
  it('keeps exactly the reported subset of the unflushed writes', async () => {
    let sawPartial = false;
    for (const seed of seedRange(1, 10)) {
      const dev = new SimDevice({ size: 64 * SECTOR, rng: new Prng(seed) });
      await dev.write(0, sector(0xf0));
      await dev.flush();
      for (let i = 1; i <= 20; i++) await dev.write(i * SECTOR, sector(i));
      const image = dev.powerCut();
      const { kept, dropped } = dev.lastPowerCut!;
      expect(kept.length + dropped.length).toBe(20);
      if (kept.length > 0 && dropped.length > 0) sawPartial = true;
      expect(image[0]).toBe(0xf0); // flushed: always there
      // Write ids are 1 (flushed), then 2..21 for sectors 1..20.
      for (let i = 1; i <= 20; i++) {
        const survived = image.subarray(i * SECTOR, (i + 1) * SECTOR).every((b) => b === i);
        expect(survived).toBe(kept.includes(i + 1));
        if (!survived) expect(findStale(image.subarray(i * SECTOR, (i + 1) * SECTOR), 1)[0]?.sector).toBe(i);
      }
    }
    expect(sawPartial).toBe(true);
  });

  it('tears multi-sector writes at sector granularity', async () => {
    let sawTorn = false;
    for (const seed of seedRange(1, 20)) {
      const dev = new SimDevice({ size: 32 * SECTOR, rng: new Prng(seed) });
      await dev.write(4 * SECTOR, new Uint8Array(8 * SECTOR).fill(0x77));
      const image = dev.powerCut({ torn: true, keepProbability: 1 });
      const states = [];
      for (let s = 4; s < 12; s++) {
        const bytes = image.subarray(s * SECTOR, (s + 1) * SECTOR);
        const isNew = bytes.every((b) => b === 0x77);
        const isOld = findStale(bytes, 40).length === 32;
        expect(isNew || isOld).toBe(true); // never a torn sector, only torn writes
        states.push(isNew);
      }
      if (states.includes(true) && states.includes(false)) sawTorn = true;
      expect(dev.lastPowerCut!.torn[0].sectors).toEqual(states.flatMap((n, i) => (n ? [i] : [])));
    }
    expect(sawTorn).toBe(true);
  });
});

describe('stale pattern', () => {
  it('every sector names itself, and findStale finds fragments in file contents', () => {
    const img = new Uint8Array(8 * SECTOR);
    fillStale(img);
    expect(findStale(img.subarray(5 * SECTOR + 100, 5 * SECTOR + 140), 1)[0].sector).toBe(5);
    // A "file" of good data with one stale fragment in the middle.
    const file = new Uint8Array(4096).fill(0x41);
    file.set(img.subarray(7 * SECTOR + 3, 7 * SECTOR + 40), 1000);
    const hits = findStale(file);
    expect(hits.length).toBeGreaterThan(0);
    expect(hits[0].sector).toBe(7);
    expect(hits[0].offset).toBeGreaterThanOrEqual(1000);
    expect(findStale(new Uint8Array(4096).fill(0x41))).toEqual([]);
    expect(findStale(new Uint8Array(4096))).toEqual([]);
  });
});

/** A planted bug: flush() that returns without making anything durable. */
class ForgetfulDevice extends SimDevice {
  override async flush(): Promise<void> {}
}

/**
 * The durability contract as a property: run random batches of concurrent
 * writes and flushes under the scheduler, cut power, and check every byte of
 * the durable image. Each write fills its range with its own id, so a byte
 * tells which write it came from. A byte covered by writes issued before the
 * last flush must hold a value of the latest such batch (their relative
 * order inside a batch is the PRNG's) or of a later, unflushed write; a byte
 * nobody wrote before the last flush holds the stale pattern or an unflushed
 * write's value.
 */
function durabilityProperty(makeDevice: (sim: Simulator, size: number) => SimDevice) {
    const size = 32 * SECTOR;
    const writeArb = fc.record({ offset: fc.integer({ min: 0, max: size - 1 }), len: fc.integer({ min: 1, max: 3 * SECTOR }) });
    const batchArb = fc.record({ writes: fc.array(writeArb, { minLength: 1, maxLength: 4 }), flush: fc.boolean() });
    return fc.asyncProperty(fc.array(batchArb, { minLength: 1, maxLength: 8 }), fc.integer({ min: 0, max: 0xffff_ffff }), fc.boolean(), async (batches, seed, torn) => {
        await withSimulator({ seed }, async (sim) => {
          const dev = makeDevice(sim, size);
          const initial = dev.durableImage();
          let id = 0;
          const issued: { id: number; batch: number; offset: number; len: number }[] = [];
          let lastFlushBatch = -1; // batches 0..lastFlushBatch completed before the last flush began
          sim.spawn('io', async () => {
            for (const [b, batch] of batches.entries()) {
              const reqs = batch.writes.map((w) => {
                const len = Math.min(w.len, size - w.offset);
                const rec = { id: ++id, batch: b, offset: w.offset, len };
                issued.push(rec);
                return dev.write(rec.offset, new Uint8Array(len).fill(rec.id));
              });
              await Promise.all(reqs);
              if (batch.flush) {
                lastFlushBatch = b;
                await dev.flush();
              }
            }
          });
          await sim.run();
          const image = sim.powerCut(dev, { torn });
          for (let x = 0; x < size; x++) {
            const covering = issued.filter((w) => x >= w.offset && x < w.offset + w.len);
            const flushed = covering.filter((w) => w.batch <= lastFlushBatch);
            const lastBatch = Math.max(-1, ...flushed.map((w) => w.batch));
            const allowed = new Set<number>(covering.filter((w) => w.batch >= lastBatch && w.batch >= 0).map((w) => w.id));
            if (lastBatch < 0) allowed.add(initial[x]);
            if (!allowed.has(image[x])) {
              throw new Error(`byte ${x} is ${image[x]}, allowed ${[...allowed].join(',')} (last flushed batch ${lastFlushBatch})`);
            }
          }
        });
      });
}

describe('SimDevice: property', () => {
  it('after a power cut the image holds every write completed before the last flush', async () => {
    await fc.assert(durabilityProperty((sim, size) => sim.device({ size })), { numRuns: 150 });
  });

  it('the property catches a flush that does not persist', async () => {
    const out = await fc.check(
      durabilityProperty((sim, size) => new ForgetfulDevice({ size, rng: sim.rng, scheduler: sim.scheduler })),
      { numRuns: 150 },
    );
    expect(out.failed).toBe(true);
    expect(String(out.errorInstance)).toMatch(/byte \d+ is/);
  });
});
