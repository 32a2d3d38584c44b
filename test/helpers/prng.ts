/**
 * Deterministic randomness for tests, so that every failure replays from its
 * seed: one small PRNG for choices and numbers, and an AES-CTR keystream for
 * bulk bytes (fast, and identical on every machine).
 */
import { createCipheriv, createHash } from 'node:crypto';

/**
 * mulberry32: one 32-bit word of state, small, fast, and the same
 * everywhere. Its `float()` is the classic `() => number` mulberry32.
 */
export class Rng {
  private state: number;
  constructor(seed: number) {
    this.state = seed >>> 0;
  }
  u32(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }
  /** Uniform in [0, 1). */
  float(): number { return this.u32() / 2 ** 32; }
  /** Integer in [lo, hi]. */
  int(lo: number, hi: number): number { return lo + Math.floor(this.float() * (hi - lo + 1)); }
  chance(p: number): boolean { return this.float() < p; }
  pick<T>(xs: readonly T[]): T { return xs[this.int(0, xs.length - 1)]; }
  bigint(lo: bigint, hi: bigint): bigint {
    const span = hi - lo + 1n;
    const r = (BigInt(this.u32()) << 32n) | BigInt(this.u32());
    return lo + (r % span);
  }
  bytes(n: number): Buffer { const b = Buffer.alloc(n); for (let i = 0; i < n; i++) b[i] = this.u32() & 0xff; return b; }
}

/**
 * `size` bytes of the AES-256-CTR keystream keyed by sha256(`label`),
 * starting from a counter block whose first 32 bits (big-endian) are
 * `stream`: different labels or streams give unrelated bytes.
 */
export function keystream(label: string, size: number, stream = 0): Buffer {
  const key = createHash('sha256').update(label).digest();
  const iv = Buffer.alloc(16);
  iv.writeUInt32BE(stream >>> 0, 0);
  return createCipheriv('aes-256-ctr', key, iv).update(Buffer.alloc(size));
}
