// e2fsprogs' debugfs: the reference for reading a tree out of an image
// without mounting it (rdump keeps modes, owners and times, like cp -a).
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { BenchContext } from '../lib/context.js';
import { dfsArg } from '../lib/image.js';
import { haveCommand, runOk } from '../lib/proc.js';
import type { Contender } from '../lib/runner.js';
import { verifyTreeCopy } from '../lib/tree.js';

export function debugfsCopyOut(ctx: BenchContext, img: string): Contender {
  const out = join(ctx.work, 'out-debugfs');
  return {
    id: 'debugfs',
    command: 'debugfs -R "rdump / OUT" IMG',
    check: async () => ((await haveCommand('debugfs')) ? null : 'debugfs not found'),
    // rdump writes into an existing folder; for "/" it puts the root's
    // entries straight into it (the root has no name of its own).
    prepare: async () => {
      await rm(out, { recursive: true, force: true });
      await mkdir(out);
    },
    run: async () => {
      // debugfs exits 0 even when a command inside -R fails, so this cannot
      // detect a failed dump; the verification after the warm-up run does.
      await runOk('debugfs', ['-R', `rdump / ${dfsArg(out)}`, img], { timeoutMs: ctx.timeoutMs });
    },
    verify: () => verifyTreeCopy(ctx.src, out),
    reset: () => rm(out, { recursive: true, force: true }),
  };
}
