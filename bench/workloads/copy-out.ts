// Workload 1 (issue 2): copy the whole tree of an image out to a fresh host
// folder. The image is packed once, untimed, by mkfs.ext4 -d from the source
// folder, so every contender reads the very same image.
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { debugfsCopyOut } from '../contenders/debugfs.js';
import { ext2fsCopyOut } from '../contenders/ext2fs.js';
import { ext4kitCopyOut } from '../contenders/ext4kit.js';
import { cpFloor } from '../contenders/floor.js';
import { kernelCopyOut } from '../contenders/kernel.js';
import { wanted, type BenchContext } from '../lib/context.js';
import { makeImage } from '../lib/image.js';
import { describePlainOutputs, makeOutFs, outFsSize, type OutFs } from '../lib/outfs.js';
import type { WorkloadResult } from '../lib/report.js';
import { computeRatios, runContenders, type ContenderResult } from '../lib/runner.js';
import { describeStats, treeStats } from '../lib/tree.js';
import { warmFile, warmTree } from '../lib/warm.js';
import { imageSizeFor } from './sizes.js';

/**
 * When the native contenders (everything but the slow ext2fs package) all
 * land within 1.5x of the cp floor, creating files on the output filesystem is
 * what is being measured, and every ratio is pulled towards 1: warn. (Being
 * close to the floor alone proves nothing: cp -a does more per file than
 * debugfs and can be slower than it on a fast filesystem.)
 */
function floorWarning(results: ContenderResult[], outputs: string, freshFs: boolean): string | undefined {
  const floor = results.find((r) => r.id === 'cp')?.median;
  const native = results.filter((r) => r.id !== 'ext2fs' && r.median !== undefined).map((r) => r.median!);
  if (floor === undefined || native.length < 3) return undefined;
  const spread = Math.max(...native) / Math.min(...native);
  if (spread >= 1.5) return undefined;
  return (
    `WARNING: all native contenders and the cp -a floor lie within ${spread.toFixed(2)}x of each other on the output filesystem ` +
    `(${outputs}): creating the files there, not the engines, dominates these figures and pulls every ratio towards 1. ` +
    (freshFs
      ? 'Re-run with --work /dev/shm (tmpfs) to take file creation out of the comparison.'
      : 'Re-run with --out-fs ext4 (an ordinary ext4 of its own, as on a local disk) or --work /dev/shm (tmpfs) to compare the engines.')
  );
}

export async function copyOut(ctx: BenchContext): Promise<WorkloadResult> {
  ctx.log(`copy-out: scanning ${ctx.src}`);
  const stats = await treeStats(ctx.src);
  const size = imageSizeFor(stats);
  const img = join(ctx.work, 'copy-out-source.img');
  // The output filesystem before the input image: a failure to make it ends
  // the run, so it should not wait for the packing.
  let outFs: OutFs | undefined;
  if (ctx.outFs !== undefined) {
    const outSize = outFsSize(stats);
    ctx.log(`copy-out: making a fresh ${ctx.outFs} filesystem (${outSize} sparse image, loop-mounted) for the outputs`);
    outFs = await makeOutFs(ctx.work, outSize);
  }
  try {
    const outputs = outFs?.description ?? (await describePlainOutputs(ctx.work));
    ctx.log(`copy-out: outputs on: ${outputs}`);
    ctx.log(`copy-out: packing it into a ${size} image with mkfs.ext4 -d (untimed)`);
    await makeImage(img, size, ctx.src);
    // The contenders put their output folders (and the kernel its mount
    // point) in `work`; with --out-fs that is the fresh filesystem, while the
    // input image stays where it was made.
    const outCtx: BenchContext = outFs === undefined ? ctx : { ...ctx, work: outFs.dir };
    const contenders = [
      ext4kitCopyOut(outCtx, img),
      debugfsCopyOut(outCtx, img),
      ext2fsCopyOut(outCtx, img),
      kernelCopyOut(outCtx, img),
      cpFloor(outCtx),
    ].filter((c) => wanted(ctx, c.id));
    const results = await runContenders(contenders, {
      runs: ctx.runs,
      log: ctx.log,
      // The source folder too, for the cp floor, which reads it instead of the image.
      warm: async () => {
        await warmFile(img);
        await warmTree(ctx.src);
      },
      settleDir: outCtx.work,
    });
    const notes = [
      'Each contender runs as its own process and is timed from start to exit; the output folder is not fsynced by any of them.',
      'cp is the floor: the source folder copied with cp -a to the same output filesystem, i.e. the cost of creating the files there.',
    ];
    const warning = floorWarning(results, outputs, outFs !== undefined);
    if (warning !== undefined) {
      notes.push(warning);
      ctx.log(warning);
    }
    return {
      id: 'copy-out',
      title: 'the whole tree of an image copied out to a fresh host folder',
      input: `${ctx.src}: ${describeStats(stats)}; packed once (untimed) into a ${size} image with \`mkfs.ext4 -q -F -d SRC IMG ${size}\``,
      outputs,
      notes,
      contenders: results,
      ratios: computeRatios(
        [
          { num: 'ext4kit', den: 'debugfs', target: { op: '<=', value: 1.5 } },
          { num: 'ext2fs', den: 'ext4kit', target: { op: '>=', value: 10 } },
          { num: 'ext4kit', den: 'kernel' },
          { num: 'ext4kit', den: 'cp' },
        ],
        results,
      ).map((r) => (warning === undefined || r.den === 'cp' ? r : { ...r, caveat: 'output filesystem dominates, see WARNING' })),
    };
  } finally {
    await rm(img, { force: true });
    await outFs?.close();
  }
}
