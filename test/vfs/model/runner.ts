/**
 * Runs one call on the model and on the real filesystem and compares the
 * outcomes: the same error code, or success with the same result. Keeps a
 * trace of every call as it was resolved (paths, offsets, lengths), printed
 * when a sequence fails, and compares whole trees on request.
 *
 * ENOSPC. On volumes built to run out of space (`allowENOSPC`), any call
 * that may allocate (a block or an inode) may fail with ENOSPC where the
 * model expected success; the model then stays as it was, and the runner
 * compares the whole tree at once: a failed call must leave nothing behind.
 * A write may also be short (write(2) semantics: some bytes went in, the
 * next write gets ENOSPC); the model takes exactly the bytes written. When
 * the model knows the inodes are all used, a create MUST fail with ENOSPC.
 */
import { FsModel, ModelError, SKIP, type Apply, type MNode, type StatView } from './fs-model.js';
import type { RealHandle, RealStat, Target } from './targets.js';

export interface EnvOptions {
  /** ENOSPC is an accepted outcome of allocating calls (tiny images). */
  allowENOSPC: boolean;
  /** Growing calls are skipped when the files would hold more than this many bytes (keeps big images from filling). */
  dataBudget: number;
  /** Compare the whole tree, contents included, every this many commands. */
  fullCheckEvery: number;
  /** The volume's block size (what one xattr block holds). */
  blockSize: number;
}

/** Outcomes per call over a whole test run ("rename ENOTEMPTY" -> count), printed with EXT4KIT_MODEL_STATS=1. */
export const outcomeCounts = new Map<string, number>();

export function countOutcome(what: string, outcome: string): void {
  const key = `${what.split(' ')[0]} ${outcome}`;
  outcomeCounts.set(key, (outcomeCounts.get(key) ?? 0) + 1);
}

/** The counts as lines, for a log. */
export function outcomeReport(): string {
  return [...outcomeCounts].sort(([a], [b]) => (a < b ? -1 : 1)).map(([k, n]) => `${k}: ${n}`).join('\n');
}

export class Env {
  readonly trace: string[] = [];
  readonly handles: RealHandle[] = [];
  /** The host target could not follow the model (a recursive mkdir above its root): the rest of the sequence is dropped. */
  stopped = false;
  /** Commands run so far. */
  commands = 0;
  /** Node ids mapped to inode numbers seen: hard links must share one, different nodes must not. */
  private inoOf = new Map<number, bigint>();

  constructor(readonly model: FsModel, readonly target: Target, readonly opts: EnvOptions) {}

  log(s: string): void {
    this.trace.push(s);
  }

  /** The error (code) a real call failed with; anything that is not an errno-style error is a bug. */
  codeOf(e: unknown): string {
    const code = (e as { code?: unknown } | null)?.code;
    if (typeof code === 'string' && /^E[A-Z0-9]+$/.test(code)) return code;
    throw e;
  }

  /**
   * One call on both sides. `allocates`: ENOSPC is acceptable on a tiny
   * image ('always': on any volume, for limits the model does not know).
   * Returns what happened; on success `check` compared the results.
   */
  async step<T, R>(what: string, plan: () => Apply<T>, real: () => Promise<R>, check: (m: T, r: R) => void, allocates: boolean | 'always' = false): Promise<'ok' | 'error' | 'enospc' | 'skip'> {
    this.model.escaped = false;
    let apply: Apply<T> | undefined;
    let want: string | undefined;
    try {
      apply = plan();
    } catch (e) {
      if (!(e instanceof ModelError)) throw e;
      want = e.code;
    }
    if (want === SKIP) {
      this.log(`${what}: not comparable, skipped`);
      return 'skip';
    }
    if (this.target.host && this.model.escaped) {
      // Planning changed nothing, so this one call can simply be left out.
      this.log(`${what}: reaches above the root; the host cannot mirror that, skipped`);
      return 'skip';
    }
    let got: string | undefined;
    let r: R | undefined;
    try {
      r = await real();
    } catch (e) {
      got = this.codeOf(e);
    }
    this.log(`${what} -> ${got ?? 'ok'}${want !== got ? ` (model: ${want ?? 'ok'})` : ''}`);
    countOutcome(what, want === 'ENOSPC' && got === 'ENOSPC' ? 'ENOSPC (all inodes used, as the model knew)' : got ?? 'ok');
    if (got === 'ENOSPC' && want === undefined && (allocates === 'always' || (allocates && this.opts.allowENOSPC))) return 'enospc';
    if (want !== got) throw new Error(`${what}: Linux gives ${want ?? 'success'}, the target gave ${got ?? 'success'}`);
    if (want !== undefined) return 'error';
    check(apply!(), r as R);
    return 'ok';
  }

  /** Compares a real stat with the model's view of the node. */
  compareStat(what: string, m: StatView, r: RealStat, node?: MNode): void {
    const diffs: string[] = [];
    const cmp = (name: string, a: number | bigint, b: number | bigint): void => {
      if (BigInt(a) !== BigInt(b)) diffs.push(`${name} ${typeof a === 'number' && name === 'mode' ? a.toString(8) : String(a)} != ${name === 'mode' ? r.mode.toString(8) : String(b)}`);
    };
    cmp('mode', m.mode, r.mode);
    cmp('nlink', m.nlink, r.nlink);
    cmp('uid', m.uid, r.uid);
    cmp('gid', m.gid, r.gid);
    if (m.size !== undefined) cmp('size', m.size, r.size);
    if (m.rdev !== undefined) cmp('rdev', m.rdev, r.rdev);
    if (m.mtimeNs !== undefined) cmp('mtimeNs', m.mtimeNs, r.mtimeNs);
    if (m.atimeNs !== undefined) cmp('atimeNs', m.atimeNs, r.atimeNs);
    if (node !== undefined && m.nlink > 0) {
      const known = this.inoOf.get(node.id);
      if (known === undefined) {
        for (const [id, ino] of this.inoOf) if (ino === r.ino) diffs.push(`inode ${ino} is also model node ${id}`);
        this.inoOf.set(node.id, r.ino);
      } else if (known !== r.ino) diffs.push(`inode ${r.ino}, but this node was inode ${known}`);
    }
    if (diffs.length > 0) throw new Error(`${what}: model and target differ: ${diffs.join(', ')}`);
  }

  /** After a reopen inode numbers stay, but nodes freed meanwhile may have given theirs to new ones. */
  forgetInodes(): void {
    this.inoOf = new Map();
  }

  /** lstat of one path on both sides (and its listing if a directory). */
  async checkPath(p: string): Promise<void> {
    await this.step(`lstat ${p}`, () => this.model.stat(p, false), () => this.target.fs.lstat(p), (m, r) => this.compareStat(`lstat ${p}`, m, r));
  }

  /**
   * Every name, stat (with hard-link identity), listing and symlink target
   * on both sides; file contents too with `contents`.
   */
  async compareAll(why: string, contents: boolean): Promise<void> {
    this.log(`compare all (${why})`);
    const fs = this.target.fs;
    const rootStat = await fs.lstat('/');
    this.compareStat('/', this.model.statOf(this.model.root), rootStat);
    this.forgetInodes();
    const dirs: Array<{ path: string; node: MNode }> = [{ path: '/', node: this.model.root }];
    for (const e of this.model.entries()) {
      const r = await fs.lstat(e.path);
      this.compareStat(e.path, this.model.statOf(e.node), r, e.node);
      await this.compareXattrs(e.path, e.node);
      if (e.node.type === 'dir') dirs.push({ path: e.path, node: e.node });
      else if (e.node.type === 'symlink') {
        const t = await fs.readlink(e.path);
        this.model.noteRead(e.node);
        if (!t.equals(e.node.target)) throw new Error(`${e.path}: symlink target '${t.toString()}', model '${e.node.target.toString()}'`);
      } else if (e.node.type === 'file' && contents) {
        const data = await fs.readFile(e.path);
        this.model.noteRead(e.node);
        const at = firstDifference(data, this.model.contents(e.node));
        if (at !== undefined) throw new Error(`${e.path}: contents differ from byte ${at} (target ${data.length} bytes, model ${e.node.size})`);
      }
    }
    for (const d of dirs) {
      const names = (await fs.readdir(d.path)).sort();
      this.model.noteRead(d.node);
      const want = [...d.node.entries.keys()].sort();
      if (names.join('\n') !== want.join('\n')) throw new Error(`readdir ${d.path}: [${names.join(', ')}], model [${want.join(', ')}]`);
    }
  }

  /** The attributes of `node` must be exactly the model's, names and values (targets without xattr calls: nothing to do). */
  async compareXattrs(p: string, node: MNode): Promise<void> {
    const x = this.target.fs.xattrs;
    if (x === undefined) return;
    const names = (await x.list(p, false)).sort();
    const want = [...node.xattrs.keys()].sort();
    if (names.join(',') !== want.join(',')) throw new Error(`${p}: xattrs [${names.join(', ')}], model [${want.join(', ')}]`);
    for (const n of want) {
      const v = await x.get(p, n, false);
      if (!v.equals(node.xattrs.get(n)!)) throw new Error(`${p}: xattr ${n} has ${v.length} bytes, model ${node.xattrs.get(n)!.length}`);
    }
  }
}

export function firstDifference(a: Uint8Array, b: Uint8Array): number | undefined {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i;
  return a.length === b.length ? undefined : n;
}
