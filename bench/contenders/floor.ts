// The floors: the same bytes with no filesystem to build or read. For a tree
// going into an image, tar streams every file into one archive; for one big
// file, dd copies it; both are synced, so they pay for the disk like the image
// writers do. For a tree coming out of an image, cp -a copies the source
// folder itself: what creating those files costs on the output filesystem.
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { BenchContext } from '../lib/context.js';
import { sameBytes } from '../lib/image.js';
import { haveCommand, runOk } from '../lib/proc.js';
import type { Contender } from '../lib/runner.js';
import { verifyTreeCopy } from '../lib/tree.js';
import { syncFile } from './common.js';

export function tarTree(ctx: BenchContext): Contender {
  const out = join(ctx.work, 'tree.tar');
  const back = join(ctx.work, 'verify-tar');
  return {
    id: 'tar',
    command: 'tar -C SRC -cf OUT .; sync OUT',
    check: async () => ((await haveCommand('tar')) ? null : 'tar not found'),
    prepare: () => rm(out, { force: true }),
    run: async () => {
      await runOk('tar', ['-C', ctx.src, '-cf', out, '.'], { timeoutMs: ctx.timeoutMs });
      await syncFile(out);
    },
    verify: async () => {
      await rm(back, { recursive: true, force: true });
      await mkdir(back);
      try {
        await runOk('tar', ['-C', back, '-xf', out], { timeoutMs: ctx.timeoutMs });
        const v = await verifyTreeCopy(ctx.src, back);
        return { ...v, summary: `extracted again: ${v.summary}` };
      } finally {
        await rm(back, { recursive: true, force: true });
      }
    },
    reset: () => rm(out, { force: true }),
  };
}

export function ddFile(ctx: BenchContext, file: string): Contender {
  const out = join(ctx.work, 'big-dd.bin');
  return {
    id: 'dd',
    command: 'dd if=FILE of=OUT bs=1M conv=fsync',
    check: async () => ((await haveCommand('dd')) ? null : 'dd not found'),
    prepare: () => rm(out, { force: true }),
    run: async () => {
      await runOk('dd', [`if=${file}`, `of=${out}`, 'bs=1M', 'conv=fsync', 'status=none'], { timeoutMs: ctx.timeoutMs });
      // Already fsynced by conv=fsync; kept so every contender ends alike.
      await syncFile(out);
    },
    verify: async () => {
      const same = await sameBytes(file, out);
      return same
        ? { ok: true, summary: 'output identical to the source file (cmp)', notes: [] }
        : { ok: false, summary: 'output differs from the source file', notes: [] };
    },
    reset: () => rm(out, { force: true }),
  };
}

/**
 * copy-out's floor: the source folder copied folder to folder with cp -a onto
 * the same output filesystem. Every copy-out contender pays at least this for
 * creating the files; when it is most of their time, the output filesystem,
 * not the engines, is being measured.
 */
export function cpFloor(ctx: BenchContext): Contender {
  const out = join(ctx.work, 'out-cp');
  return {
    id: 'cp',
    command: 'cp -a SRC OUT',
    check: async () => ((await haveCommand('cp')) ? null : 'cp not found'),
    prepare: () => rm(out, { recursive: true, force: true }),
    run: async () => {
      await runOk('cp', ['-a', ctx.src, out], { timeoutMs: ctx.timeoutMs });
    },
    verify: () => verifyTreeCopy(ctx.src, out),
    reset: () => rm(out, { recursive: true, force: true }),
  };
}
