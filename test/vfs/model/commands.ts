/**
 * The operations of the random sequences, as fast-check commands. Each is
 * generated without knowing the state (fast-check builds the list first),
 * so paths, offsets and lengths are *specs* resolved against the model when
 * the command runs: "the 7th existing name", "a name in the 3rd directory",
 * "3/4 into the file", "12 KiB past the end". That keeps shrinking useful
 * and makes most calls meaningful; the trace shows what each resolved to.
 */
import { keystream } from '../../helpers/prng.js';
import { ModelError, OPEN_FLAGS, type OpenFlag } from './fs-model.js';
import { countOutcome, type Env } from './runner.js';

export type PathSpec =
  | { k: 'entry'; i: number; slash: boolean }
  | { k: 'in'; i: number; name: string; slash: boolean }
  | { k: 'raw'; comps: string[]; slash: boolean };

/** A position or length, relative to a file's size when the command runs. */
export type Pos = { k: 'zero' } | { k: 'in'; f: number } | { k: 'end'; gap: number } | { k: 'far'; at: number };

export interface DataSpec {
  len: number;
  seed: number;
  /** A fill byte instead of random bytes (zeros over data matter). */
  fill: number | null;
}

/** lost+found stays: e2fsck reports an image without it. */
const KEEP = new Set(['/lost+found']);

export function pathOf(env: Env, s: PathSpec): string {
  const slash = s.slash ? '/' : '';
  if (s.k === 'raw') return `/${s.comps.join('/')}${slash}`;
  const entries = env.model.entries(KEEP);
  if (s.k === 'entry') return entries.length === 0 ? '/' : `${entries[s.i % entries.length].path}${slash}`;
  const dirs = ['', ...entries.filter((e) => e.node.type === 'dir').map((e) => e.path)];
  return `${dirs[s.i % dirs.length]}/${s.name}${slash}`;
}

export function posOf(p: Pos, size: number): number {
  switch (p.k) {
    case 'zero': return 0;
    case 'in': return Math.floor(p.f * size);
    case 'end': return size + p.gap;
    case 'far': return p.at;
  }
}

export function dataOf(d: DataSpec): Buffer {
  return d.fill !== null ? Buffer.alloc(d.len, d.fill) : keystream(`model-data-${d.seed}`, d.len);
}

/** Seconds as Node takes them: whole seconds plus eighths, exact in a double and in microseconds (what libuv keeps). */
export function timeOf(t: { sec: number; eighths: number }): { value: number; ns: bigint } {
  return { value: t.sec + t.eighths / 8, ns: BigInt(t.sec) * 1_000_000_000n + BigInt(t.eighths) * 125_000_000n };
}

/** glibc makedev for the numbers the tests use (major < 4096). */
export function makedev(major: number, minor: number): number {
  return (minor & 0xff) + major * 0x100 + (minor & ~0xff) * 0x1000;
}

// ------------------------------------------------------------------ the operations

/** True when the budget allows `growth` more bytes of file data (big images never fill up). */
function withinBudget(env: Env, growth: number, what: string): boolean {
  if (env.opts.allowENOSPC || growth <= 0 || env.model.dataBytes() + growth <= env.opts.dataBudget) return true;
  env.log(`${what}: skipped, the files would exceed the data budget`);
  return false;
}

function sizeAt(env: Env, p: string): number {
  try {
    const n = env.model.resolve(p, true);
    return n.type === 'file' ? n.size : 0;
  } catch (e) {
    if (e instanceof ModelError) return 0;
    throw e;
  }
}

async function afterChange(env: Env, r: string, why: string): Promise<void> {
  if (r === 'ok') await env.compareAll(why, false);
  else if (r === 'enospc') await env.compareAll(`${why} failed with ENOSPC: nothing may be left behind`, true);
}

export async function opStat(env: Env, a: { p: PathSpec; follow: boolean }): Promise<void> {
  const p = pathOf(env, a.p);
  const fs = env.target.fs;
  await env.step(`${a.follow ? 'stat' : 'lstat'} ${p}`, () => env.model.stat(p, a.follow), () => (a.follow ? fs.stat(p) : fs.lstat(p)), (m, r) => env.compareStat(p, m, r));
}

export async function opReaddir(env: Env, a: { p: PathSpec }): Promise<void> {
  const p = pathOf(env, a.p);
  await env.step(`readdir ${p}`, () => env.model.readdir(p), () => env.target.fs.readdir(p), (m, r) => {
    const got = [...r].sort().join(', ');
    if (got !== m.join(', ')) throw new Error(`readdir ${p}: [${got}], model [${m.join(', ')}]`);
  });
}

export async function opReadFile(env: Env, a: { p: PathSpec }): Promise<void> {
  const p = pathOf(env, a.p);
  await env.step(`readFile ${p}`, () => env.model.readFile(p), () => env.target.fs.readFile(p), (m, r) => {
    if (!m.equals(r)) throw new Error(`readFile ${p}: ${r.length} bytes, model ${m.length}; first difference at ${firstDiff(m, r)}`);
  });
}

function firstDiff(a: Buffer, b: Buffer): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i;
  return n;
}

export async function opWriteFile(env: Env, a: { p: PathSpec; flag: OpenFlag; mode: number; data: DataSpec }): Promise<void> {
  const p = pathOf(env, a.p);
  const bytes = dataOf(a.data);
  const what = `${a.flag === 'a' ? 'appendFile' : `writeFile flag ${a.flag}`} ${p} mode ${a.mode.toString(8)} ${bytes.length} bytes`;
  const growth = OPEN_FLAGS[a.flag].append ? bytes.length : bytes.length - sizeAt(env, p);
  if (!withinBudget(env, growth, what)) return;
  let target: ReturnType<typeof env.model.writeFileTarget> | undefined;
  const r = await env.step(what, () => {
    const apply = env.model.writeFile(p, a.flag, a.mode, bytes);
    target = env.model.writeFileTarget(p, a.flag);
    return apply;
  }, () => (a.flag === 'a' ? env.target.fs.appendFile(p, bytes, a.mode) : env.target.fs.writeFile(p, bytes, a.flag, a.mode)), () => undefined, true);
  if (r === 'enospc' && target !== undefined) await adoptPartialWriteFile(env, p, a, bytes, target);
  await afterChange(env, r, what);
}

/**
 * writeFile ran out of space part way: what the real side has must be what
 * write(2) semantics allow — no file if creating it failed, else the old
 * contents (append) or nothing (truncate) followed by a prefix of the data.
 */
async function adoptPartialWriteFile(env: Env, p: string, a: { flag: OpenFlag; mode: number }, bytes: Buffer, target: NonNullable<ReturnType<Env['model']['writeFileTarget']>>): Promise<void> {
  const append = OPEN_FLAGS[a.flag].append;
  let now: Buffer;
  try {
    now = await env.target.fs.readFile(p);
  } catch (e) {
    if (env.codeOf(e) === 'ENOENT' && !('node' in target)) {
      env.log('  nothing was created');
      return;
    }
    throw e;
  }
  const before = 'node' in target && append ? env.model.contents(target.node) : Buffer.alloc(0);
  const k = now.length - before.length;
  if (k < 0 || k > bytes.length || !now.subarray(0, before.length).equals(before) || !now.subarray(before.length).equals(bytes.subarray(0, k))) {
    throw new Error(`writing ${p} failed with ENOSPC and left ${now.length} bytes that are not the old contents plus a prefix of the data`);
  }
  env.log(`  ${k} of ${bytes.length} bytes were written before ENOSPC`);
  env.model.adoptPartialWrite(target, a.mode, now);
}

export async function opTruncate(env: Env, a: { p: PathSpec; len: Pos }): Promise<void> {
  const p = pathOf(env, a.p);
  const size = sizeAt(env, p);
  const len = posOf(a.len, size);
  const what = `truncate ${p} to ${len}`;
  if (!withinBudget(env, len - size, what)) return;
  const r = await env.step(what, () => env.model.truncate(p, len), () => env.target.fs.truncate(p, len), () => undefined);
  await afterChange(env, r, what);
}

/**
 * mkdir with `recursive`: Node's algorithm (node_file.cc MKDirpAsync) run
 * over the model — a stack of path strings; ENOENT pushes the parent
 * (the string up to the last '/'), EEXIST of an intermediate path is fine
 * if it stats as a directory — so its results and error codes are Node's
 * on Linux. Returns the first directory created.
 */
function modelMkdirp(env: Env, path: string, mode: number): { code: string | undefined; first: string | undefined; created: string[] } {
  const model = env.model;
  const attempt = (fn: () => void): string | undefined => {
    try {
      fn();
      return undefined;
    } catch (e) {
      if (e instanceof ModelError) return e.code;
      throw e;
    }
  };
  const stack = [path];
  const created: string[] = [];
  let first: string | undefined;
  for (let guard = 0; guard < 1000; guard++) {
    const next = stack.pop();
    if (next === undefined) return { code: undefined, first, created };
    let code = attempt(() => model.mkdir(next, mode)());
    if (code === undefined) {
      created.push(next);
      first ??= next;
      continue;
    }
    if (['EACCES', 'ENOSPC', 'ENOTDIR', 'EPERM'].includes(code)) return { code, first, created };
    if (code === 'ENOENT') {
      const dirname = next.slice(0, Math.max(0, next.lastIndexOf('/'))) || '/';
      if (dirname !== next) {
        stack.push(next, dirname);
        continue;
      }
      if (stack.length > 0) continue;
      code = 'EEXIST';
    }
    let isDir = false;
    const statCode = attempt(() => {
      isDir = model.stat(next, true)().type === 'dir';
    });
    if (code === 'EEXIST' && stack.length > 0) {
      if (statCode === undefined && isDir) continue;
      return { code: 'ENOTDIR', first, created };
    }
    if (statCode === undefined) return { code: isDir ? undefined : 'EEXIST', first, created };
    return { code: statCode, first, created };
  }
  throw new Error(`mkdir -p ${path}: the model did not finish`);
}

export async function opMkdir(env: Env, a: { p: PathSpec; mode: number; recursive: boolean }): Promise<void> {
  const p = pathOf(env, a.p);
  const what = `mkdir${a.recursive ? ' -p' : ''} ${p} mode ${a.mode.toString(8)}`;
  if (!a.recursive) {
    const r = await env.step(what, () => env.model.mkdir(p, a.mode), () => env.target.fs.mkdir(p, a.mode, false), () => undefined, true);
    await afterChange(env, r, what);
    return;
  }
  env.model.escaped = false;
  const want = modelMkdirp(env, p, a.mode);
  if (env.target.host && env.model.escaped) {
    env.log(`${what}: walks above the root; the host cannot mirror that, sequence ends`);
    env.stopped = true;
    return;
  }
  let got: string | undefined;
  let first: string | undefined;
  try {
    const r = await env.target.fs.mkdir(p, a.mode, true);
    first = r === undefined ? undefined : env.target.modelPath(r);
  } catch (e) {
    got = env.codeOf(e);
  }
  env.log(`${what} -> ${got ?? `ok, first ${first}`}${want.code !== got ? ` (model: ${want.code ?? 'ok'})` : ''}`);
  countOutcome(what, got ?? 'ok');
  if (got === 'ENOSPC' && env.opts.allowENOSPC && (want.code === undefined || want.code === 'ENOSPC')) {
    // The real side made a prefix of what the model made, in the same order.
    for (const c of [...want.created].reverse()) {
      try {
        await env.target.fs.lstat(c);
        break;
      } catch (e) {
        if (env.codeOf(e) !== 'ENOENT') throw e;
        env.model.dropEmptyDir(c);
      }
    }
    await env.compareAll(`${what} failed with ENOSPC`, true);
    return;
  }
  if (got !== want.code) throw new Error(`${what}: Node on Linux gives ${want.code ?? 'success'}, the target gave ${got ?? 'success'}`);
  if (got === undefined && first !== want.first) throw new Error(`${what}: returned ${first}, Node on Linux returns ${want.first}`);
  await env.compareAll(what, false);
}

export async function opRmdir(env: Env, a: { p: PathSpec }): Promise<void> {
  const p = pathOf(env, a.p);
  await afterChange(env, await env.step(`rmdir ${p}`, () => env.model.rmdir(p), () => env.target.fs.rmdir(p), () => undefined), `rmdir ${p}`);
}

export async function opUnlink(env: Env, a: { p: PathSpec }): Promise<void> {
  const p = pathOf(env, a.p);
  await afterChange(env, await env.step(`unlink ${p}`, () => env.model.unlink(p), () => env.target.fs.unlink(p), () => undefined), `unlink ${p}`);
}

export async function opRename(env: Env, a: { from: PathSpec; to: PathSpec }): Promise<void> {
  const from = pathOf(env, a.from);
  const to = pathOf(env, a.to);
  const what = `rename ${from} -> ${to}`;
  await afterChange(env, await env.step(what, () => env.model.rename(from, to), () => env.target.fs.rename(from, to), () => undefined, true), what);
}

export async function opLink(env: Env, a: { from: PathSpec; to: PathSpec }): Promise<void> {
  const from = pathOf(env, a.from);
  const to = pathOf(env, a.to);
  const what = `link ${from} -> ${to}`;
  await afterChange(env, await env.step(what, () => env.model.link(from, to), () => env.target.fs.link(from, to), () => undefined, true), what);
}

export async function opSymlink(env: Env, a: { target: string; p: PathSpec }): Promise<void> {
  const p = pathOf(env, a.p);
  const what = `symlink ${p} -> '${a.target.length > 40 ? `${a.target.slice(0, 20)}...(${a.target.length})` : a.target}'`;
  await afterChange(env, await env.step(what, () => env.model.symlink(a.target, p), () => env.target.fs.symlink(a.target, p), () => undefined, true), what);
}

export async function opReadlink(env: Env, a: { p: PathSpec }): Promise<void> {
  const p = pathOf(env, a.p);
  await env.step(`readlink ${p}`, () => env.model.readlink(p), () => env.target.fs.readlink(p), (m, r) => {
    if (!m.equals(r)) throw new Error(`readlink ${p}: '${r.toString()}', model '${m.toString()}'`);
  });
}

export async function opChmod(env: Env, a: { p: PathSpec; mode: number }): Promise<void> {
  const p = pathOf(env, a.p);
  const what = `chmod ${p} ${a.mode.toString(8)}`;
  await afterChange(env, await env.step(what, () => env.model.chmod(p, a.mode), () => env.target.fs.chmod(p, a.mode), () => undefined), what);
}

export async function opChown(env: Env, a: { p: PathSpec; uid: number; gid: number }): Promise<void> {
  const p = pathOf(env, a.p);
  const what = `chown ${p} ${a.uid}:${a.gid}`;
  await afterChange(env, await env.step(what, () => env.model.chown(p, a.uid, a.gid), () => env.target.fs.chown(p, a.uid, a.gid), () => undefined), what);
}

export async function opUtimes(env: Env, a: { p: PathSpec; atime: { sec: number; eighths: number }; mtime: { sec: number; eighths: number } }): Promise<void> {
  const p = pathOf(env, a.p);
  const at = timeOf(a.atime);
  const mt = timeOf(a.mtime);
  const what = `utimes ${p} ${at.value} ${mt.value}`;
  const r = await env.step(what, () => env.model.utimes(p, at.ns, mt.ns), () => env.target.fs.utimes(p, at.value, mt.value), () => undefined);
  // Straight away, before anything (a listing, a read) can move the atime on the host.
  if (r === 'ok') await opStat(env, { p: { k: 'raw', comps: p.split('/').filter((c) => c !== ''), slash: p.endsWith('/') }, follow: true });
  await afterChange(env, r, what);
}

export async function opMknod(env: Env, a: { p: PathSpec; type: 'fifo' | 'chr' | 'blk' | 'sock'; perm: number; rdev: number }): Promise<void> {
  const p = pathOf(env, a.p);
  const bits = { fifo: 0o010000, chr: 0o020000, blk: 0o060000, sock: 0o140000 }[a.type];
  const what = `mknod ${p} ${a.type} ${a.perm.toString(8)} rdev ${a.rdev}`;
  await afterChange(env, await env.step(what, () => env.model.mknod(p, a.type, a.perm, a.rdev), () => env.target.fs.mknod(p, bits | a.perm, a.rdev), () => undefined, true), what);
}

const MAX_HANDLES = 6;

export async function opOpen(env: Env, a: { p: PathSpec; flag: OpenFlag; mode: number }): Promise<number | undefined> {
  const p = pathOf(env, a.p);
  const what = `open ${p} ${a.flag} mode ${a.mode.toString(8)}`;
  if (env.model.handles.length >= MAX_HANDLES) {
    env.log(`${what}: skipped, ${MAX_HANDLES} files open`);
    return undefined;
  }
  const allocates = OPEN_FLAGS[a.flag].creat;
  let index: number | undefined;
  const r = await env.step(what, () => env.model.open(p, a.flag, a.mode), () => env.target.fs.open(p, a.flag, a.mode), (i, h) => {
    env.handles.push(h);
    index = i;
  }, allocates);
  if (index !== undefined) env.log(`  handle #${index}`);
  await afterChange(env, r, what);
  return index;
}

function handleAt(env: Env, h: number, what: string): number | undefined {
  if (env.model.handles.length === 0) {
    env.log(`${what}: no open file, skipped`);
    return undefined;
  }
  return h % env.model.handles.length;
}

export async function opHandleWrite(env: Env, a: { h: number; data: DataSpec; pos: Pos | null }): Promise<void> {
  const i = handleAt(env, a.h, 'write');
  if (i === undefined) return;
  const mh = env.model.handles[i];
  const bytes = dataOf(a.data);
  const position = a.pos === null ? null : posOf(a.pos, mh.node.size);
  const what = `write #${i} (${mh.node.type} of ${mh.node.size} bytes) ${bytes.length} bytes at ${position ?? `current (${mh.pos})`}${mh.append ? ' O_APPEND' : ''}`;
  let want: string | undefined;
  let plan: ReturnType<typeof env.model.handleWrite> | undefined;
  try {
    plan = env.model.handleWrite(mh, position);
  } catch (e) {
    if (!(e instanceof ModelError)) throw e;
    want = e.code;
  }
  if (plan !== undefined && !withinBudget(env, plan.at + bytes.length - mh.node.size, what)) return;
  let got: string | undefined;
  let n = 0;
  try {
    n = (await env.handles[i].write(bytes, 0, bytes.length, position)).bytesWritten;
  } catch (e) {
    got = env.codeOf(e);
  }
  env.log(`${what} -> ${got ?? `${n} written`}${want !== got ? ` (model: ${want ?? 'ok'})` : ''}`);
  countOutcome(what, got ?? (n < bytes.length ? 'short' : 'ok'));
  if (want === undefined && got === 'ENOSPC' && env.opts.allowENOSPC) {
    await env.compareAll(`${what} failed with ENOSPC: nothing may be written`, true);
    return;
  }
  if (want !== got) throw new Error(`${what}: Linux gives ${want ?? 'success'}, the target gave ${got ?? 'success'}`);
  if (plan === undefined) return;
  const short = n < bytes.length;
  if (n > bytes.length || (short && !(env.opts.allowENOSPC && n > 0))) throw new Error(`${what}: wrote ${n} of ${bytes.length} bytes`);
  plan.apply(bytes.subarray(0, n));
  if (short) await env.compareAll(`${what} was short`, true);
}

export async function opHandleRead(env: Env, a: { h: number; len: number; pos: Pos | null }): Promise<void> {
  const i = handleAt(env, a.h, 'read');
  if (i === undefined) return;
  const mh = env.model.handles[i];
  const position = a.pos === null ? null : posOf(a.pos, mh.node.size);
  const what = `read #${i} ${a.len} bytes at ${position ?? `current (${mh.pos})`}`;
  const buf = Buffer.alloc(a.len);
  await env.step(what, () => env.model.handleRead(mh, position, a.len), () => env.handles[i].read(buf, 0, a.len, position), (m, r) => {
    const got = buf.subarray(0, r.bytesRead);
    if (!got.equals(m)) throw new Error(`${what}: ${r.bytesRead} bytes, model ${m.length}; first difference at ${firstDiff(m, got)}`);
  });
}

export async function opHandleTruncate(env: Env, a: { h: number; len: Pos }): Promise<void> {
  const i = handleAt(env, a.h, 'ftruncate');
  if (i === undefined) return;
  const mh = env.model.handles[i];
  const len = posOf(a.len, mh.node.size);
  const what = `ftruncate #${i} to ${len}`;
  if (!withinBudget(env, len - mh.node.size, what)) return;
  await afterChange(env, await env.step(what, () => env.model.handleTruncate(mh, len), () => env.handles[i].truncate(len), () => undefined), what);
}

export async function opHandleStat(env: Env, a: { h: number }): Promise<void> {
  const i = handleAt(env, a.h, 'fstat');
  if (i === undefined) return;
  const node = env.model.handles[i].node;
  await env.step(`fstat #${i}`, () => () => env.model.statOf(node), () => env.handles[i].stat(), (m, r) => env.compareStat(`fstat #${i}`, m, r));
}

export async function opHandleClose(env: Env, a: { h: number }): Promise<void> {
  const i = handleAt(env, a.h, 'close');
  if (i === undefined) return;
  env.log(`close #${i}`);
  const [h] = env.handles.splice(i, 1);
  env.model.handleClose(i);
  await h.close();
  await env.compareAll(`close #${i}`, false);
}

export async function opReopen(env: Env): Promise<void> {
  env.log('close the volume and open it again');
  env.model.closeAll();
  env.handles.length = 0;
  await env.target.reopen();
  await env.compareAll('after reopening', true);
}

/** Many creates in one directory (names n0, n1, ... that the other commands never pick), to use up inodes and directory blocks. */
export async function opBurst(env: Env, a: { dir: number; count: number; kind: 'file' | 'dir' | 'symlink'; long?: boolean }): Promise<void> {
  for (let k = 0; k < a.count; k++) {
    // Long names fill directory blocks quickly: multi-block directories, entries split across them.
    const name = a.long === true ? `n${k}-${'l'.repeat(100 + ((k * 53) % 150))}` : `n${k}`;
    const p: PathSpec = { k: 'in', i: a.dir, name, slash: false };
    if (a.kind === 'file') await opWriteFile(env, { p, flag: 'w', mode: 0o644, data: { len: 1 + ((k * 7919) % 3000), seed: k, fill: null } });
    else if (a.kind === 'dir') await opMkdir(env, { p, mode: 0o755, recursive: false });
    else await opSymlink(env, { target: 's'.repeat(1 + ((k * 37) % 200)), p });
  }
}

/** Removes every `stride`-th name of a directory (files, symlinks, empty directories), leaving gaps in its blocks. */
export async function opSweep(env: Env, a: { dir: number; stride: number; offset: number }): Promise<void> {
  const entries = env.model.entries(KEEP).filter((e) => e.node.type === 'dir');
  const dir = a.dir % (entries.length + 1) === 0 ? '' : entries[(a.dir % (entries.length + 1)) - 1].path;
  const node = dir === '' ? env.model.root : env.model.resolve(dir, false);
  const names = [...node.entries.keys()].sort().filter((n) => `${dir}/${n}` !== '/lost+found');
  env.log(`sweep ${dir || '/'} every ${a.stride} from ${a.offset % a.stride} (${names.length} names)`);
  for (let i = a.offset % a.stride; i < names.length; i += a.stride) {
    const p: PathSpec = { k: 'raw', comps: [...dir.split('/').filter((c) => c !== ''), names[i]], slash: false };
    if (node.entries.get(names[i])?.type === 'dir') await opRmdir(env, { p });
    else await opUnlink(env, { p });
  }
}

/** open a file, unlink it, write and read it while it has no name, check nlink 0, close (the orphan goes). */
export async function opOrphanCycle(env: Env, a: { p: PathSpec; data: DataSpec; at: number }): Promise<void> {
  const p = pathOf(env, a.p);
  const i = await opOpen(env, { p: a.p, flag: 'w+', mode: 0o644 });
  if (i === undefined) return;
  const r = await env.step(`unlink ${p} (open as #${i})`, () => env.model.unlink(p), () => env.target.fs.unlink(p), () => undefined);
  if (r !== 'ok') return;
  await opHandleWrite(env, { h: i, data: a.data, pos: { k: 'far', at: a.at } });
  await opHandleRead(env, { h: i, len: a.at + a.data.len + 10, pos: { k: 'zero' } });
  await opHandleStat(env, { h: i });
  await opHandleClose(env, { h: i });
}

// ------------------------------------------------------------------ extended attributes

const round4 = (n: number): number => (n + 3) & ~3;

/**
 * Bytes one xattr block needs for these attributes (header, entries with
 * the name's prefix stored as an index, values, end marker). When that fits
 * in a block, ext4 has room whatever the inode body holds: a set must not
 * fail with ENOSPC then (unless the disk itself is full).
 */
function xattrBlockBytes(attrs: ReadonlyMap<string, Buffer>): number {
  let n = 32 + 4;
  for (const [name, v] of attrs) {
    const prefix = ['user.', 'trusted.', 'security.'].find((x) => name.startsWith(x)) ?? '';
    n += 16 + round4(name.length - prefix.length) + round4(v.length);
  }
  return n;
}

export interface XattrArgs { p: PathSpec; name: string; follow: boolean }

function xattrCalls(env: Env): NonNullable<Env['target']['fs']['xattrs']> {
  const x = env.target.fs.xattrs;
  if (x === undefined) throw new Error('this target has no xattr calls');
  return x;
}

export async function opSetxattr(env: Env, a: XattrArgs & { value: DataSpec; flag: 'create' | 'replace' | undefined }): Promise<void> {
  const p = pathOf(env, a.p);
  const value = dataOf(a.value);
  const what = `setxattr ${p} ${a.name} ${value.length} bytes${a.flag ? ` ${a.flag}` : ''}${a.follow ? '' : ' nofollow'}`;
  // ENOSPC is Linux's answer too when the attributes cannot all fit in one block; otherwise only a full disk excuses it.
  let mayNotFit = false;
  try {
    const after = new Map(env.model.xattrNode(p, a.follow).xattrs).set(a.name, value);
    mayNotFit = xattrBlockBytes(after) > env.opts.blockSize;
  } catch (e) {
    if (!(e instanceof ModelError)) throw e;
  }
  const r = await env.step(what, () => env.model.setxattr(p, a.name, value, a.flag, a.follow),
    () => xattrCalls(env).set(p, a.name, value, a.flag, a.follow), () => undefined, mayNotFit ? 'always' : true);
  await afterChange(env, r, what);
}

export async function opGetxattr(env: Env, a: XattrArgs): Promise<void> {
  const p = pathOf(env, a.p);
  await env.step(`getxattr ${p} ${a.name}`, () => env.model.getxattr(p, a.name, a.follow), () => xattrCalls(env).get(p, a.name, a.follow), (m, r) => {
    if (!m.equals(r)) throw new Error(`getxattr ${p} ${a.name}: ${r.length} bytes, model ${m.length}`);
  });
}

export async function opListxattr(env: Env, a: { p: PathSpec; follow: boolean }): Promise<void> {
  const p = pathOf(env, a.p);
  await env.step(`listxattr ${p}`, () => env.model.listxattr(p, a.follow), () => xattrCalls(env).list(p, a.follow), (m, r) => {
    if ([...r].sort().join(',') !== m.join(',')) throw new Error(`listxattr ${p}: [${r.join(', ')}], model [${m.join(', ')}]`);
  });
}

export async function opRemovexattr(env: Env, a: XattrArgs): Promise<void> {
  const p = pathOf(env, a.p);
  const what = `removexattr ${p} ${a.name}`;
  await afterChange(env, await env.step(what, () => env.model.removexattr(p, a.name, a.follow), () => xattrCalls(env).remove(p, a.name, a.follow), () => undefined), what);
}
