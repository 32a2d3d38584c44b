// What every workload and contender needs to know about this run.
import { access } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { OutFsKind } from './outfs.js';
import type { Log } from './runner.js';

/** dist/bench, where this harness was compiled to. */
export const BENCH_DIST = resolve(dirname(fileURLToPath(import.meta.url)), '..');
/** The repository root (dist/bench/../..). */
export const REPO_ROOT = resolve(BENCH_DIST, '..', '..');
/** The ext4kit command line tool, built by `npm run build`. */
export const EXT4KIT_CLI = join(REPO_ROOT, 'dist', 'src', 'cli', 'main.js');
/** The ext2fs-package worker script, compiled alongside this harness. */
export const EXT2FS_WORKER = join(BENCH_DIST, 'workers', 'ext2fs-worker.js');

export interface BenchContext {
  /** Source tree for copy-out and build-tree. */
  src: string;
  /** Scratch directory of this run (removed at the end). */
  work: string;
  runs: number;
  /**
   * Timed-run cap for the slow ext2fs package, when given on the command
   * line; otherwise each workload picks its own (3, and 1 for big-file,
   * where one run of the package takes minutes).
   */
  ext2fsRuns: number | undefined;
  /** When set, only these contender ids take part. */
  only: Set<string> | undefined;
  /** Per-process timeout, ms. */
  timeoutMs: number;
  /**
   * --out-fs: a fresh filesystem of this kind for copy-out's outputs;
   * undefined = the outputs go into `work` itself.
   */
  outFs: OutFsKind | undefined;
  log: Log;
}

export function wanted(ctx: BenchContext, id: string): boolean {
  return ctx.only === undefined || ctx.only.has(id);
}

export async function exists(p: string): Promise<boolean> {
  try {
    await access(p);
    return true;
  } catch {
    return false;
  }
}
