/**
 * The simulator's only source of randomness (DESIGN.md §4: "every failing
 * simulation prints its seed; rerunning the seed replays it"). Every choice
 * the simulator makes — which task runs next, in which order pending device
 * requests complete, which unflushed writes survive a power cut — is drawn
 * from one of these, so a seed fixes the whole run.
 *
 * sfc32 (Chris Doty-Humphrey's Small Fast Counter): 128 bits of state, no
 * short cycles thanks to its counter word, passes PractRand, and is plain
 * 32-bit integer arithmetic, so it gives the same sequence on every machine.
 * The state is seeded from the 32-bit seed with splitmix32 so that nearby
 * seeds (1, 2, 3, ...) start from unrelated states.
 */

function splitmix32(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x9e3779b9) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
}

export class Prng {
  /** The seed this generator started from: print it with every failure. */
  readonly seed: number;
  private a: number;
  private b: number;
  private c: number;
  private d: number;
  /** How many 32-bit words have been drawn (useful when comparing replays). */
  draws = 0;

  constructor(seed: number) {
    if (!Number.isSafeInteger(seed)) throw new RangeError(`PRNG seed must be an integer, got ${seed}`);
    this.seed = seed >>> 0;
    const mix = splitmix32(this.seed);
    this.a = mix();
    this.b = mix();
    this.c = mix();
    this.d = 1;
    // Discard the first outputs: sfc32's early words still echo the seeding.
    for (let i = 0; i < 12; i++) this.u32();
    this.draws = 0;
  }

  /** A uniformly distributed 32-bit unsigned integer. */
  u32(): number {
    const t = (((this.a + this.b) >>> 0) + this.d) >>> 0;
    this.d = (this.d + 1) >>> 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) >>> 0;
    this.c = ((this.c << 21) | (this.c >>> 11)) >>> 0;
    this.c = (this.c + t) >>> 0;
    this.draws++;
    return t;
  }

  /** Uniform in [0, 1). */
  float(): number {
    return this.u32() / 0x1_0000_0000;
  }

  /** Uniform integer in [lo, hi] (both inclusive). */
  int(lo: number, hi: number): number {
    if (!Number.isSafeInteger(lo) || !Number.isSafeInteger(hi) || hi < lo) throw new RangeError(`bad range [${lo}, ${hi}]`);
    return lo + Math.floor(this.float() * (hi - lo + 1));
  }

  /** True with probability `p`. */
  chance(p: number): boolean {
    return this.float() < p;
  }

  /** One element of a non-empty array. */
  pick<T>(xs: readonly T[]): T {
    if (xs.length === 0) throw new RangeError('pick from an empty array');
    return xs[this.int(0, xs.length - 1)];
  }

  /** Shuffles `xs` in place (Fisher-Yates) and returns it. */
  shuffle<T>(xs: T[]): T[] {
    for (let i = xs.length - 1; i > 0; i--) {
      const j = this.int(0, i);
      const t = xs[i];
      xs[i] = xs[j];
      xs[j] = t;
    }
    return xs;
  }

  /** `n` pseudo-random bytes. */
  bytes(n: number): Uint8Array {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i += 4) {
      let w = this.u32();
      for (let k = 0; k < 4 && i + k < n; k++, w >>>= 8) out[i + k] = w & 0xff;
    }
    return out;
  }

  /**
   * An independent generator derived from this one's next word: lets one
   * component (e.g. a workload generator) draw freely without shifting the
   * choices of another.
   */
  fork(): Prng {
    return new Prng(this.u32());
  }
}
