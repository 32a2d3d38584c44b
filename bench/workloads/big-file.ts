// Workload 3 (issue 3): one large random file copied into a fresh image. The
// file is generated once (untimed) and stays in the page cache; images start
// empty, made by mkfs.ext4 untimed, so the timed part is the data path alone.
import { randomFillSync } from 'node:crypto';
import { open, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { ext2fsBigFile } from '../contenders/ext2fs.js';
import { ext4kitBigFile } from '../contenders/ext4kit.js';
import { ddFile } from '../contenders/floor.js';
import { kernelBigFile } from '../contenders/kernel.js';
import { mke2fsBigFile } from '../contenders/mke2fs.js';
import { wanted, type BenchContext } from '../lib/context.js';
import type { WorkloadResult } from '../lib/report.js';
import { computeRatios, runContenders } from '../lib/runner.js';
import { fmtBytes } from '../lib/stats.js';
import { warmFile } from '../lib/warm.js';
import { bigImageSize } from './sizes.js';

/** Random bytes (incompressible, no zero blocks a sparse-aware tool could skip). */
async function makeRandomFile(path: string, mib: number): Promise<void> {
  const h = await open(path, 'w');
  try {
    const buf = Buffer.allocUnsafe(8 * 1024 * 1024);
    let left = mib * 1024 * 1024;
    while (left > 0) {
      const n = Math.min(left, buf.length);
      randomFillSync(buf, 0, n);
      await h.write(buf, 0, n);
      left -= n;
    }
  } finally {
    await h.close();
  }
}

export async function bigFile(ctx: BenchContext, mib: number): Promise<WorkloadResult> {
  const file = join(ctx.work, 'big-source.bin');
  const size = bigImageSize(mib);
  ctx.log(`big-file: writing ${fmtBytes(mib * 1024 * 1024)} of random data (untimed)`);
  await makeRandomFile(file, mib);
  try {
    const contenders = [
      ext4kitBigFile(ctx, file, size),
      ddFile(ctx, file),
      kernelBigFile(ctx, file, size),
      ext2fsBigFile(ctx, file, size),
      mke2fsBigFile(ctx, file, size),
    ].filter((c) => wanted(ctx, c.id));
    const results = await runContenders(contenders, {
      runs: ctx.runs,
      log: ctx.log,
      warm: () => warmFile(file),
      settleDir: ctx.work,
    });
    return {
      id: 'big-file',
      title: `one ${fmtBytes(mib * 1024 * 1024)} random file copied into a fresh ${size} image`,
      input: `${fmtBytes(mib * 1024 * 1024)} of random bytes, generated once (untimed)`,
      notes: [
        'Images start empty (mkfs.ext4, untimed) except for mke2fs, whose time includes making the filesystem; every contender ends with `sync` of its output, so all are timed to data on disk.',
        'dd is the floor: the same bytes into a plain file.',
      ],
      contenders: results,
      ratios: computeRatios(
        [
          { num: 'ext4kit', den: 'dd', target: { op: '<=', value: 1.5 } },
          { num: 'ext4kit', den: 'kernel' },
          { num: 'ext2fs', den: 'ext4kit' },
        ],
        results,
      ),
    };
  } finally {
    await rm(file, { force: true });
  }
}
