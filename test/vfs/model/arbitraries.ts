/**
 * What the random sequences are made of: weighted fast-check arbitraries
 * for every operation, and the command wrapper that runs one against an Env
 * and prints as a readable line when fast-check reports a counterexample.
 */
import fc from 'fast-check';
import type { OpenFlag } from './fs-model.js';
import type { Env } from './runner.js';
import * as op from './commands.js';
import type { DataSpec, PathSpec, Pos } from './commands.js';

export interface Profile {
  /** Largest single write (bytes); multi-MiB on images that hold it. */
  bigWrite: number;
  /** Commands per sequence. */
  maxCommands: number;
  /** mknod (the host target cannot run it). */
  mknod: boolean;
  /** Close and reopen the volume (a host directory just closes its files). */
  reopen: boolean;
  /** Add bursts of creates and multi-MiB files, to run a tiny volume out of inodes and blocks. */
  pressure?: boolean;
  /** Extended attribute calls (the volume target has them). */
  xattrs?: boolean;
}

class Cmd implements fc.AsyncCommand<Env, Env> {
  constructor(private readonly label: string, private readonly args: unknown, private readonly fn: (env: Env) => Promise<unknown>) {}

  check(env: Readonly<Env>): boolean {
    return !env.stopped;
  }

  async run(env: Env): Promise<void> {
    await this.fn(env);
    env.commands++;
    const every = env.opts.fullCheckEvery;
    if (env.commands % every === 0 && !env.stopped) await env.compareAll(`every ${every} commands`, true);
  }

  toString(): string {
    return `${this.label} ${JSON.stringify(this.args, (_k, v: unknown) => (typeof v === 'string' && v.length > 24 ? `${v.slice(0, 8)}…(${v.length})` : v))}`;
  }
}

const weighted = <T>(...xs: Array<[number, fc.Arbitrary<T>]>): fc.Arbitrary<T> => fc.oneof(...xs.map(([weight, arbitrary]) => ({ weight, arbitrary })));

const name = weighted<string>(
  [24, fc.constantFrom('a', 'b', 'c', 'd', 'e', 'sub', 'f1')],
  [2, fc.constantFrom('é-ü', 'x'.repeat(255))],
  [1, fc.constantFrom('.', '..', 'y'.repeat(256))],
);
const slash = weighted([20, fc.constant(false)], [1, fc.constant(true)]);
const pathSpec: fc.Arbitrary<PathSpec> = weighted<PathSpec>(
  [6, fc.record({ k: fc.constant('entry' as const), i: fc.nat(), slash })],
  [5, fc.record({ k: fc.constant('in' as const), i: fc.nat(), name, slash })],
  [1, fc.record({ k: fc.constant('raw' as const), comps: fc.array(name, { maxLength: 4 }), slash })],
);
/** Paths of new files: mostly a plain name in some directory. */
const newPath: fc.Arbitrary<PathSpec> = fc.record({ k: fc.constant('in' as const), i: fc.nat(), name: fc.constantFrom('a', 'b', 'c', 'd', 'e', 'sub', 'f1', 'g', 'h'), slash: fc.constant(false) });

function dataSpec(big: number): fc.Arbitrary<DataSpec> {
  const len = weighted<number>(
    [10, fc.integer({ min: 1, max: 300 })],
    [5, fc.tuple(fc.integer({ min: 1, max: 8 }), fc.integer({ min: -3, max: 3 })).map(([k, d]) => Math.max(1, k * 1024 + d))],
    [4, fc.integer({ min: 301, max: 70_000 })],
    [1, fc.integer({ min: 256 << 10, max: Math.max(256 << 10, big) })],
  );
  return fc.record({ len, seed: fc.nat(), fill: weighted<number | null>([5, fc.constant(null)], [1, fc.constantFrom(0, 0xff, 0x5a)]) });
}

const pos: fc.Arbitrary<Pos> = weighted<Pos>(
  [4, fc.constant({ k: 'zero' as const })],
  [4, fc.integer({ min: 0, max: 1000 }).map((f) => ({ k: 'in' as const, f: f / 1000 }))],
  [3, fc.integer({ min: 0, max: 100_000 }).map((gap) => ({ k: 'end' as const, gap }))],
  [1, fc.integer({ min: 0, max: 8 << 20 }).map((at) => ({ k: 'far' as const, at }))],
);
const fileMode = fc.constantFrom(0o644, 0o600, 0o755, 0o4755, 0o2755, 0o2644, 0o6711, 0o1644, 0o000, 0o777, 0o640);
const dirMode = fc.constantFrom(0o755, 0o700, 0o777, 0o1755, 0o2755, 0o4755, 0o750, 0o500);
const id = fc.constantFrom(0, 1, 1000, 65534, 65535, 65536, 100_000, 4_294_967_294, -1);
const time = fc.record({
  sec: fc.constantFrom(0, 1, 1_000_000_000, 1_234_567_890, 1_700_000_000, 2_147_483_647, 2_147_483_648, 4_102_444_800),
  eighths: fc.integer({ min: 0, max: 7 }),
});
const flag = fc.constantFrom<OpenFlag>('r', 'r+', 'w', 'w+', 'wx', 'a', 'a+', 'ax');
const targets = weighted<string>(
  [10, fc.constantFrom('a', 'b', 'sub', 'sub/a', '../a', '../../b', 'nowhere', '.', '..', 'é-ü', 'c/d/e')],
  [2, fc.constantFrom('/a', '/sub/c')],
  [2, fc.constantFrom('l'.repeat(61), 'm'.repeat(200), 'n'.repeat(1100))],
  [1, fc.constantFrom('', 'q'.repeat(4096))],
);

/** The weighted mix of every operation, as commands. */
export function commandsFor(p: Profile): fc.Arbitrary<Iterable<fc.AsyncCommand<Env, Env>>> {
  const data = dataSpec(p.bigWrite);
  const c = <A>(label: string, args: fc.Arbitrary<A>, fn: (env: Env, a: A) => Promise<unknown>): fc.Arbitrary<Cmd> =>
    args.map((a) => new Cmd(label, a, (env) => fn(env, a)));
  const mix: Array<[number, fc.Arbitrary<Cmd>]> = [
    [4, c('stat', fc.record({ p: pathSpec, follow: fc.boolean() }), op.opStat)],
    [2, c('readdir', fc.record({ p: pathSpec }), op.opReaddir)],
    [3, c('readFile', fc.record({ p: pathSpec }), op.opReadFile)],
    [6, c('writeFile', fc.record({ p: weighted([3, newPath], [2, pathSpec]), flag: fc.constantFrom<OpenFlag>('w', 'a', 'wx', 'ax'), mode: fileMode, data }), op.opWriteFile)],
    [3, c('truncate', fc.record({ p: pathSpec, len: pos }), op.opTruncate)],
    [5, c('mkdir', fc.record({ p: weighted([3, newPath], [2, pathSpec]), mode: dirMode, recursive: weighted([3, fc.constant(false)], [1, fc.constant(true)]) }), op.opMkdir)],
    [2, c('rmdir', fc.record({ p: pathSpec }), op.opRmdir)],
    [3, c('unlink', fc.record({ p: pathSpec }), op.opUnlink)],
    [5, c('rename', fc.record({ from: pathSpec, to: weighted([1, newPath], [2, pathSpec]) }), op.opRename)],
    [2, c('link', fc.record({ from: pathSpec, to: weighted([2, newPath], [1, pathSpec]) }), op.opLink)],
    [3, c('symlink', fc.record({ target: targets, p: weighted([3, newPath], [1, pathSpec]) }), op.opSymlink)],
    [1, c('readlink', fc.record({ p: pathSpec }), op.opReadlink)],
    [2, c('chmod', fc.record({ p: pathSpec, mode: weighted([1, fileMode], [1, dirMode]) }), op.opChmod)],
    [2, c('chown', fc.record({ p: pathSpec, uid: id, gid: id }), op.opChown)],
    [2, c('utimes', fc.record({ p: pathSpec, atime: time, mtime: time }), op.opUtimes)],
    [3, c('open', fc.record({ p: weighted([1, newPath], [2, pathSpec]), flag, mode: fileMode }), op.opOpen)],
    [5, c('write', fc.record({ h: fc.nat(), data, pos: weighted<Pos | null>([1, fc.constant(null)], [2, pos]) }), op.opHandleWrite)],
    [3, c('read', fc.record({ h: fc.nat(), len: fc.integer({ min: 1, max: 70_000 }), pos: weighted<Pos | null>([1, fc.constant(null)], [2, pos]) }), op.opHandleRead)],
    [2, c('ftruncate', fc.record({ h: fc.nat(), len: pos }), op.opHandleTruncate)],
    [1, c('fstat', fc.record({ h: fc.nat() }), op.opHandleStat)],
    [3, c('close', fc.record({ h: fc.nat() }), op.opHandleClose)],
    [2, c('orphan', fc.record({ p: newPath, data, at: fc.integer({ min: 0, max: 200_000 }) }), op.opOrphanCycle)],
  ];
  if (p.mknod) {
    mix.push([1, c('mknod', fc.record({
      p: newPath, type: fc.constantFrom('fifo' as const, 'chr' as const, 'blk' as const, 'sock' as const), perm: fileMode,
      rdev: fc.constantFrom(op.makedev(1, 3), op.makedev(8, 1), op.makedev(300, 70_000), op.makedev(4095, 0xfffff)),
    }), op.opMknod)]);
  }
  if (p.xattrs === true) {
    const xname = weighted<string>([6, fc.constantFrom('user.a', 'user.bb', 'trusted.t')], [1, fc.constantFrom(`user.${'n'.repeat(60)}`, 'security.s')]);
    const xvalue = fc.record({
      len: weighted<number>([2, fc.constant(0)], [6, fc.integer({ min: 1, max: 60 })], [3, fc.integer({ min: 61, max: 400 })], [2, fc.integer({ min: 401, max: 3000 })]),
      seed: fc.nat(), fill: fc.constant(null),
    });
    const xargs = { p: pathSpec, name: xname, follow: weighted([3, fc.constant(true)], [1, fc.constant(false)]) };
    mix.push([4, c('setxattr', fc.record({ ...xargs, value: xvalue, flag: fc.constantFrom(undefined, 'create' as const, 'replace' as const) }), op.opSetxattr)]);
    mix.push([2, c('getxattr', fc.record(xargs), op.opGetxattr)]);
    mix.push([1, c('listxattr', fc.record({ p: pathSpec, follow: fc.boolean() }), op.opListxattr)]);
    mix.push([2, c('removexattr', fc.record(xargs), op.opRemovexattr)]);
  }
  if (p.reopen) mix.push([1, c('reopen', fc.constant(null), (env) => op.opReopen(env))]);
  const burst = fc.record({ dir: fc.nat(), count: fc.integer({ min: 5, max: 40 }), kind: fc.constantFrom('file' as const, 'dir' as const, 'symlink' as const), long: fc.boolean() });
  mix.push([1, c('burst', burst, op.opBurst)]);
  mix.push([1, c('sweep', fc.record({ dir: fc.nat(), stride: fc.integer({ min: 1, max: 3 }), offset: fc.nat() }), op.opSweep)]);
  if (p.pressure === true) {
    const bigData = fc.record({ len: fc.integer({ min: 1 << 20, max: 6 << 20 }), seed: fc.nat(), fill: fc.constant(null) });
    mix.push([3, c('fill', fc.record({ p: newPath, flag: fc.constantFrom<OpenFlag>('w', 'a'), mode: fileMode, data: bigData }), op.opWriteFile)]);
    mix.push([3, c('burst', burst, op.opBurst)]);
  }
  // fast-check prints a replayPath with each counterexample; EXT4KIT_MODEL_REPLAY feeds it back (with the seed and path).
  const replayPath = process.env.EXT4KIT_MODEL_REPLAY;
  return fc.commands([weighted(...mix)], { maxCommands: p.maxCommands, size: 'max', ...(replayPath ? { replayPath } : {}) });
}
