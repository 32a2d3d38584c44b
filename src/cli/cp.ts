/**
 * `ext4kit cp [-r] [-a] IMG:PATH... DEST`: copies files out of images onto
 * the host, deciding where each copy goes by GNU cp's rules:
 *
 *  - DEST is an existing directory (or a symlink to one): each source is
 *    copied into it under its own name. The image root has no name, so its
 *    contents go straight into DEST.
 *  - otherwise there must be exactly one source, and DEST becomes its copy
 *    (`cp -r IMG:/ out` makes `out` a copy of the root).
 *  - a directory source needs -r or -a; without them it is skipped with
 *    `omitting directory` and the others are still copied.
 *  - without -r, a symlink source is followed (its target is copied); with
 *    -r or -a symlinks are copied as symlinks, as GNU cp's default -P in
 *    recursive mode does.
 */
import { readFileSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { BigIntStats, Volume } from '../vfs/types.js';
import { finishCopy } from './cp-finish.js';
import { TreeCopier } from './cp-tree.js';
import { copyInCommand, isImageOperand } from './copy-in.js';
import type { CliEnv } from './env.js';
import { Reporter } from './report.js';
import { baseName, parseTarget, UsageError, Volumes } from './target.js';

export interface CpOptions { recursive?: boolean; archive?: boolean; quiet?: boolean; offset: number }

/** The process umask, read without changing it (process.umask() with no argument sets it twice). */
export function currentUmask(): number {
  try {
    const m = /^Umask:\s*([0-7]+)$/m.exec(readFileSync('/proc/self/status', 'utf8'));
    if (m !== null) return parseInt(m[1], 8);
  } catch {
    // Not Linux, or no /proc: fall back below.
  }
  return process.umask();
}

/** `/a//b/` → `/a/b`: one spelling per file, so derived names and labels stay clean. */
function cleanPath(p: string): string {
  const s = p.replace(/\/+/g, '/');
  return s.length > 1 ? s.replace(/\/$/, '') : s;
}

async function hostStat(path: string): Promise<import('node:fs').Stats | undefined> {
  try {
    return await stat(path);
  } catch (e) {
    if ((e as { code?: string }).code === 'ENOENT') return undefined;
    throw e;
  }
}

async function sourceStat(vol: Volume, path: string, follow: boolean): Promise<BigIntStats> {
  return follow ? vol.promises.stat(path, { bigint: true }) : vol.promises.lstat(path, { bigint: true });
}

export async function cpCommand(env: CliEnv, operands: string[], opts: CpOptions): Promise<number> {
  const report = new Reporter(env.stderr, 'cp');
  if (operands.length < 2) {
    throw new UsageError(operands.length === 0 ? 'missing file operand' : `missing destination file operand after '${operands[0]}'`);
  }
  // A destination inside an image (IMG:PATH) means copying in: copy-in.ts.
  if (isImageOperand(operands[operands.length - 1])) return copyInCommand(env, operands, opts);
  const dest = operands[operands.length - 1];
  const sources = operands.slice(0, -1).map(parseTarget);
  const archive = opts.archive === true;
  const recursive = archive || opts.recursive === true;

  let destStat: import('node:fs').Stats | undefined;
  try {
    destStat = await hostStat(dest);
  } catch (e) {
    report.error(dest, e);
    return 1;
  }
  const destIsDir = destStat?.isDirectory() === true;
  if (sources.length > 1 && !destIsDir) {
    if (destStat === undefined) report.fail(dest, 'target directory does not exist', 'ENOENT');
    else report.fail(dest, 'target is not a directory', 'ENOTDIR');
    return 1;
  }

  const volumes = new Volumes(env, opts.offset);
  const copier = new TreeCopier({ recursive, archive }, report, currentUmask());
  // A recursive copy is most likely a tree: the writer thread boots while the images open.
  if (recursive) copier.expectTree();
  let finished = false;
  try {
    for (const source of sources) {
      const src = cleanPath(source.path);
      let vol: Volume;
      let st: BigIntStats;
      try {
        vol = await volumes.get(source.image);
        st = await sourceStat(vol, src, !recursive);
      } catch (e) {
        report.error(source.label, e);
        continue;
      }
      if (st.isDirectory() && !recursive) {
        report.fail(source.label, '-r not specified; omitting directory', 'EISDIR');
        continue;
      }
      if (!destIsDir && !st.isDirectory() && dest.endsWith('/')) {
        // `cp file newdir/` cannot create a regular file whose name says it is a directory.
        report.fail(dest, 'not a directory', 'ENOTDIR');
        continue;
      }
      const name = baseName(src);
      const target = !destIsDir ? dest : name === '' ? dest : join(dest, name);
      if (destIsDir && name !== '' && !st.isDirectory()) {
        const there = await hostStat(target).catch(() => undefined);
        if (there?.isDirectory() === true) {
          report.fail(target, 'cannot overwrite directory with non-directory', 'EISDIR');
          continue;
        }
      }
      await copier.copyTop({ vol, image: source.image, src, dest: target }, !recursive);
    }
    finished = true;
    await copier.finish();
    // python3 is looked for only if the copy needs it (finishCopy decides): finding it
    // can cost dozens of process starts behind a version-manager shim.
    await finishCopy(copier.deferred, report, { archive, root: process.getuid?.() === 0 });
  } finally {
    // On the way out of an error, the writer's thread must not keep the process alive.
    if (!finished) await copier.abort();
    await volumes.closeAll();
  }
  return report.failed ? 1 : 0;
}
