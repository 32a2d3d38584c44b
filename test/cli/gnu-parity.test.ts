/**
 * The CLI's own logic, in-process, over a host directory standing in for
 * an image (host-volume.ts). The same files are then given to GNU ls, stat
 * and cp: what they print and copy is the expected result. This pins the
 * output formats and cp's DEST rules independently of the ext4 engine.
 */
import * as fsp from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../../src/cli/program.js';
import { runCommand } from '../helpers/run.js';
import { useTmpDir } from '../helpers/tmp.js';
import { makeFixtureTree, isRoot } from './fixture-tree.js';
import { hostEnv } from './host-volume.js';
import { linkGroups, snapshot, view } from './tree-snapshot.js';

// A zone with a half-hour offset catches time zone handling that only works for UTC.
const TZ = 'Asia/Kolkata';
process.env.TZ = TZ;

const tmp = useTmpDir('gnu-parity');
const base = tmp.path;
const tree = join(base, 'tree');

async function gnu(cmd: string, args: string[], cwd = base): Promise<{ status: number; stdout: string; stderr: string }> {
  const r = await runCommand(cmd, args, { cwd, env: { LC_ALL: 'C', TZ } });
  return { status: r.code ?? -1, stdout: r.stdout, stderr: r.stderr };
}

async function ours(...argv: string[]): Promise<{ status: number; stdout: string; stderr: string }> {
  const { env, out, err } = hostEnv(base);
  const status = await runCli(argv, env);
  return { status, stdout: out.text, stderr: err.text };
}

beforeAll(async () => {
  await makeFixtureTree(tree);
});

afterAll(async () => {
  // So that the temp dir can be removed also when not running as root.
  await fsp.chmod(join(tree, 'readonly-dir'), 0o755).catch(() => undefined);
});

describe('ls matches GNU ls -n in the C locale', () => {
  it('-l of the root', async () => {
    const g = await gnu('ls', ['-ln', tree]);
    const o = await ours('ls', '-l', 'tree:/');
    expect(o.stderr).toBe('');
    expect(o.stdout).toBe(g.stdout);
  });

  it('-l -a -R of a subdirectory (headers, totals, . and ..)', async () => {
    const g = await gnu('ls', ['-lnaR', join(tree, 'sub')]);
    const o = await ours('ls', '-l', '-a', '-R', 'tree:/sub');
    expect(o.stdout).toBe(g.stdout.replaceAll(`${tree}/`, '/'));
  });

  it('-R and -a without -l', async () => {
    const g = await gnu('ls', ['-aR', tree]);
    const o = await ours('ls', '-aR', 'tree:/');
    // GNU's '..' of the tree is the host's; in an image the root is its own parent. Names only here.
    expect(o.stdout).toBe(g.stdout.replaceAll(`${tree}/`, '/').replace(`${tree}:`, '/:'));
  });

  it('file operands and directory operands together', async () => {
    const g = await gnu('ls', ['-ln', 'hello.txt', 'sub', 'link-rel', 'chardev', 'sticky'].filter((n) => isRoot || n !== 'chardev'), tree);
    const o = await ours('ls', '-l', ...['hello.txt', 'sub', 'link-rel', 'chardev', 'sticky'].filter((n) => isRoot || n !== 'chardev').map((n) => `tree:/${n}`));
    expect(o.stdout).toBe(g.stdout.replace(/^(hello\.txt|link-rel|chardev)/gm, '/$1').replace(/^(sub|sticky):$/gm, '/$1:')
      .replace(/(\d\d:\d\d|  \d{4}) (hello\.txt|link-rel|chardev)/g, '$1 /$2'));
  });

  it('--json has the fields of lstat', async () => {
    const o = await ours('ls', '--json', 'tree:/');
    const entries = JSON.parse(o.stdout) as Array<Record<string, unknown>>;
    const hello = entries.find((e) => e.name === 'hello.txt')!;
    const st = await fsp.lstat(join(tree, 'hello.txt'), { bigint: true });
    expect(hello).toMatchObject({ type: 'file', mode: Number(st.mode), nlink: 1, uid: Number(st.uid), size: 6, mtimeNs: st.mtimeNs.toString() });
    expect(entries.find((e) => e.name === 'link-rel')).toMatchObject({ type: 'symlink', target: 'hello.txt' });
    expect(entries.find((e) => e.name === 'sub')).toMatchObject({ type: 'directory' });
    expect(entries.some((e) => e.name === '.hidden')).toBe(false);
  });
});

describe('stat matches GNU stat', () => {
  const names = ['hello.txt', 'empty', 'suid', 'sticky', 'link-rel', 'fifo', 'sparse.img', 'name with space', ...(isRoot ? ['chardev', 'blockdev', 'owned', 'bigid'] : [])];
  for (const name of names) {
    it(name, async () => {
      const g = await gnu('stat', [join(tree, name)]);
      const o = await ours('stat', `tree:/${name}`);
      expect(o.stdout).toBe(g.stdout.replace(`  File: ${tree}/`, '  File: /'));
    });
  }

  it('--json', async () => {
    const o = await ours('stat', '--json', 'tree:/hello.txt');
    const st = await fsp.lstat(join(tree, 'hello.txt'), { bigint: true });
    expect(JSON.parse(o.stdout)).toMatchObject({
      path: '/hello.txt', type: 'file', size: 6, ino: Number(st.ino), mode: Number(st.mode), modeString: '-rw-r--r--',
      atimeNs: st.atimeNs.toString(), mtimeNs: st.mtimeNs.toString(), ctimeNs: st.ctimeNs.toString(),
    });
  });
});

describe('cat', () => {
  it('concatenates files byte for byte', async () => {
    const { env, out, err } = hostEnv(base);
    const status = await runCli(['cat', 'tree:/hello.txt', 'tree:/big.bin', 'tree:/sparse.img'], env);
    expect(err.text).toBe('');
    expect(status).toBe(0);
    const want = Buffer.concat(await Promise.all(['hello.txt', 'big.bin', 'sparse.img'].map((n) => fsp.readFile(join(tree, n)))));
    expect(out.bytes.equals(want)).toBe(true);
  });

  it('reports a missing file and a directory, and goes on', async () => {
    const o = await ours('cat', 'tree:/nope', 'tree:/sub', 'tree:/hello.txt');
    expect(o.status).toBe(1);
    expect(o.stdout).toBe('hello\n');
    expect(o.stderr).toBe(
      'ext4kit: cat: tree:/nope: no such file or directory (ENOENT)\n'
      + 'ext4kit: cat: tree:/sub: illegal operation on a directory (EISDIR)\n');
  });
});

/** Runs GNU cp on host paths and ours on image paths into two fresh areas set up alike; returns both outcomes. */
async function cpBoth(setup: (dir: string) => Promise<void>, gnuArgs: (dir: string) => string[], ourArgs: (dir: string) => string[]) {
  const area = tmp.fresh('cp');
  const g = join(area, 'gnu');
  const o = join(area, 'ours');
  await fsp.mkdir(g);
  await fsp.mkdir(o);
  await setup(g);
  await setup(o);
  const gr = await gnu('cp', gnuArgs(g));
  const before = await snapshot(tree, false);
  const or = await ours('cp', ...ourArgs(o));
  return { g, o, gr, or, before };
}

describe('cp follows GNU cp\'s rules for DEST', () => {
  const mkdirIn = (name: string) => async (d: string) => { await fsp.mkdir(join(d, name)); };
  const fileIn = (name: string) => async (d: string) => { await fsp.writeFile(join(d, name), 'old contents that are longer\n'); await fsp.chmod(join(d, name), 0o600); };
  const none = async () => {};
  const cases: Array<{ what: string; setup: (d: string) => Promise<void>; gnu: (d: string) => string[]; ours: (d: string) => string[] }> = [
    { what: 'file to a new name', setup: none, gnu: (d) => [join(tree, 'hello.txt'), join(d, 'new')], ours: (d) => ['tree:/hello.txt', join(d, 'new')] },
    { what: 'file into an existing directory', setup: mkdirIn('dir'), gnu: (d) => [join(tree, 'hello.txt'), join(d, 'dir')], ours: (d) => ['tree:/hello.txt', join(d, 'dir')] },
    { what: 'file over an existing file (its mode stays)', setup: fileIn('f'), gnu: (d) => [join(tree, 'hello.txt'), join(d, 'f')], ours: (d) => ['tree:/hello.txt', join(d, 'f')] },
    { what: 'directory to a new name', setup: none, gnu: (d) => ['-r', join(tree, 'sub'), join(d, 'copy')], ours: (d) => ['-r', 'tree:/sub', join(d, 'copy')] },
    { what: 'directory into an existing directory', setup: mkdirIn('dir'), gnu: (d) => ['-r', join(tree, 'sub'), join(d, 'dir')], ours: (d) => ['-r', 'tree:/sub', join(d, 'dir')] },
    { what: 'directory merged into an existing copy', setup: async (d) => { await fsp.mkdir(join(d, 'dir/sub'), { recursive: true }); await fsp.writeFile(join(d, 'dir/sub/extra'), 'x'); }, gnu: (d) => ['-r', join(tree, 'sub'), join(d, 'dir')], ours: (d) => ['-r', 'tree:/sub', join(d, 'dir')] },
    { what: 'directory without -r is omitted', setup: none, gnu: (d) => [join(tree, 'sub'), join(d, 'x')], ours: (d) => ['tree:/sub', join(d, 'x')] },
    { what: 'several sources, DEST missing', setup: none, gnu: (d) => [join(tree, 'hello.txt'), join(tree, 'empty'), join(d, 'missing')], ours: (d) => ['tree:/hello.txt', 'tree:/empty', join(d, 'missing')] },
    { what: 'several sources, DEST a file', setup: fileIn('f'), gnu: (d) => [join(tree, 'hello.txt'), join(tree, 'empty'), join(d, 'f')], ours: (d) => ['tree:/hello.txt', 'tree:/empty', join(d, 'f')] },
    { what: 'several sources into a directory, one omitted', setup: mkdirIn('dir'), gnu: (d) => [join(tree, 'hello.txt'), join(tree, 'sub'), join(tree, 'empty'), join(d, 'dir')], ours: (d) => ['tree:/hello.txt', 'tree:/sub', 'tree:/empty', join(d, 'dir')] },
    { what: 'a symlink without -r is followed', setup: none, gnu: (d) => [join(tree, 'link-rel'), join(d, 'x')], ours: (d) => ['tree:/link-rel', join(d, 'x')] },
    { what: 'a symlink with -r is copied as a symlink', setup: none, gnu: (d) => ['-r', join(tree, 'link-rel'), join(d, 'x')], ours: (d) => ['-r', 'tree:/link-rel', join(d, 'x')] },
    { what: 'directory over an existing file fails', setup: fileIn('f'), gnu: (d) => ['-r', join(tree, 'sub'), join(d, 'f')], ours: (d) => ['-r', 'tree:/sub', join(d, 'f')] },
    { what: 'file to a missing name with a trailing slash fails', setup: none, gnu: (d) => [join(tree, 'hello.txt'), `${join(d, 'nodir')}/`], ours: (d) => ['tree:/hello.txt', `${join(d, 'nodir')}/`] },
    { what: 'file into a missing parent fails', setup: none, gnu: (d) => [join(tree, 'hello.txt'), join(d, 'no/such')], ours: (d) => ['tree:/hello.txt', join(d, 'no/such')] },
    { what: 'into a symlink to a directory', setup: async (d) => { await fsp.mkdir(join(d, 'real')); await fsp.symlink('real', join(d, 'via')); }, gnu: (d) => [join(tree, 'hello.txt'), join(d, 'via')], ours: (d) => ['tree:/hello.txt', join(d, 'via')] },
    { what: 'the root to a new name (-r)', setup: none, gnu: (d) => ['-r', tree, join(d, 'out')], ours: (d) => ['-r', 'tree:/', join(d, 'out')] },
    // The root has no name: into an existing directory its contents are merged, as `cp -r tree/. dir` does.
    { what: 'the root into an existing directory', setup: mkdirIn('dir'), gnu: (d) => ['-r', `${tree}/.`, join(d, 'dir')], ours: (d) => ['-r', 'tree:/', join(d, 'dir')] },
  ];
  for (const c of cases) {
    it(c.what, async () => {
      const { g, o, gr, or } = await cpBoth(c.setup, c.gnu, c.ours);
      expect(or.status === 0, `ours: ${or.stderr}\ngnu: ${gr.stderr}`).toBe(gr.status === 0);
      if (or.status !== 0) expect(or.stderr).toMatch(/^ext4kit: cp: .+: .+ \(E[A-Z]+\)$/m);
      expect(view(await snapshot(o))).toEqual(view(await snapshot(g)));
    });
  }

  it('the error format names the operand and the code', async () => {
    const area = tmp.fresh('cp');
    const o = await ours('cp', 'tree:/sub', 'tree:/nope', join(area, 'x'));
    expect(o.stderr).toBe('ext4kit: cp: ' + join(area, 'x') + ': target directory does not exist (ENOENT)\n');
    const o2 = await ours('cp', 'tree:/sub', 'tree:/nope', area);
    expect(o2.status).toBe(1);
    expect(o2.stderr).toBe(
      'ext4kit: cp: tree:/sub: -r not specified; omitting directory (EISDIR)\n'
      + 'ext4kit: cp: tree:/nope: no such file or directory (ENOENT)\n');
  });
});

describe('cp copies trees as GNU cp does', () => {
  it('-r: modes from the source minus the umask, symlinks as symlinks, special files recreated, nothing else kept', async () => {
    const { g, o, gr, or } = await cpBoth(async () => {}, (d) => ['-r', tree, join(d, 'out')], (d) => ['-r', 'tree:/', join(d, 'out')]);
    expect(or.stderr).toBe('');
    expect(gr.status).toBe(0);
    expect(view(await snapshot(o), { owners: true })).toEqual(view(await snapshot(g), { owners: true }));
    expect(linkGroups(await snapshot(join(o, 'out')))).toEqual([]);
  });

  it('-a: everything kept, times to the nanosecond, hard links, xattrs', async () => {
    const { g, o, gr, or, before } = await cpBoth(async () => {}, (d) => ['-a', tree, join(d, 'out')], (d) => ['-a', 'tree:/', join(d, 'out')]);
    expect(or.stderr).toBe('');
    expect(gr.status).toBe(0);
    const opts = { owners: true, mtime: true, xattrs: true };
    const mine = await snapshot(join(o, 'out'));
    expect(view(mine, opts)).toEqual(view(await snapshot(join(g, 'out')), opts));
    expect(linkGroups(mine)).toEqual([['hard1', 'sub/hard2']]);
    // GNU's run read the files first (and may have moved their atimes): check ours against the source as it was.
    for (const [rel, n] of mine) {
      if ((n.mode & 0o170000) === 0o040000) continue;
      expect(n.atimeNs, rel).toBe(before.get(rel)!.atimeNs);
    }
    // Sparse files stay sparse.
    expect(mine.get('sparse.img')!.blocks * 512n < 1n << 20n).toBe(true);
    expect(mine.get('hole-only')!.blocks).toBe(0n);
  });
});

describe('arguments', () => {
  it('--help works on every command', async () => {
    for (const c of ['info', 'ls', 'cat', 'stat', 'cp']) {
      const o = await ours(c, '--help');
      expect(o.status).toBe(0);
      expect(o.stdout).toMatch(new RegExp(`^Usage: ext4kit ${c} `));
      expect(o.stdout).toContain('--offset');
    }
  });

  it('usage errors exit 1 with a message', async () => {
    const a = await ours('ls', '--bogus', 'tree:/');
    expect(a.status).toBe(1);
    expect(a.stderr).toMatch(/^ext4kit: ls: unknown option '--bogus'/);
    const b = await ours('cp', 'tree:/hello.txt');
    expect(b.status).toBe(1);
    expect(b.stderr).toBe("ext4kit: cp: missing destination file operand after 'tree:/hello.txt'\n");
    const c = await ours('ls', '--offset', 'lots', 'tree:/');
    expect(c.status).toBe(1);
    expect(c.stderr).toMatch(/^ext4kit: ls: invalid offset 'lots'/);
    const d = await ours('frobnicate');
    expect(d.status).toBe(1);
  });

  it('info prints the volume summary', async () => {
    const o = await ours('info', 'tree');
    expect(o.status).toBe(0);
    expect(o.stdout).toMatch(/^Filesystem UUID: +01234567-89ab-cdef-0123-456789abcdef$/m);
    const j = JSON.parse((await ours('info', '--json', 'tree')).stdout) as Record<string, unknown>;
    expect(j).toMatchObject({ blockSize: 4096, uuid: '01234567-89ab-cdef-0123-456789abcdef', lastMountTime: null });
  });
});
