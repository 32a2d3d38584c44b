/**
 * The commands that change attributes and sizes, with GNU coreutils'
 * rules: `chmod [-R] MODE`, `chown [-R] [-h] OWNER[:GROUP]`,
 * `touch [-a] [-m] [-c] [-h] [-d DATE | -t STAMP]`, `truncate [-c] -s SIZE`.
 */
import { readFileSync } from 'node:fs';
import { FsError, isFsError } from '../base/errors.js';
import { TreeWriter } from '../vfs/tree-writer.js';
import type { BigIntStats, Volume } from '../vfs/types.js';
import type { CliEnv } from './env.js';
import { applyMode, parseMode } from './mode.js';
import { parseTime } from './time-arg.js';
import { joinPath, UsageError } from './target.js';
import { cleanImagePath, forEachTarget, type WriteOptions } from './write-run.js';

/** Visits `path` and, with `recursive`, everything below it (symlinks met on the way are not followed). */
async function visit(vol: Volume, path: string, recursive: boolean, fn: (path: string, top: boolean) => Promise<void>): Promise<void> {
  await fn(path, true);
  if (!recursive) return;
  const st = await vol.promises.lstat(path);
  if (!st.isDirectory()) return;
  const queue = [path];
  while (queue.length > 0) {
    const dir = queue.shift()!;
    for (const d of await vol.promises.readdir(dir, { withFileTypes: true })) {
      const child = joinPath(dir, d.name);
      await fn(child, false);
      if (d.isDirectory()) queue.push(child);
    }
  }
}

export interface ChmodOptions extends WriteOptions { recursive?: boolean }

/** `chmod [-R] MODE IMG:PATH...` (symlinks named on the command line are followed; those met by -R are left alone, as GNU does). */
export async function chmodCommand(env: CliEnv, mode: string, operands: string[], o: ChmodOptions): Promise<number> {
  if (operands.length === 0) throw new UsageError(`missing operand after '${mode}'`);
  const change = parseMode(mode);
  return forEachTarget(env, 'chmod', operands, o, async (vol, t, s) => {
    await visit(vol, cleanImagePath(t.path), o.recursive === true, async (path, top) => {
      const st = top ? await vol.promises.stat(path) : await vol.promises.lstat(path);
      if (st.isSymbolicLink()) return;
      await vol.promises.chmod(path, applyMode(change, st.mode, st.isDirectory(), s.umask));
    });
  });
}

/** `name:x:uid:gid:...` lines of a host file like /etc/passwd or /etc/group. */
function hostIds(file: string): Array<{ name: string; id: number; gid: number }> {
  try {
    return readFileSync(file, 'utf8').split('\n').map((l) => l.split(':')).filter((f) => f.length >= 3 && /^\d+$/.test(f[2]))
      .map((f) => ({ name: f[0], id: Number(f[2]), gid: Number(f[3]) }));
  } catch {
    return [];
  }
}

function idOf(text: string, file: string, what: string): { id: number; gid: number } {
  if (/^\d+$/.test(text)) {
    const id = Number(text);
    if (id > 0xfffffffe) throw new UsageError(`invalid ${what}: '${text}'`);
    return { id, gid: hostIds(file).find((e) => e.id === id)?.gid ?? -1 };
  }
  const e = hostIds(file).find((x) => x.name === text);
  if (e === undefined) throw new UsageError(`invalid ${what}: '${text}' (not in the host's ${file}; numeric ids work for any value)`);
  return e;
}

/** `UID`, `UID:GID`, `UID:` (the user's login group), `:GID`; names through the host's /etc/passwd and /etc/group. -1 leaves one unchanged. */
export function parseOwner(spec: string): { uid: number; gid: number } {
  const colon = spec.indexOf(':');
  const user = colon < 0 ? spec : spec.slice(0, colon);
  const group = colon < 0 ? undefined : spec.slice(colon + 1);
  if (user === '' && (group === undefined || group === '')) {
    if (colon < 0) throw new UsageError(`invalid user: '${spec}'`);
    return { uid: -1, gid: -1 };
  }
  const u = user === '' ? undefined : idOf(user, '/etc/passwd', 'user');
  let gid = -1;
  if (group !== undefined && group !== '') gid = idOf(group, '/etc/group', 'group').id;
  else if (group === '' && u !== undefined) {
    if (u.gid < 0) throw new UsageError(`${user} has no login group in the host's /etc/passwd: give the group (${user}:GID)`);
    gid = u.gid;
  }
  return { uid: u?.id ?? -1, gid };
}

export interface ChownOptions extends ChmodOptions { noDereference?: boolean }

/** `chown [-R] [-h] OWNER[:GROUP] IMG:PATH...` */
export async function chownCommand(env: CliEnv, owner: string, operands: string[], o: ChownOptions): Promise<number> {
  if (operands.length === 0) throw new UsageError(`missing operand after '${owner}'`);
  const { uid, gid } = parseOwner(owner);
  return forEachTarget(env, 'chown', operands, o, async (vol, t) => {
    await visit(vol, cleanImagePath(t.path), o.recursive === true, async (path, top) => {
      // Like GNU: a symlink named on the command line is followed unless -h; one met by -R is changed itself.
      const follow = top && o.noDereference !== true;
      await (follow ? vol.promises.chown(path, uid, gid) : vol.promises.lchown(path, uid, gid));
    });
  });
}

export interface TouchOptions extends WriteOptions {
  accessOnly?: boolean;
  modifyOnly?: boolean;
  noCreate?: boolean;
  noDereference?: boolean;
  date?: string;
  stamp?: string;
}

async function exists(vol: Volume, path: string): Promise<BigIntStats | undefined> {
  try {
    return await vol.promises.lstat(path, { bigint: true });
  } catch (e) {
    if (isFsError(e) && e.code === 'ENOENT') return undefined;
    throw e;
  }
}

/** Creates an empty regular file if nothing is at `path` (mode 0666 minus the umask, as open(O_CREAT) would). */
async function createEmpty(vol: Volume, path: string): Promise<void> {
  const fh = await vol.promises.open(path, 'a');
  await fh.close();
}

/** `touch [-a] [-m] [-c] [-h] [-d DATE | -t STAMP] IMG:PATH...`: times to the nanosecond. */
export async function touchCommand(env: CliEnv, operands: string[], o: TouchOptions): Promise<number> {
  if (operands.length === 0) throw new UsageError('missing file operand');
  if (o.date !== undefined && o.stamp !== undefined) throw new UsageError('cannot specify times from more than one source');
  const whenNs = o.date !== undefined ? parseTime(o.date, 'date') : o.stamp !== undefined ? parseTime(o.stamp, 'stamp') : undefined;
  const both = o.accessOnly !== true && o.modifyOnly !== true;
  return forEachTarget(env, 'touch', operands, o, async (vol, t) => {
    const path = cleanImagePath(t.path);
    if ((await exists(vol, path)) === undefined) {
      if (o.noCreate === true) return;
      await createEmpty(vol, path);
    }
    const ns = whenNs ?? BigInt(Date.now()) * 1_000_000n;
    const time = { sec: Number(ns / 1_000_000_000n), nsec: Number(ns % 1_000_000_000n) };
    if (time.nsec < 0) {
      time.sec -= 1;
      time.nsec += 1_000_000_000;
    }
    const w = TreeWriter.of(vol);
    const inode = await w.lookup(path, o.noDereference !== true);
    if (inode === undefined) throw new FsError('ENOENT');
    await w.setAttrs(inode, {
      atime: both || o.accessOnly === true ? time : undefined,
      mtime: both || o.modifyOnly === true ? time : undefined,
    });
  });
}

const SIZE_UNITS: Record<string, number> = { '': 1, K: 1024, KiB: 1024, KB: 1000, M: 1024 ** 2, MiB: 1024 ** 2, MB: 1e6, G: 1024 ** 3, GiB: 1024 ** 3, GB: 1e9, T: 1024 ** 4, TiB: 1024 ** 4, TB: 1e12, P: 1024 ** 5, PiB: 1024 ** 5, PB: 1e15 };

export interface SizeSpec { op: '' | '+' | '-' | '<' | '>' | '/' | '%'; value: number }

/** GNU truncate's SIZE: [+-<>/%]NUMBER[K|KiB|KB|M|...]; K = 1024, KB = 1000. */
export function parseSizeSpec(text: string): SizeSpec {
  const m = /^([-+<>/%]?)\s*(\d+)([A-Za-z]*)$/.exec(text.trim());
  const unit = m === null ? undefined : SIZE_UNITS[m[3] === '' ? '' : m[3][0].toUpperCase() + m[3].slice(1)];
  const value = m === null || unit === undefined ? NaN : Number(m[2]) * unit;
  if (!Number.isSafeInteger(value)) throw new UsageError(`invalid size: '${text}'`);
  const op = m![1] as SizeSpec['op'];
  if ((op === '/' || op === '%') && value === 0) throw new UsageError('division by zero');
  return { op, value };
}

/** The size `spec` gives a file of `size` bytes. */
export function newSize(spec: SizeSpec, size: number): number {
  const v = spec.value;
  switch (spec.op) {
    case '': return v;
    case '+': return size + v;
    case '-': return Math.max(0, size - v);
    case '<': return Math.min(size, v);
    case '>': return Math.max(size, v);
    case '/': return Math.floor(size / v) * v;
    case '%': return Math.ceil(size / v) * v;
  }
}

export interface TruncateOptions extends WriteOptions { size: string; noCreate?: boolean }

/** `truncate [-c] -s SIZE IMG:PATH...` */
export async function truncateCommand(env: CliEnv, operands: string[], o: TruncateOptions): Promise<number> {
  if (operands.length === 0) throw new UsageError('missing file operand');
  const spec = parseSizeSpec(o.size);
  return forEachTarget(env, 'truncate', operands, o, async (vol, t) => {
    const path = cleanImagePath(t.path);
    let st = await exists(vol, path).then((x) => (x?.isSymbolicLink() === true ? vol.promises.stat(path, { bigint: true }) : x));
    if (st === undefined) {
      if (o.noCreate === true) return;
      await createEmpty(vol, path);
      st = await vol.promises.stat(path, { bigint: true });
    }
    if (st.isDirectory()) throw new FsError('EISDIR', 'is a directory');
    await vol.promises.truncate(path, newSize(spec, Number(st.size)));
  });
}
