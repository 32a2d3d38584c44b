/**
 * The commands that change an image's namespace, with GNU coreutils'
 * rules: `mkdir [-p] [-m MODE]`, `rm [-r] [-f]`, `mv`, `ln [-s] [-f]`.
 */
import { FsError, isFsError } from '../base/errors.js';
import type { Volume } from '../vfs/types.js';
import type { CliEnv } from './env.js';
import { parseMode, applyMode } from './mode.js';
import { baseName, joinPath, parseTarget, UsageError, type Target } from './target.js';
import { cleanImagePath, forEachTarget, WriteSession, type WriteOptions } from './write-run.js';

async function statOrUndefined(vol: Volume, path: string, follow: boolean): Promise<import('../vfs/types.js').Stats | undefined> {
  try {
    return follow ? await vol.promises.stat(path) : await vol.promises.lstat(path);
  } catch (e) {
    if (isFsError(e) && e.code === 'ENOENT') return undefined;
    throw e;
  }
}

export interface MkdirOptions extends WriteOptions { parents?: boolean; mode?: string }

/** `mkdir [-p] [-m MODE] IMG:PATH...` */
export async function mkdirCommand(env: CliEnv, operands: string[], o: MkdirOptions): Promise<number> {
  if (operands.length === 0) throw new UsageError('missing operand');
  // -m is taken relative to a=rwx, and applied exactly (the umask does not touch it), as GNU mkdir does.
  const explicit = o.mode === undefined ? undefined : parseMode(o.mode);
  return forEachTarget(env, 'mkdir', operands, o, async (vol, t, s) => {
    const path = cleanImagePath(t.path);
    if (o.parents === true) {
      const there = await statOrUndefined(vol, path, true);
      if (there?.isDirectory() === true) return;
      // Parents get u+wx on top of the umask's mode, so the rest can be made below them.
      await vol.promises.mkdir(path, { recursive: true, mode: 0o777 });
    } else {
      await vol.promises.mkdir(path, 0o777);
    }
    if (explicit !== undefined) {
      await vol.promises.chmod(path, applyMode(explicit, 0o777, true, s.umask));
    }
  });
}

export interface RmOptions extends WriteOptions { recursive?: boolean; force?: boolean; dir?: boolean }

/** `rm [-r] [-f] [-d] IMG:PATH...` */
export async function rmCommand(env: CliEnv, operands: string[], o: RmOptions): Promise<number> {
  if (operands.length === 0) {
    if (o.force === true) return 0;
    throw new UsageError('missing operand');
  }
  return forEachTarget(env, 'rm', operands, o, async (vol, t, s) => {
    const path = cleanImagePath(t.path);
    const name = baseName(path);
    if (path === '/') {
      s.report.fail(t.label, o.recursive === true ? "it is dangerous to operate recursively on '/'" : 'cannot remove the root directory', 'EBUSY');
      return;
    }
    if (name === '.' || name === '..') {
      s.report.fail(t.label, "refusing to remove '.' or '..' directory", 'EINVAL');
      return;
    }
    const st = await statOrUndefined(vol, path, false);
    if (st === undefined) {
      if (o.force !== true) s.report.fail(t.label, 'no such file or directory', 'ENOENT');
      return;
    }
    if (st.isDirectory()) {
      if (o.recursive === true) await vol.promises.rm(path, { recursive: true, force: o.force === true });
      else if (o.dir === true) await vol.promises.rmdir(path);
      else s.report.fail(t.label, 'is a directory', 'EISDIR');
      return;
    }
    await vol.promises.unlink(path);
  });
}

/** Splits `SRC... DEST` operands that must all be in one image. */
function sameImage(operands: readonly string[], what: string): { sources: Target[]; dest: Target } {
  if (operands.length < 2) {
    throw new UsageError(operands.length === 0 ? 'missing file operand' : `missing destination file operand after '${operands[0]}'`);
  }
  const all = operands.map(parseTarget);
  const dest = all[all.length - 1];
  const other = all.find((x) => x.image !== dest.image);
  if (other !== undefined) throw new UsageError(`${other.label} and ${dest.label} are in different images: ${what} works within one image`);
  return { sources: all.slice(0, -1), dest };
}

/** Where source `src` goes: into DEST when DEST is a directory, else DEST itself. */
function destFor(src: string, dest: string, destIsDir: boolean): string {
  return destIsDir ? joinPath(dest, baseName(src)) : dest;
}

/**
 * Opens DEST's image and says whether DEST is a directory (following a
 * symlink); undefined, after reporting, when several sources need a
 * directory and DEST is not one.
 */
async function openDest(s: WriteSession, dest: Target, sources: number): Promise<{ vol: Volume; path: string; isDir: boolean } | undefined> {
  const vol = await s.volume(dest.image);
  const path = cleanImagePath(dest.path);
  const isDir = (await statOrUndefined(vol, path, true))?.isDirectory() === true;
  if (sources > 1 && !isDir) {
    s.report.fail(dest.label, 'target is not a directory', 'ENOTDIR');
    return undefined;
  }
  return { vol, path, isDir };
}

/** `mv SRC... DEST` within one image. */
export async function mvCommand(env: CliEnv, operands: string[], o: WriteOptions): Promise<number> {
  const { sources, dest } = sameImage(operands, 'mv');
  const s = new WriteSession(env, 'mv', o.offset);
  try {
    const d = await openDest(s, dest, sources.length);
    if (d === undefined) return await s.finish();
    for (const src of sources) {
      const from = cleanImagePath(src.path);
      try {
        if (from === '/') throw new FsError('EBUSY');
        await d.vol.promises.rename(from, destFor(from, d.path, d.isDir));
      } catch (e) {
        s.report.error(src.label, e);
      }
    }
  } catch (e) {
    s.report.error(dest.label, e);
  }
  return s.finish();
}

export interface LnOptions extends WriteOptions { symbolic?: boolean; force?: boolean }

/**
 * `ln [-s] [-f] TARGET... LINK`: hard links between names of one image, or
 * with -s symlinks whose TARGET is the text the link holds (a path as seen
 * inside the image), not an `IMG:PATH`.
 */
export async function lnCommand(env: CliEnv, operands: string[], o: LnOptions): Promise<number> {
  if (operands.length < 2) throw new UsageError(operands.length === 0 ? 'missing file operand' : `missing destination file operand after '${operands[0]}'`);
  const link = parseTarget(operands[operands.length - 1]);
  const targets = operands.slice(0, -1);
  const hard = o.symbolic === true ? undefined : sameImage(operands, 'ln').sources;
  const s = new WriteSession(env, 'ln', o.offset);
  try {
    const d = await openDest(s, link, targets.length);
    if (d === undefined) return await s.finish();
    const { vol } = d;
    for (const [i, target] of targets.entries()) {
      const label = hard?.[i].label ?? target;
      try {
        const from = hard === undefined ? target : cleanImagePath(hard[i].path);
        const at = destFor(from, d.path, d.isDir);
        if (o.force === true) {
          const there = await statOrUndefined(vol, at, false);
          if (there?.isDirectory() === true) throw new FsError('EISDIR', `cannot overwrite directory ${link.image}:${at}`);
          if (there !== undefined) await vol.promises.unlink(at);
        }
        if (hard === undefined) await vol.promises.symlink(target, at);
        else await vol.promises.link(from, at);
      } catch (e) {
        s.report.error(label, e);
      }
    }
  } catch (e) {
    s.report.error(link.label, e);
  }
  return s.finish();
}
