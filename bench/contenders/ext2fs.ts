// The ext2fs npm package (libext2fs in WebAssembly), the JavaScript
// alternative ext4kit is measured against. It runs in its own node process
// (bench/workers/ext2fs-worker.ts). It is slow, so it gets fewer timed runs
// (--ext2fs-runs) to keep a full benchmark within a few minutes.
import { createRequire } from 'node:module';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { EXT2FS_WORKER, exists, type BenchContext } from '../lib/context.js';
import { makeImage, verifyImageFile, verifyImageTree } from '../lib/image.js';
import { runOk } from '../lib/proc.js';
import type { Contender } from '../lib/runner.js';
import { verifyTreeCopy } from '../lib/tree.js';
import { syncFile } from './common.js';

async function missing(): Promise<string | null> {
  const req = createRequire(import.meta.url);
  for (const pkg of ['ext2fs', 'file-disk']) {
    try {
      req.resolve(pkg);
    } catch {
      return `the ${pkg} package is not installed (npm install)`;
    }
  }
  return (await exists(EXT2FS_WORKER)) ? null : `${EXT2FS_WORKER} is not built`;
}

function worker(ctx: BenchContext, args: string[]): Promise<unknown> {
  return runOk(process.execPath, [EXT2FS_WORKER, ...args], { timeoutMs: ctx.timeoutMs });
}

export function ext2fsCopyOut(ctx: BenchContext, img: string): Contender {
  const out = join(ctx.work, 'out-ext2fs');
  return {
    id: 'ext2fs',
    command: 'node dist/bench/workers/ext2fs-worker.js export IMG OUT',
    maxRuns: ctx.ext2fsRuns ?? 3,
    check: missing,
    prepare: () => rm(out, { recursive: true, force: true }),
    run: async () => {
      await worker(ctx, ['export', img, out]);
    },
    verify: () => verifyTreeCopy(ctx.src, out),
    reset: () => rm(out, { recursive: true, force: true }),
  };
}

export function ext2fsBuildTree(ctx: BenchContext, size: string): Contender {
  const img = join(ctx.work, 'tree-ext2fs.img');
  const scratch = join(ctx.work, 'verify-ext2fs');
  return {
    id: 'ext2fs',
    command: `mkfs.ext4 -q -F IMG ${size}; node dist/bench/workers/ext2fs-worker.js tree SRC IMG; sync IMG`,
    maxRuns: ctx.ext2fsRuns ?? 3,
    check: missing,
    prepare: () => rm(img, { force: true }),
    // The package cannot make a filesystem, so mkfs.ext4 does; it is timed,
    // as it is for the kernel, because building an image includes it.
    run: async () => {
      await runOk('mkfs.ext4', ['-q', '-F', img, size], { timeoutMs: ctx.timeoutMs });
      await worker(ctx, ['tree', ctx.src, img]);
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

export function ext2fsBigFile(ctx: BenchContext, file: string, size: string): Contender {
  const img = join(ctx.work, 'big-ext2fs.img');
  const scratch = join(ctx.work, 'verify-ext2fs');
  return {
    id: 'ext2fs',
    command: 'node dist/bench/workers/ext2fs-worker.js big FILE IMG; sync IMG',
    maxRuns: ctx.ext2fsRuns ?? 1,
    check: missing,
    prepare: () => makeImage(img, size),
    run: async () => {
      await worker(ctx, ['big', file, img]);
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
