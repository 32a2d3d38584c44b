/**
 * The leaf split's invariants over many random full leaves (every block
 * size, long and short names, runs of equal hashes): both halves and the
 * new entry fit, no entry is lost, and the index hash separates the halves
 * the way lookups and e2fsck read it (entries below it stay, entries at or
 * above it move; equal hashes on both sides only with the continuation bit
 * set). The on-disk result of real splits is judged by e2fsck in the other
 * directory tests; this covers layouts those may not reach.
 */
import { describe, expect, it } from 'vitest';
import { splitLeaf, type HashedRecord } from '../../src/dir/leaf-split.js';
import { dirEntrySize } from '../../src/format/dirent.js';
import { Rng } from '../helpers/prng.js';
import { testSeed } from './dir-harness.js';

function randomHash(rng: Rng, common: number): number {
  return rng.chance(0.3) ? common : (rng.u32() & ~1) >>> 0;
}

describe('splitLeaf', () => {
  it('keeps every entry, fits both halves, and orders them around the index hash', () => {
    const rng = new Rng(testSeed('leaf-split'));
    let checked = 0;
    for (const blockSize of [1024, 2048, 4096]) {
      const capacity = blockSize - 12;
      for (let t = 0; t < 4000; t++) {
        const common = (rng.u32() & ~1) >>> 0;
        const newLen = rng.int(1, 255);
        const need = dirEntrySize(newLen);
        const records: HashedRecord[] = [];
        let used = 0;
        // Fill until the next name would not fit. Some leaves also hold free
        // space in unused records the new entry cannot use (Linux's delete
        // never leaves that, other writers may), down to a single entry.
        const lead = rng.chance(0.1) ? rng.int(3, Math.floor((capacity * 0.7) / 4)) * 4 : 0;
        used += lead;
        for (;;) {
          const len = rng.chance(0.5) ? rng.int(200, 255) : rng.int(1, 255);
          const size = dirEntrySize(len);
          if (used + size > capacity) break;
          records.push({ inode: 11, fileType: 1, name: new Uint8Array(len).fill(0x61), hash: randomHash(rng, common), recLen: size });
          used += size;
        }
        if (records.length === 0 || capacity - used >= need) continue;
        records[records.length - 1].recLen += capacity - used;
        const newHash = randomHash(rng, common);
        const s = splitLeaf(records, newHash, newLen, blockSize, capacity);
        checked++;
        const size = (rs: HashedRecord[]): number => rs.reduce((a, r) => a + dirEntrySize(r.name.length), 0);
        expect(size(s.lower) + (s.newGoesUpper ? 0 : need)).toBeLessThanOrEqual(capacity);
        expect(size(s.upper) + (s.newGoesUpper ? need : 0)).toBeLessThanOrEqual(capacity);
        expect(new Set([...s.lower, ...s.upper])).toEqual(new Set(records));
        const h2 = (s.indexHash & ~1) >>> 0;
        const continued = (s.indexHash & 1) === 1;
        for (const r of s.lower) expect(r.hash < h2 || (continued && r.hash === h2)).toBe(true);
        for (const r of s.upper) expect(r.hash).toBeGreaterThanOrEqual(h2);
        expect(s.newGoesUpper).toBe(newHash >= h2);
      }
    }
    expect(checked).toBeGreaterThan(5000);
  });
});
