// ext4kit itself, through its command line tool, as a user would run it. Each
// call is a fresh node process: start-up is part of what a user waits for,
// and it is part of every other contender's time too.
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { EXT4KIT_CLI, exists, type BenchContext } from '../lib/context.js';
import { makeImage, verifyImageFile, verifyImageTree } from '../lib/image.js';
import { runOk } from '../lib/proc.js';
import type { Contender } from '../lib/runner.js';
import { verifyTreeCopy } from '../lib/tree.js';
import { syncFile } from './common.js';

async function cliMissing(): Promise<string | null> {
  return (await exists(EXT4KIT_CLI)) ? null : 'dist/src/cli/main.js is not built yet';
}

function cli(ctx: BenchContext, args: string[]): Promise<unknown> {
  return runOk(process.execPath, [EXT4KIT_CLI, ...args], { timeoutMs: ctx.timeoutMs });
}

export function ext4kitCopyOut(ctx: BenchContext, img: string): Contender {
  const out = join(ctx.work, 'out-ext4kit');
  return {
    id: 'ext4kit',
    command: 'node dist/src/cli/main.js cp -a IMG:/ OUT',
    failureMeansUnavailable: true,
    check: cliMissing,
    // OUT must not exist: like cp -a DIR NEW, the image's root becomes OUT.
    prepare: () => rm(out, { recursive: true, force: true }),
    run: async () => {
      await cli(ctx, ['cp', '-a', `${img}:/`, out]);
    },
    verify: () => verifyTreeCopy(ctx.src, out),
    reset: () => rm(out, { recursive: true, force: true }),
  };
}

export function ext4kitBuildTree(ctx: BenchContext, size: string): Contender {
  const img = join(ctx.work, 'tree-ext4kit.img');
  const scratch = join(ctx.work, 'verify-ext4kit');
  return {
    id: 'ext4kit',
    command: `node dist/src/cli/main.js mkfs -d SRC IMG ${size}; sync IMG`,
    failureMeansUnavailable: true,
    check: cliMissing,
    prepare: () => rm(img, { force: true }),
    run: async () => {
      await cli(ctx, ['mkfs', '-d', ctx.src, img, size]);
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

export function ext4kitBigFile(ctx: BenchContext, file: string, size: string): Contender {
  const img = join(ctx.work, 'big-ext4kit.img');
  const scratch = join(ctx.work, 'verify-ext4kit');
  return {
    id: 'ext4kit',
    command: 'node dist/src/cli/main.js cp FILE IMG:/big; sync IMG',
    failureMeansUnavailable: true,
    check: cliMissing,
    // The empty image is made by mkfs.ext4, untimed, exactly as for the
    // kernel and the ext2fs package: all start from the same state.
    prepare: () => makeImage(img, size),
    run: async () => {
      await cli(ctx, ['cp', file, `${img}:/big`]);
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
