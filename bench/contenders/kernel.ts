// The Linux kernel's ext4 through a loop mount. Mounting and unmounting are
// inside the timed region: the unmount is what forces the kernel to write
// back what cp left in its page cache, so without it the kernel would be
// timed for work it has not done yet.
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { exists, type BenchContext } from '../lib/context.js';
import { trackMount, unmount } from '../lib/cleanup.js';
import { makeImage, verifyImageFile, verifyImageTree } from '../lib/image.js';
import { runOk } from '../lib/proc.js';
import type { Contender } from '../lib/runner.js';
import { verifyTreeCopy } from '../lib/tree.js';
import { syncFile } from './common.js';

let probe: Promise<string | null> | undefined;

/** Why the kernel cannot take part here (not root, no loop devices...), or null. Probed once per run. */
export function kernelProblem(ctx: BenchContext): Promise<string | null> {
  probe ??= (async (): Promise<string | null> => {
    if (process.platform !== 'linux') return `not Linux (${process.platform})`;
    if (process.getuid === undefined || process.getuid() !== 0) return 'loop mounts need root; run the benchmark as root to include the kernel';
    if (!(await exists('/dev/loop-control'))) return 'no /dev/loop-control: loop devices are not available (a container?)';
    const img = join(ctx.work, 'probe.img');
    const mnt = join(ctx.work, 'probe-mnt');
    try {
      await makeImage(img, '16M');
      await mkdir(mnt, { recursive: true });
      await runOk('mount', ['-o', 'loop,ro', img, mnt], { timeoutMs: 60_000 });
      trackMount(mnt);
      await unmount(mnt);
      return null;
    } catch (e) {
      return `a test loop mount failed: ${(e as Error).message}`;
    } finally {
      await rm(img, { force: true });
      await rm(mnt, { recursive: true, force: true });
    }
  })();
  return probe;
}

async function withLoopMount(ctx: BenchContext, img: string, mnt: string, readOnly: boolean, fn: () => Promise<void>): Promise<void> {
  await runOk('mount', ['-o', readOnly ? 'loop,ro' : 'loop', img, mnt], { timeoutMs: ctx.timeoutMs });
  trackMount(mnt);
  try {
    await fn();
  } finally {
    await unmount(mnt);
  }
}

export function kernelCopyOut(ctx: BenchContext, img: string): Contender {
  const out = join(ctx.work, 'out-kernel');
  const mnt = join(ctx.work, 'mnt-kernel');
  return {
    id: 'kernel',
    command: 'mount -o loop,ro IMG MNT; cp -a MNT/. OUT; umount MNT',
    check: () => kernelProblem(ctx),
    prepare: async () => {
      await rm(out, { recursive: true, force: true });
      await mkdir(mnt, { recursive: true });
    },
    run: () =>
      withLoopMount(ctx, img, mnt, true, async () => {
        await runOk('cp', ['-a', `${mnt}/.`, out], { timeoutMs: ctx.timeoutMs });
      }),
    verify: () => verifyTreeCopy(ctx.src, out),
    reset: () => rm(out, { recursive: true, force: true }),
  };
}

export function kernelBuildTree(ctx: BenchContext, size: string): Contender {
  const img = join(ctx.work, 'tree-kernel.img');
  const mnt = join(ctx.work, 'mnt-kernel');
  const scratch = join(ctx.work, 'verify-kernel');
  return {
    id: 'kernel',
    command: `mkfs.ext4 -q -F IMG ${size}; mount -o loop IMG MNT; cp -a SRC/. MNT/; umount MNT; sync IMG`,
    check: () => kernelProblem(ctx),
    prepare: async () => {
      await rm(img, { force: true });
      await mkdir(mnt, { recursive: true });
    },
    run: async () => {
      await runOk('mkfs.ext4', ['-q', '-F', img, size], { timeoutMs: ctx.timeoutMs });
      await withLoopMount(ctx, img, mnt, false, async () => {
        await runOk('cp', ['-a', `${ctx.src}/.`, `${mnt}/`], { timeoutMs: ctx.timeoutMs });
      });
      await syncFile(img);
    },
    verify: async () => {
      await mkdir(scratch, { recursive: true });
      return verifyImageTree(img, ctx.src, scratch);
    },
    reset: async () => {
      await rm(img, { force: true });
      await rm(scratch, { recursive: true, force: true });
    },
  };
}

export function kernelBigFile(ctx: BenchContext, file: string, size: string): Contender {
  const img = join(ctx.work, 'big-kernel.img');
  const mnt = join(ctx.work, 'mnt-kernel');
  const scratch = join(ctx.work, 'verify-kernel');
  return {
    id: 'kernel',
    command: 'mount -o loop IMG MNT; cp FILE MNT/big; umount MNT; sync IMG',
    check: () => kernelProblem(ctx),
    prepare: async () => {
      await makeImage(img, size);
      await mkdir(mnt, { recursive: true });
    },
    run: async () => {
      await withLoopMount(ctx, img, mnt, false, async () => {
        await runOk('cp', [file, join(mnt, 'big')], { timeoutMs: ctx.timeoutMs });
      });
      await syncFile(img);
    },
    verify: async () => {
      await mkdir(scratch, { recursive: true });
      return verifyImageFile(img, '/big', file, scratch);
    },
    reset: async () => {
      await rm(img, { force: true });
      await rm(scratch, { recursive: true, force: true });
    },
  };
}
