/**
 * Compares two directory trees the way a user of a filesystem would: names,
 * types, contents, modes, owners, times, symlink targets, device numbers,
 * link counts and which names share an inode, and xattrs.
 *
 * Every entry of both trees is lstat'ed before any content is read, so the
 * comparison sees the times as they were; it only reads (never writes), so
 * directory mtimes are not disturbed. Names are handled as bytes throughout,
 * so two different non-UTF-8 names can never be confused. Large files are
 * compared only where either side has data (SEEK_DATA), because reading a
 * 5 GiB hole through the page cache costs more than ten seconds.
 */
import * as fs from 'node:fs';
import { expect } from 'vitest';
import { readDataRanges, readXattrs, type DataRange } from '../../src/host/host-ops.js';

export interface CompareOptions {
  /** 'ns': exact; 's': whole seconds, both sides rounded toward -infinity; 'none': times not compared. */
  times: 'ns' | 's' | 'none';
  owners: boolean;
  xattrs: boolean;
  /** Compare atimes too (default false: anything that reads a tree moves its atimes under relatime). */
  atime?: boolean;
  /**
   * The expected side's seconds are wrapped to a signed 32-bit number before
   * comparing: what mke2fs 1.47.0 -d stores for times after 2038 on every
   * inode size.
   */
  wrapTimes32?: boolean;
  /** Relative paths left out of both trees. Default ['lost+found'] (every mkfs image has one). */
  ignore?: string[];
  /** Compare the two roots' own attributes (default false: mkfs makes its own root). */
  rootAttrs?: boolean;
  /** Compare file contents (default true). */
  contents?: boolean;
  /** Stop after this many differences (default 200). */
  maxDiffs?: number;
}

interface Entry {
  rel: Buffer;
  abs: Buffer;
  st: fs.BigIntStats;
}

const SLASH = Buffer.from('/');
const S = 1_000_000_000n;
/** Files above this size are compared through their data ranges. */
const RANGE_THRESHOLD = 4 << 20;
const CHUNK = 8 << 20;

const show = (rel: Buffer): string => (rel.length === 0 ? '/' : rel.toString('utf8'));

/** Every entry below `root` (and the root itself, at the empty relative path), keyed by the latin1 image of its bytes. */
function scan(root: string, ignore: Set<string>): Map<string, Entry> {
  const rootBuf = Buffer.from(root);
  const out = new Map<string, Entry>();
  out.set('', { rel: Buffer.alloc(0), abs: rootBuf, st: fs.lstatSync(rootBuf, { bigint: true }) });
  const queue: Entry[] = [out.get('')!];
  while (queue.length > 0) {
    const dir = queue.shift()!;
    const names = fs.readdirSync(dir.abs, { encoding: 'buffer' }).sort((x, y) => Buffer.compare(x, y));
    for (const name of names) {
      const rel = dir.rel.length === 0 ? name : Buffer.concat([dir.rel, SLASH, name]);
      if (ignore.has(rel.toString('latin1'))) continue;
      const abs = Buffer.concat([dir.abs, SLASH, name]);
      const e = { rel, abs, st: fs.lstatSync(abs, { bigint: true }) };
      out.set(rel.toString('latin1'), e);
      if (e.st.isDirectory()) queue.push(e);
    }
  }
  return out;
}

function typeName(st: fs.BigIntStats): string {
  if (st.isFile()) return 'file';
  if (st.isDirectory()) return 'directory';
  if (st.isSymbolicLink()) return 'symlink';
  if (st.isFIFO()) return 'fifo';
  if (st.isSocket()) return 'socket';
  if (st.isCharacterDevice()) return 'char device';
  if (st.isBlockDevice()) return 'block device';
  return 'unknown';
}

function floorDiv(a: bigint, b: bigint): bigint {
  const q = a / b;
  return a % b !== 0n && a < 0n ? q - 1n : q;
}

function wrap32(ns: bigint): bigint {
  const sec = floorDiv(ns, S);
  const frac = ns - sec * S;
  const wrapped = BigInt.asIntN(32, sec);
  return wrapped * S + frac;
}

function openNoAtime(p: Buffer): number {
  try {
    return fs.openSync(p, fs.constants.O_RDONLY | fs.constants.O_NOATIME);
  } catch {
    return fs.openSync(p, fs.constants.O_RDONLY);
  }
}

function readAt(fd: number, buf: Buffer, len: number, pos: number): number {
  let done = 0;
  while (done < len) {
    const n = fs.readSync(fd, buf, done, len - done, pos + done);
    if (n === 0) break;
    done += n;
  }
  return done;
}

/** Merges two sorted range lists into their union. */
function union(a: DataRange[], b: DataRange[]): DataRange[] {
  const all = [...a, ...b].sort((x, y) => x.start - y.start);
  const out: DataRange[] = [];
  for (const r of all) {
    const last = out[out.length - 1];
    if (last && r.start <= last.end) last.end = Math.max(last.end, r.end);
    else out.push({ ...r });
  }
  return out;
}

/** Where the two files first differ within `ranges` (every byte outside them is a hole on both sides), or null. */
function firstDifference(a: Buffer, b: Buffer, size: number, ranges: DataRange[], bufs: [Buffer, Buffer]): number | null {
  const fa = openNoAtime(a);
  const fb = openNoAtime(b);
  try {
    for (const r of ranges) {
      for (let pos = r.start; pos < Math.min(r.end, size); pos += CHUNK) {
        const len = Math.min(CHUNK, Math.min(r.end, size) - pos);
        const na = readAt(fa, bufs[0], len, pos);
        const nb = readAt(fb, bufs[1], len, pos);
        const x = bufs[0].subarray(0, na);
        const y = bufs[1].subarray(0, nb);
        if (na !== nb || !x.equals(y)) {
          for (let i = 0; i < Math.min(na, nb); i++) if (x[i] !== y[i]) return pos + i;
          return pos + Math.min(na, nb);
        }
      }
    }
    return null;
  } finally {
    fs.closeSync(fa);
    fs.closeSync(fb);
  }
}

/** A readable list of every difference between the trees; empty when they match. */
export async function compareTrees(expectedDir: string, actualDir: string, opts: CompareOptions): Promise<string[]> {
  const ignore = new Set((opts.ignore ?? ['lost+found']).map((p) => Buffer.from(p).toString('latin1')));
  const maxDiffs = opts.maxDiffs ?? 200;
  const diffs: string[] = [];
  const add = (s: string): void => {
    if (diffs.length < maxDiffs) diffs.push(s);
    else if (diffs.length === maxDiffs) diffs.push(`... (stopped after ${maxDiffs} differences)`);
  };

  const exp = scan(expectedDir, ignore);
  const act = scan(actualDir, ignore);

  for (const [k, e] of exp) if (!act.has(k)) add(`missing in actual: ${show(e.rel)} (${typeName(e.st)})`);
  for (const [k, a] of act) if (!exp.has(k)) add(`extra in actual: ${show(a.rel)} (${typeName(a.st)})`);

  const both: Array<[Entry, Entry]> = [];
  for (const [k, e] of exp) {
    const a = act.get(k);
    if (!a) continue;
    const p = show(e.rel);
    if (typeName(e.st) !== typeName(a.st)) {
      add(`type differs: ${p}: expected ${typeName(e.st)}, actual ${typeName(a.st)}`);
      continue;
    }
    both.push([e, a]);
    const isRoot = e.rel.length === 0;
    if (isRoot && !opts.rootAttrs) continue;
    if (e.st.mode !== a.st.mode) add(`mode differs: ${p}: expected ${e.st.mode.toString(8)}, actual ${a.st.mode.toString(8)}`);
    if (opts.owners && (e.st.uid !== a.st.uid || e.st.gid !== a.st.gid)) add(`owner differs: ${p}: expected ${e.st.uid}:${e.st.gid}, actual ${a.st.uid}:${a.st.gid}`);
    if (e.st.nlink !== a.st.nlink) add(`link count differs: ${p}: expected ${e.st.nlink}, actual ${a.st.nlink}`);
    if ((e.st.isFile() || e.st.isSymbolicLink()) && e.st.size !== a.st.size) add(`size differs: ${p}: expected ${e.st.size}, actual ${a.st.size}`);
    if ((e.st.isCharacterDevice() || e.st.isBlockDevice()) && e.st.rdev !== a.st.rdev) add(`device number differs: ${p}: expected ${e.st.rdev}, actual ${a.st.rdev}`);
    if (opts.times !== 'none') {
      const which: Array<['mtime' | 'atime', bigint, bigint]> = [['mtime', e.st.mtimeNs, a.st.mtimeNs]];
      if (opts.atime) which.push(['atime', e.st.atimeNs, a.st.atimeNs]);
      for (const [name, rawExp, got] of which) {
        const want = opts.wrapTimes32 ? wrap32(rawExp) : rawExp;
        const same = opts.times === 'ns' ? want === got : floorDiv(want, S) === floorDiv(got, S);
        if (!same) add(`${name} differs (${opts.times}): ${p}: expected ${want}, actual ${got}`);
      }
    }
    if (e.st.isSymbolicLink()) {
      const te = fs.readlinkSync(e.abs, { encoding: 'buffer' });
      const ta = fs.readlinkSync(a.abs, { encoding: 'buffer' });
      if (!te.equals(ta)) add(`symlink target differs: ${p}: expected '${te.toString('utf8')}', actual '${ta.toString('utf8')}'`);
    }
  }

  // Hard links: the names that share an inode must be the same set on both sides.
  const groups = (m: Map<string, Entry>): Map<string, string> => {
    const byIno = new Map<bigint, string[]>();
    for (const [k, e] of m) {
      if (e.st.isDirectory()) continue;
      const list = byIno.get(e.st.ino) ?? [];
      list.push(k);
      byIno.set(e.st.ino, list);
    }
    const sig = new Map<string, string>();
    for (const list of byIno.values()) for (const k of list) sig.set(k, list.sort().join('\u0000'));
    return sig;
  };
  const ge = groups(exp);
  const ga = groups(act);
  const reported = new Set<string>();
  for (const [e] of both) {
    const k = e.rel.toString('latin1');
    const se = ge.get(k);
    const sa = ga.get(k);
    if (se === undefined || se === sa || reported.has(se)) continue;
    reported.add(se);
    const names = (s: string | undefined): string => (s ?? '').split('\u0000').map((x) => Buffer.from(x, 'latin1').toString('utf8')).join(', ');
    add(`hard links differ: ${show(e.rel)}: expected shared by [${names(se)}], actual shared by [${names(sa)}]`);
  }

  if (opts.contents ?? true) {
    const files = both.filter(([e, a]) => e.st.isFile() && e.st.size === a.st.size);
    const large = files.filter(([e]) => e.st.size > BigInt(RANGE_THRESHOLD));
    const re = await readDataRanges(large.map(([e]) => e.abs));
    const ra = await readDataRanges(large.map(([, a]) => a.abs));
    for (const err of [...re.errors, ...ra.errors]) add(`cannot find data ranges: ${String(err.path)}: ${err.code} ${err.message}`);
    const bufs: [Buffer, Buffer] = [Buffer.allocUnsafe(CHUNK), Buffer.allocUnsafe(CHUNK)];
    for (const [e, a] of files) {
      const size = Number(e.st.size);
      const ranges = size > RANGE_THRESHOLD
        ? union(re.ranges.get(e.abs) ?? [{ start: 0, end: size }], ra.ranges.get(a.abs) ?? [{ start: 0, end: size }])
        : [{ start: 0, end: size }];
      let at: number | null;
      try {
        at = firstDifference(e.abs, a.abs, size, ranges, bufs);
      } catch (err) {
        add(`cannot read: ${show(e.rel)}: ${String(err)}`);
        continue;
      }
      if (at !== null) add(`content differs: ${show(e.rel)}: first at byte ${at} of ${size}`);
    }
  }

  if (opts.xattrs) {
    const pairs = both.filter(([e]) => e.rel.length > 0 || opts.rootAttrs);
    const xe = await readXattrs(pairs.map(([e]) => e.abs));
    const xa = await readXattrs(pairs.map(([, a]) => a.abs));
    for (const err of [...xe.errors, ...xa.errors]) add(`cannot read xattrs: ${String(err.path)}: ${err.code} ${err.message}`);
    for (const [e, a] of pairs) {
      const me = xe.xattrs.get(e.abs) ?? new Map<string, Buffer>();
      const ma = xa.xattrs.get(a.abs) ?? new Map<string, Buffer>();
      const p = show(e.rel);
      for (const [n, v] of me) {
        const w = ma.get(n);
        if (w === undefined) add(`xattr missing: ${p}: ${n}`);
        else if (!w.equals(v)) add(`xattr differs: ${p}: ${n}: expected ${v.length} bytes ${v.subarray(0, 16).toString('hex')}, actual ${w.length} bytes ${w.subarray(0, 16).toString('hex')}`);
      }
      for (const n of ma.keys()) if (!me.has(n)) add(`xattr extra: ${p}: ${n}`);
    }
  }
  return diffs;
}

/** Fails the test with every difference listed when the trees differ. */
export async function expectSameTree(expectedDir: string, actualDir: string, opts: CompareOptions): Promise<void> {
  const diffs = await compareTrees(expectedDir, actualDir, opts);
  expect(diffs.join('\n'), `${expectedDir} vs ${actualDir}`).toBe('');
}
