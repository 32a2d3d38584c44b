/**
 * Model-based random testing of the write path: thousands of random
 * operation sequences (fast-check commands) applied to an ext4kit volume on
 * a fresh mkfs.ext4 image and to the in-memory model (test/vfs/model/),
 * whose rules are Linux's (model-host.test.ts checks them against the
 * kernel). Every read, listing and stat is compared as the sequence runs,
 * the whole tree every few commands and after every reopen; at the end the
 * volume is closed, `e2fsck -fn` must find nothing, and a read-only open
 * must show exactly the model.
 *
 * Two tiny kinds (4 and 8 MiB, 64 inodes) run out of blocks and inodes:
 * there a call that allocates may fail with ENOSPC, but must then leave
 * nothing behind, and a write may be short, as write(2) is.
 *
 * Runs per kind: EXT4KIT_MODEL_RUNS (default 50 in `npm test`; `npm run
 * soak` runs 400). Replay a failure with what fast-check prints:
 * EXT4KIT_MODEL_SEED=<seed> EXT4KIT_MODEL_PATH=<path> EXT4KIT_MODEL_REPLAY=
 * <replayPath of the counterexample> EXT4KIT_MODEL_KIND=<kind>, and
 * EXT4KIT_MODEL_RUNS at least the run the path starts with; EXT4KIT_KEEP=1
 * keeps the failing image.
 */
import { afterAll, describe, it } from 'vitest';
import fc from 'fast-check';
import { useTmpDir } from '../helpers/tmp.js';
import { commandsFor } from './model/arbitraries.js';
import { outcomeReport } from './model/runner.js';
import { runOnVolume, type VolumeKind } from './model/sequence.js';

const tmp = useTmpDir('model-random');
if (process.env.EXT4KIT_MODEL_STATS === '1') afterAll(() => console.log(`outcomes:\n${outcomeReport()}`));
const SOAK = process.env.EXT4KIT_SOAK === '1';
const RUNS = Number(process.env.EXT4KIT_MODEL_RUNS ?? (SOAK ? 400 : 50));

const KINDS: VolumeKind[] = [
  { name: '4k', mkfsArgs: ['-b', '4096'], size: '128M', tiny: false },
  { name: '1k', mkfsArgs: ['-b', '1024'], size: '64M', tiny: false },
  { name: 'no-metadata_csum', mkfsArgs: ['-b', '4096', '-O', '^metadata_csum'], size: '64M', tiny: false },
  { name: 'no-has_journal', mkfsArgs: ['-b', '4096', '-O', '^has_journal'], size: '64M', tiny: false },
  { name: 'no-64bit', mkfsArgs: ['-b', '1024', '-O', '^64bit'], size: '64M', tiny: false },
  { name: 'orphan_file', mkfsArgs: ['-b', '4096', '-O', 'metadata_csum_seed,orphan_file'], size: '64M', tiny: false },
  { name: 'inline_data', mkfsArgs: ['-b', '4096', '-O', 'inline_data'], size: '64M', tiny: false },
  { name: 'inline_data-1k', mkfsArgs: ['-b', '1024', '-I', '512', '-O', 'inline_data,^metadata_csum'], size: '64M', tiny: false },
  { name: 'tiny-1k', mkfsArgs: ['-b', '1024', '-N', '64'], size: '4M', tiny: true },
  { name: 'tiny-4k', mkfsArgs: ['-b', '4096', '-N', '64', '-O', '^has_journal'], size: '8M', tiny: true },
];

const only = process.env.EXT4KIT_MODEL_KIND;

describe('random operation sequences against the model', () => {
  for (const kind of KINDS.filter((k) => only === undefined || k.name === only)) {
    it(`${kind.name}: ${RUNS} sequences`, async () => {
      const dir = tmp.sub(kind.name);
      const bigWrite = kind.tiny ? 3 << 20 : 4 << 20;
      await fc.assert(
        fc.asyncProperty(commandsFor({ bigWrite, maxCommands: kind.tiny ? 80 : 50, mknod: true, reopen: true, pressure: kind.tiny, xattrs: true }), async (cmds) => {
          await runOnVolume(dir, kind, cmds);
        }),
        { numRuns: RUNS, verbose: 0, ...(process.env.EXT4KIT_MODEL_SEED ? { seed: Number(process.env.EXT4KIT_MODEL_SEED), path: process.env.EXT4KIT_MODEL_PATH } : {}) },
      );
    }, 1_800_000);
  }
});
