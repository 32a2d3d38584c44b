/**
 * Speed of `ext4kit cp`, measured against debugfs in the same run on the
 * same machine (absolute numbers mean little on a shared 2-core CI box).
 *
 *  - a 5 GiB sparse file copies through its data ranges only: well under a
 *    second, and the copy is as sparse as the original;
 *  - copying out ~9,000 files / ~120 MB: the target is 1.5x `debugfs -R
 *    "rdump / out"`. The assertion is a looser regression guard (an
 *    accidental per-file stat storm or quadratic walk fails it); the ratio
 *    is printed on every run.
 */
import * as fs from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { createSparse, mkfs } from '../helpers/images.js';
import { keystream, Rng } from '../helpers/prng.js';
import { runChecked } from '../helpers/run.js';
import { useTmpDir } from '../helpers/tmp.js';
import { openVolume } from '../../src/index.js';
import { runCli } from '../../src/cli/program.js';
import { runBuiltCli } from './built-cli.js';
import { hostEnv } from './host-volume.js';

const tmp = useTmpDir('cli-perf');

/** ~9,000 files in ~300 directories, ~120 MB: mostly small files, some medium, a few of several MiB. */
function makeManyFiles(root: string): { files: number; bytes: number } {
  const data = keystream('perf', 5 << 20);
  const rng = new Rng(12345);
  const rnd = (): number => rng.float();
  const dirs = [root];
  fs.mkdirSync(root, { recursive: true });
  for (let d = 0; d < 300; d++) {
    const p = join(dirs[Math.floor(rnd() * dirs.length)], `d${d}`);
    fs.mkdirSync(p);
    dirs.push(p);
  }
  let total = 0;
  for (let i = 0; i < 9000; i++) {
    const r = rnd();
    const size = r < 0.7 ? Math.floor(rnd() * 4096) : r < 0.995 ? 4096 + Math.floor(rnd() * 28 * 1024) : (1 << 20) + Math.floor(rnd() * (3 << 20));
    const off = Math.floor(rnd() * (data.length - size));
    fs.writeFileSync(join(dirs[Math.floor(rnd() * dirs.length)], `f${i}`), data.subarray(off, off + size));
    total += size;
  }
  return { files: 9000, bytes: total };
}


describe('cp speed', () => {
  let manyImg: string;
  let sparseImg: string;
  beforeAll(async () => {
    const src = tmp.file('many');
    const made = makeManyFiles(src);
    expect(made.bytes).toBeGreaterThan(80e6);
    manyImg = tmp.file('many.img');
    createSparse(manyImg, 1 << 30);
    await mkfs(manyImg, { root: src, timeoutMs: 120_000 });
    fs.rmSync(src, { recursive: true, force: true });

    const sp = tmp.sub('sparse-src');
    const huge = join(sp, 'huge');
    createSparse(huge, 5 * 2 ** 30);
    const fd = fs.openSync(huge, 'r+');
    fs.writeSync(fd, keystream('a', 256 << 10), 0, 256 << 10, 0);
    fs.writeSync(fd, keystream('b', 100 << 10), 0, 100 << 10, 2 ** 31 + 12345);
    fs.writeSync(fd, keystream('c', 64 << 10), 0, 64 << 10, 5 * 2 ** 30 - (64 << 10));
    fs.closeSync(fd);
    sparseImg = tmp.file('sparse.img');
    createSparse(sparseImg, 256 << 20);
    await mkfs(sparseImg, { root: sp, timeoutMs: 120_000 });
  });

  it('a 5 GiB sparse file copies in well under a second and stays sparse', async () => {
    const out = tmp.file('huge-copy');
    // In-process on the real engine, so node's start-up (slow on a loaded machine) is not counted.
    const { env, err } = hostEnv(tmp.path);
    env.openVolume = openVolume;
    const t0 = performance.now();
    const status = await runCli(['cp', '-a', `${sparseImg}:/huge`, out], env);
    const ms = performance.now() - t0;
    expect(err.text).toBe('');
    expect(status).toBe(0);
    console.log(`cp -a of a 5 GiB sparse file: ${ms.toFixed(0)} ms`);
    expect(ms).toBeLessThan(1000);
    const st = fs.statSync(out);
    expect(st.size).toBe(5 * 2 ** 30);
    expect(st.blocks * 512).toBeLessThan(2 << 20);
    const fd = fs.openSync(out, 'r');
    const tail = Buffer.alloc(64 << 10);
    fs.readSync(fd, tail, 0, tail.length, 5 * 2 ** 30 - (64 << 10));
    fs.closeSync(fd);
    expect(tail.equals(keystream('c', 64 << 10))).toBe(true);
  });

  it('9,000 files / ~120 MB: compared with debugfs rdump in the same run', async () => {
    const timings: Array<{ debugfs: number; ours: number }> = [];
    for (let round = 0; round < 2; round++) {
      const dOut = tmp.sub(`rdump-${round}`);
      const t0 = performance.now();
      await runChecked('debugfs', ['-R', `rdump / ${dOut}`, manyImg], { timeoutMs: 120_000 });
      const debugfs = performance.now() - t0;
      const r = await runBuiltCli(['cp', '-a', `${manyImg}:/`, tmp.file(`ours-${round}`)], { timeoutMs: 120_000 });
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      timings.push({ debugfs, ours: r.ms });
      fs.rmSync(dOut, { recursive: true, force: true });
      fs.rmSync(tmp.file(`ours-${round}`), { recursive: true, force: true });
    }
    const best = { debugfs: Math.min(...timings.map((t) => t.debugfs)), ours: Math.min(...timings.map((t) => t.ours)) };
    console.log(`copy-out of 9,000 files: debugfs rdump ${best.debugfs.toFixed(0)} ms, ext4kit cp -a ${best.ours.toFixed(0)} ms `
      + `(${(best.ours / best.debugfs).toFixed(2)}x; target 1.5x)`);
    // Loose on purpose: with another test file running beside it on two cores, the ratio roughly doubles.
    expect(best.ours).toBeLessThan(Math.max(6000, 12 * best.debugfs));
  });
});
