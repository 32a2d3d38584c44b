// Workload 1 (issue 2): copy the whole tree of an image out to a fresh host
// folder. The image is packed once, untimed, by mkfs.ext4 -d from the source
// folder, so every contender reads the very same image.
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { debugfsCopyOut } from '../contenders/debugfs.js';
import { ext2fsCopyOut } from '../contenders/ext2fs.js';
import { ext4kitCopyOut } from '../contenders/ext4kit.js';
import { kernelCopyOut } from '../contenders/kernel.js';
import { wanted, type BenchContext } from '../lib/context.js';
import { makeImage } from '../lib/image.js';
import type { WorkloadResult } from '../lib/report.js';
import { computeRatios, runContenders } from '../lib/runner.js';
import { describeStats, treeStats } from '../lib/tree.js';
import { warmFile } from '../lib/warm.js';
import { imageSizeFor } from './sizes.js';

export async function copyOut(ctx: BenchContext): Promise<WorkloadResult> {
  ctx.log(`copy-out: scanning ${ctx.src}`);
  const stats = await treeStats(ctx.src);
  const size = imageSizeFor(stats);
  const img = join(ctx.work, 'copy-out-source.img');
  ctx.log(`copy-out: packing it into a ${size} image with mkfs.ext4 -d (untimed)`);
  await makeImage(img, size, ctx.src);
  try {
    const contenders = [ext4kitCopyOut(ctx, img), debugfsCopyOut(ctx, img), ext2fsCopyOut(ctx, img), kernelCopyOut(ctx, img)].filter((c) =>
      wanted(ctx, c.id),
    );
    const results = await runContenders(contenders, {
      runs: ctx.runs,
      log: ctx.log,
      warm: () => warmFile(img),
      settleDir: ctx.work,
    });
    return {
      id: 'copy-out',
      title: 'the whole tree of an image copied out to a fresh host folder',
      input: `${ctx.src}: ${describeStats(stats)}; packed once (untimed) into a ${size} image with \`mkfs.ext4 -q -F -d SRC IMG ${size}\``,
      notes: [
        'Each contender runs as its own process and is timed from start to exit; the output folder is not fsynced by any of them.',
      ],
      contenders: results,
      ratios: computeRatios(
        [
          { num: 'ext4kit', den: 'debugfs', target: { op: '<=', value: 1.5 } },
          { num: 'ext2fs', den: 'ext4kit', target: { op: '>=', value: 10 } },
          { num: 'ext4kit', den: 'kernel' },
        ],
        results,
      ),
    };
  } finally {
    await rm(img, { force: true });
  }
}
