import { describe, expect, it } from 'vitest';
import { Prng } from '../../src/sim/prng.js';

describe('Prng', () => {
  it('replays from its seed and differs between seeds', () => {
    const a = new Prng(99);
    const b = new Prng(99);
    const xs = Array.from({ length: 100 }, () => a.u32());
    expect(Array.from({ length: 100 }, () => b.u32())).toEqual(xs);
    const c = new Prng(100);
    expect(Array.from({ length: 100 }, () => c.u32())).not.toEqual(xs);
  });

  it('helpers stay in range and cover it', () => {
    const r = new Prng(1);
    const seen = new Set<number>();
    for (let i = 0; i < 2000; i++) {
      const v = r.int(3, 9);
      expect(v).toBeGreaterThanOrEqual(3);
      expect(v).toBeLessThanOrEqual(9);
      seen.add(v);
    }
    expect(seen.size).toBe(7);
    const hits = Array.from({ length: 10_000 }, () => r.chance(0.25)).filter(Boolean).length;
    expect(hits).toBeGreaterThan(2200);
    expect(hits).toBeLessThan(2800);
    expect(['x', 'y']).toContain(r.pick(['x', 'y']));
    expect(() => r.pick([])).toThrow(RangeError);
    const shuffled = r.shuffle([1, 2, 3, 4, 5, 6, 7, 8]);
    expect([...shuffled].sort((p, q) => p - q)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(r.bytes(7).length).toBe(7);
  });

  it('fork gives an independent, reproducible stream', () => {
    const f1 = new Prng(5).fork();
    const f2 = new Prng(5).fork();
    expect(f1.u32()).toBe(f2.u32());
  });
});
