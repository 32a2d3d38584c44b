// Image chores done with e2fsprogs outside the timed region: making images,
// checking them, and reading them back for verification. e2fsprogs is the
// independent judge here: if ext4kit wrote an image, ext4kit must not be the
// one to say it reads back correctly.
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { lastLines, runOk, runProc } from './proc.js';
import { verifyTreeCopy, type Verification } from './tree.js';

/** A path as one debugfs -R argument (its command parser splits on blanks but honours double quotes). */
export function dfsArg(p: string): string {
  if (p.includes('"')) throw new Error(`debugfs cannot take a path with a double quote: ${p}`);
  return /\s/.test(p) ? `"${p}"` : p;
}

/** mkfs.ext4 a fresh image of `size` (e.g. "1G"), optionally populated from `srcDir`. */
export async function makeImage(img: string, size: string, srcDir?: string): Promise<void> {
  await rm(img, { force: true });
  const args = ['-q', '-F'];
  if (srcDir !== undefined) args.push('-d', srcDir);
  args.push(img, size);
  await runOk('mkfs.ext4', args, { timeoutMs: 600_000 });
}

/** e2fsck -fn: null when clean, else the reason. Under a timeout: e2fsck can loop on odd images. */
export async function fsckProblem(img: string): Promise<string | null> {
  const r = await runProc('e2fsck', ['-fn', img], { captureStdout: true, timeoutMs: 300_000 });
  if (r.timedOut) return 'e2fsck -fn timed out';
  if (r.code === 0) return null;
  return `e2fsck -fn exit ${r.code}: ${lastLines(r.stdout + r.stderr, 3)}`;
}

/** Check an image with e2fsck, then read its whole tree back with debugfs and compare it with `src`. */
export async function verifyImageTree(img: string, src: string, scratch: string): Promise<Verification> {
  const bad = await fsckProblem(img);
  if (bad !== null) return { ok: false, summary: bad, notes: [] };
  const back = join(scratch, 'readback');
  await rm(back, { recursive: true, force: true });
  await mkdir(back, { recursive: true });
  try {
    await runOk('debugfs', ['-R', `rdump / ${dfsArg(back)}`, img], { timeoutMs: 600_000 });
    const v = await verifyTreeCopy(src, back);
    return { ...v, summary: `e2fsck -fn clean; read back with debugfs rdump: ${v.summary}` };
  } finally {
    await rm(back, { recursive: true, force: true });
  }
}

/** cmp -s: true when two files have identical bytes. */
export async function sameBytes(a: string, b: string): Promise<boolean> {
  const r = await runProc('cmp', ['-s', a, b], { timeoutMs: 600_000 });
  return r.code === 0;
}

/** Check an image with e2fsck, then dump one file out with debugfs and compare it with `expected`. */
export async function verifyImageFile(img: string, pathInImage: string, expected: string, scratch: string): Promise<Verification> {
  const bad = await fsckProblem(img);
  if (bad !== null) return { ok: false, summary: bad, notes: [] };
  const out = join(scratch, 'readback.bin');
  await rm(out, { force: true });
  try {
    await runOk('debugfs', ['-R', `dump ${pathInImage} ${dfsArg(out)}`, img], { timeoutMs: 600_000 });
    const same = await sameBytes(expected, out);
    return same
      ? { ok: true, summary: `e2fsck -fn clean; ${pathInImage} read back with debugfs dump is identical (cmp)`, notes: [] }
      : { ok: false, summary: `${pathInImage} read back with debugfs dump differs from the source file`, notes: [] };
  } finally {
    await rm(out, { force: true });
  }
}
