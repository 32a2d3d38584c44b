/**
 * The model's rules checked against Linux itself: the same random sequences
 * run on a directory of the host (tmpfs or whatever the temp dir is) through
 * node:fs, and every outcome must match the model. This is what makes "the
 * model encodes Linux's rules" a tested statement rather than a belief; the
 * ext4kit sequences (model-random.test.ts) are then compared with it.
 *
 * Cases the host cannot mirror (a walk above its root, absolute symlinks)
 * end that sequence early; mknod and reopening are volume-only.
 */
import { afterAll, describe, it } from 'vitest';
import fc from 'fast-check';
import { useTmpDir } from '../helpers/tmp.js';
import { commandsFor } from './model/arbitraries.js';
import { outcomeReport } from './model/runner.js';
import { runOnHost } from './model/sequence.js';

const tmp = useTmpDir('model-host');
if (process.env.EXT4KIT_MODEL_STATS === '1') afterAll(() => console.log(`outcomes:\n${outcomeReport()}`));
const SOAK = process.env.EXT4KIT_SOAK === '1';
const RUNS = Number(process.env.EXT4KIT_MODEL_RUNS ?? (SOAK ? 2000 : 300));

describe('the model agrees with Linux on a host directory', () => {
  it(`${RUNS} random sequences`, async () => {
    process.umask(0o022);
    let n = 0;
    await fc.assert(
      fc.asyncProperty(commandsFor({ bigWrite: 1 << 20, maxCommands: 60, mknod: false, reopen: true }), async (cmds) => {
        await runOnHost(tmp.file(`root-${++n}`), cmds);
      }),
      { numRuns: RUNS, verbose: 0, ...(process.env.EXT4KIT_MODEL_SEED ? { seed: Number(process.env.EXT4KIT_MODEL_SEED), path: process.env.EXT4KIT_MODEL_PATH } : {}) },
    );
  }, 600_000);
});
