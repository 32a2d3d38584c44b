/**
 * e2fsck as the judge of every image a test writes. `-f` forces a full check
 * even when the superblock says clean, `-n` opens the image read-only and
 * answers no to every question, so the check can never repair (and hide) what
 * the engine got wrong. It runs under a hard timeout: e2fsck can loop forever
 * on some corrupt images.
 */
import { expect } from 'vitest';
import { TOOL_ENV, runCommand } from './run.js';

export interface FsckResult {
  /** fsckClean: true only for exit code 0, no problem found at all (fsckIndexDirs: 0 or 1). Never after a timeout. */
  ok: boolean;
  code: number | null;
  timedOut: boolean;
  /** e2fsck's stdout and stderr together. */
  output: string;
}

export interface FsckOptions {
  /** Kill e2fsck after this long. Default 120 s. */
  timeoutMs?: number;
}

async function e2fsck(args: string[], img: string, okCodes: number[], opts: FsckOptions): Promise<FsckResult> {
  const timeoutMs = opts.timeoutMs ?? 120_000;
  const r = await runCommand('e2fsck', [...args, img], { timeoutMs, env: TOOL_ENV });
  const output = `${r.stdout}${r.stderr}${r.timedOut ? `\n[e2fsck killed after ${timeoutMs} ms]` : ''}`;
  return { ok: r.code !== null && okCodes.includes(r.code) && !r.timedOut, code: r.code, timedOut: r.timedOut, output };
}

/** Runs `e2fsck -fn img` and reports whether it found nothing to complain about. */
export function fsckClean(img: string, opts: FsckOptions = {}): Promise<FsckResult> {
  return e2fsck(['-fn'], img, [0], opts);
}

/** Fails the test, printing e2fsck's full output, unless `e2fsck -fn img` exits 0. */
export async function expectFsckClean(img: string, opts: FsckOptions = {}): Promise<void> {
  const r = await fsckClean(img, opts);
  expect(r.ok, `e2fsck -fn ${img} exited ${r.code}:\n${r.output}`).toBe(true);
}

/**
 * `e2fsck -fyD img`: rebuilds (and so indexes) every directory, which mke2fs
 * -d never does however big a directory is. `ok` for exit 0 or 1 ("errors
 * corrected": with -D, rebuilt directories count as such in some versions).
 * Unlike the checks above this writes the image.
 */
export function fsckIndexDirs(img: string, opts: FsckOptions = {}): Promise<FsckResult> {
  return e2fsck(['-fyD'], img, [0, 1], opts);
}
