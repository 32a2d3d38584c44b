/**
 * `ext4kit cp [-r] [-a] HOSTPATH... IMG:DEST`: copies host files and trees
 * into an image, deciding where each copy goes by GNU cp's rules:
 *
 *  - DEST is an existing directory (or a symlink to one): each source is
 *    copied into it under its own name; a source spelled `DIR/.` copies
 *    DIR's contents into DEST itself (DEST then takes DIR's attributes with
 *    -a, as `cp -a DIR/. DEST` does);
 *  - otherwise there must be exactly one source, and DEST becomes its copy;
 *  - a directory source needs -r or -a; without them it is skipped with
 *    `omitting directory` and the others are still copied;
 *  - without -r a symlink source is followed; with -r or -a symlinks are
 *    copied as symlinks;
 *  - an existing file is overwritten in place, an existing directory is
 *    merged into, and a file never replaces a directory or the other way.
 *
 * `-` as the only source copies standard input into DEST (a file).
 * The copying itself is populate.ts's.
 */
import { existsSync, statSync } from 'node:fs';
import { Writable } from 'node:stream';
import { FsError } from '../base/errors.js';
import type { Ext4Inode } from '../inode/ext4-inode.js';
import { TreeWriter } from '../vfs/tree-writer.js';
import type { CliEnv } from './env.js';
import { S_IFREG } from './format.js';
import { copyIntoImage, type CopySource } from './populate.js';
import { NO_PROGRESS, progressFor, type ProgressSink } from './progress.js';
import { baseName, parseTarget, UsageError } from './target.js';
import { cleanImagePath, WriteSession } from './write-run.js';

export interface CopyInOptions { recursive?: boolean; archive?: boolean; quiet?: boolean; offset: number }

/** Whether a cp operand names a place in an image (`IMG:PATH` or `IMG:` with IMG an existing file), not a host path. */
export function isImageOperand(arg: string): boolean {
  for (let i = arg.indexOf(':'); i > 0; i = arg.indexOf(':', i + 1)) {
    const rest = arg.slice(i + 1);
    if (rest !== '' && !rest.startsWith('/')) continue;
    try {
      const st = statSync(arg.slice(0, i));
      if (st.isFile() || st.isBlockDevice()) return true;
    } catch {
      // Not an image file: keep looking (image names may hold colons).
    }
  }
  return false;
}

/** Where a host source's name ends: `a/b/` -> `b`; `DIR/.` and `.` -> undefined (its contents). */
function sourceName(path: string): Buffer | undefined {
  const trimmed = path.replace(/\/+$/, '');
  const name = trimmed.slice(trimmed.lastIndexOf('/') + 1);
  if (name === '.' || (trimmed === '' && path.startsWith('/'))) return undefined;
  return Buffer.from(name === '' ? path : name);
}

/** A stream that erases the progress bar before passing text on, so messages never land on the bar's line. */
class AboveProgress extends Writable {
  bar: ProgressSink = NO_PROGRESS;
  constructor(private readonly out: Writable) { super(); }
  override _write(chunk: Buffer | string, _enc: BufferEncoding, done: (e?: Error | null) => void): void {
    this.bar.clear();
    this.out.write(chunk, done);
  }
}

export async function copyInCommand(env: CliEnv, operands: string[], o: CopyInOptions): Promise<number> {
  const dest = parseTarget(operands[operands.length - 1]);
  const sources = operands.slice(0, -1);
  const intoImage = sources.find(isImageOperand);
  if (intoImage !== undefined) throw new UsageError(`${intoImage}: copying from one image into another is not supported; copy out to the host first`);
  if (sources.includes('-') && sources.length > 1) throw new UsageError("'-' (standard input) must be the only source");
  const stderr = new AboveProgress(env.stderr);
  const s = new WriteSession({ ...env, stderr }, 'cp', o.offset);
  try {
    const vol = await s.volume(dest.image);
    const w = TreeWriter.of(vol);
    const destPath = cleanImagePath(dest.path);
    const destInode = await w.lookup(destPath, true);
    const destIsDir = destInode?.isDir === true;
    if (sources.length > 1 && !destIsDir) {
      if (destInode === undefined) s.report.fail(dest.label, 'target directory does not exist', 'ENOENT');
      else s.report.fail(dest.label, 'target is not a directory', 'ENOTDIR');
      return await s.finish();
    }
    if (sources[0] === '-') {
      await copyStdin(env, w, s, destInode, destPath, dest.label);
      return await s.finish();
    }
    const archive = o.archive === true;
    const recursive = archive || o.recursive === true;
    const copies: CopySource[] = [];
    for (const src of sources) {
      const name = sourceName(src);
      if (destIsDir) {
        copies.push({ path: Buffer.from(src), dir: destInode, dirPath: destPath, name });
        continue;
      }
      // DEST is the new name: its parent must exist.
      const parentPath = cleanImagePath(destPath.slice(0, destPath.length - baseName(destPath).length) || '/');
      const parent = await w.lookup(parentPath, true);
      if (parent === undefined || !parent.isDir) {
        s.report.fail(dest.label, parent === undefined ? 'no such file or directory' : 'not a directory', parent === undefined ? 'ENOENT' : 'ENOTDIR');
        continue;
      }
      if (dest.path.endsWith('/') && existsSync(src) && !statSync(src).isDirectory()) {
        s.report.fail(dest.label, 'not a directory', 'ENOTDIR');
        continue;
      }
      copies.push({ path: Buffer.from(src), dir: parent, dirPath: parentPath, name: Buffer.from(baseName(destPath)) });
    }
    await copyIntoImage(vol, copies, {
      archive, recursive, followTop: !recursive, umask: s.umask, owner: { uid: s.uid, gid: s.gid },
      report: s.report, image: dest.image,
      progress: (bytes, files) => (stderr.bar = progressFor(env.stdout, bytes, files, o.quiet === true)),
    });
  } catch (e) {
    s.report.error(dest.label, e);
  }
  return s.finish();
}

/** `cp - IMG:PATH`: standard input into a new or truncated file. */
async function copyStdin(env: CliEnv, w: TreeWriter, s: WriteSession, existing: Ext4Inode | undefined, destPath: string, label: string): Promise<void> {
  if (env.stdin === undefined) throw new FsError('EINVAL', 'no standard input');
  if (existing?.isDir === true) {
    s.report.fail(label, 'cannot copy standard input to a directory: name the file', 'EISDIR');
    return;
  }
  let inode = existing;
  if (inode === undefined) {
    const name = baseName(destPath);
    const parent = await w.lookup(cleanImagePath(destPath.slice(0, destPath.length - name.length) || '/'), true);
    if (parent === undefined) throw new FsError('ENOENT');
    inode = await w.create(parent, Buffer.from(name), { mode: S_IFREG | (0o666 & ~s.umask), uid: s.uid, gid: s.gid });
  } else {
    await w.truncate(inode, 0);
  }
  let pos = 0;
  for await (const chunk of env.stdin) {
    const b = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer);
    await w.write(inode, pos, b);
    pos += b.length;
  }
}
