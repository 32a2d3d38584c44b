// e2fsprogs' mke2fs -d: the reference for building an image from a folder.
import { link, mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { BenchContext } from '../lib/context.js';
import { verifyImageFile, verifyImageTree } from '../lib/image.js';
import { haveCommand, runOk } from '../lib/proc.js';
import type { Contender } from '../lib/runner.js';
import { syncFile } from './common.js';

async function missing(): Promise<string | null> {
  return (await haveCommand('mkfs.ext4')) ? null : 'mkfs.ext4 not found';
}

export function mke2fsBuildTree(ctx: BenchContext, size: string): Contender {
  const img = join(ctx.work, 'tree-mke2fs.img');
  const scratch = join(ctx.work, 'verify-mke2fs');
  return {
    id: 'mke2fs',
    command: `mkfs.ext4 -q -F -d SRC IMG ${size}; sync IMG`,
    check: missing,
    prepare: () => rm(img, { force: true }),
    run: async () => {
      await runOk('mkfs.ext4', ['-q', '-F', '-d', ctx.src, img, size], { timeoutMs: ctx.timeoutMs });
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

/**
 * An extra reference for big-file: mke2fs -d on a folder holding just the
 * file. It includes making the filesystem (it cannot do otherwise), which the
 * image-based contenders get for free, so it is slightly disadvantaged.
 */
export function mke2fsBigFile(ctx: BenchContext, file: string, size: string): Contender {
  const dir = join(ctx.work, 'big-dir');
  const img = join(ctx.work, 'big-mke2fs.img');
  const scratch = join(ctx.work, 'verify-mke2fs');
  return {
    id: 'mke2fs',
    command: `mkfs.ext4 -q -F -d DIR_WITH_FILE IMG ${size}; sync IMG`,
    check: missing,
    prepare: async () => {
      await rm(img, { force: true });
      // A hard link puts the file in a folder of its own without copying it.
      await rm(dir, { recursive: true, force: true });
      await mkdir(dir);
      await link(file, join(dir, 'big'));
    },
    run: async () => {
      await runOk('mkfs.ext4', ['-q', '-F', '-d', dir, img, size], { timeoutMs: ctx.timeoutMs });
      await syncFile(img);
    },
    verify: async () => {
      await mkdir(scratch, { recursive: true });
      return verifyImageFile(img, '/big', file, scratch);
    },
    reset: async () => {
      await rm(img, { force: true });
      await rm(dir, { recursive: true, force: true });
      await rm(scratch, { recursive: true, force: true });
    },
  };
}
