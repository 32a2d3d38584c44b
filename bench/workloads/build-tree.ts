// Workload 2 (issue 3): build a new image from a host folder. Every contender
// starts from nothing (no image file) and is timed until the image is on disk
// (each ends with `sync IMG`), then the image is checked with e2fsck and read
// back with debugfs for comparison with the source.
import { describeStats, treeStats } from '../lib/tree.js';
import { ext2fsBuildTree } from '../contenders/ext2fs.js';
import { ext4kitBuildTree } from '../contenders/ext4kit.js';
import { tarTree } from '../contenders/floor.js';
import { kernelBuildTree } from '../contenders/kernel.js';
import { mke2fsBuildTree } from '../contenders/mke2fs.js';
import { wanted, type BenchContext } from '../lib/context.js';
import type { WorkloadResult } from '../lib/report.js';
import { computeRatios, runContenders } from '../lib/runner.js';
import { warmTree } from '../lib/warm.js';
import { imageSizeFor } from './sizes.js';

export async function buildTree(ctx: BenchContext): Promise<WorkloadResult> {
  ctx.log(`build-tree: scanning ${ctx.src}`);
  const stats = await treeStats(ctx.src);
  const size = imageSizeFor(stats);
  const contenders = [
    ext4kitBuildTree(ctx, size),
    mke2fsBuildTree(ctx, size),
    ext2fsBuildTree(ctx, size),
    kernelBuildTree(ctx, size),
    tarTree(ctx),
  ].filter((c) => wanted(ctx, c.id));
  const results = await runContenders(contenders, {
      runs: ctx.runs,
      log: ctx.log,
      warm: () => warmTree(ctx.src),
      settleDir: ctx.work,
    });
  return {
    id: 'build-tree',
    title: `a new ${size} image built from a host folder`,
    input: `${ctx.src}: ${describeStats(stats)}`,
    notes: [
      'Timed from nothing to an image on disk: making the filesystem is included, and every contender ends with `sync IMG`.',
      'tar is the floor: the same bytes in one archive file, with no filesystem to build.',
    ],
    contenders: results,
    ratios: computeRatios(
      [
        { num: 'ext4kit', den: 'mke2fs', target: { op: '<=', value: 1.5 } },
        { num: 'ext2fs', den: 'ext4kit', target: { op: '>=', value: 15 } },
        { num: 'ext4kit', den: 'kernel' },
        { num: 'ext4kit', den: 'tar' },
      ],
      results,
    ),
  };
}
