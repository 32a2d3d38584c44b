/**
 * `ext4kit cp HOSTPATH... IMG:DEST` (copy in), run as the built command on
 * real images. The judges: e2fsck -fn on every image written; the Linux
 * kernel reading the image through a loop mount (compared with the source
 * tree, or with the same copy made by GNU cp into a mounted image); debugfs
 * where no mount is needed; GNU cp on the host for the DEST rules.
 */
import * as fs from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { expectSameTree } from '../helpers/compare-tree.js';
import { debugfs } from '../helpers/debugfs.js';
import { expectFsckClean } from '../helpers/fsck.js';
import { mkfs } from '../helpers/images.js';
import { canLoopMount, describeLoopSkip, withMountedImage } from '../helpers/loop.js';
import { runChecked, runCommand } from '../helpers/run.js';
import { useTmpDir } from '../helpers/tmp.js';
import { generateTree, restoreTimes, type TreeManifest } from '../helpers/tree.js';
import { CLI_PATH, runBuiltCli } from './built-cli.js';
import { walk } from './tree-snapshot.js';

const tmp = useTmpDir('copy-in');
const loopOk = await canLoopMount();
const loopSkip = await describeLoopSkip();
const env = { LC_ALL: 'C', TZ: 'UTC' };
const cli = (...args: string[]) => runBuiltCli(args, { env, timeoutMs: 300_000 });

let m: TreeManifest;

let counter = 0;
async function freshImage(args: string[] = [], size = '1G'): Promise<string> {
  return mkfs(tmp.file(`img-${++counter}.img`), { size, args });
}

beforeAll(async () => {
  m = await generateTree(tmp.file('src'), { seed: 11, scale: 'small', blockSize: 1024 });
}, 120_000);

/** A copy that went without a single complaint. */
function expectTreeCopied(r: { code: number | null; stderr: string }): void {
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
}

describe('cp -a DIR/. IMG:/ makes the image hold the tree', () => {
  for (const [kind, args] of [['4 KiB blocks', []], ['1 KiB blocks', ['-b', '1024']], ['2 KiB blocks, no 64bit', ['-b', '2048', '-O', '^64bit']], ['inline_data', ['-O', 'inline_data']]] as const) {
    it.skipIf(!loopOk)(`${kind}: the kernel reads back every name, byte, mode, owner, ns time, link and special file${loopOk ? '' : ` (${loopSkip})`}`, async () => {
      const img = await freshImage([...args]);
      await restoreTimes(m);
      const r = await cli('cp', '-a', `${m.root}/.`, `${img}:/`);
      expectTreeCopied(r);
      await expectFsckClean(img);
      await restoreTimes(m);
      await withMountedImage(img, { readOnly: true }, async (mnt) => {
        await expectSameTree(m.root, mnt.dir, { times: 'ns', owners: true, xattrs: true });
        // The root takes the source folder's attributes, as with cp -a DIR/. DEST (its link count has lost+found in it too).
        const [a, b] = [fs.statSync(m.root, { bigint: true }), fs.statSync(mnt.dir, { bigint: true })];
        expect([b.mode, b.uid, b.gid, b.mtimeNs]).toEqual([a.mode, a.uid, a.gid, a.mtimeNs]);
      });
    }, 300_000);
  }

  it('without a kernel mount: debugfs sees the files and their contents', async () => {
    const img = await freshImage();
    expectTreeCopied(await cli('cp', '-a', `${m.root}/.`, `${img}:/`));
    await expectFsckClean(img);
    // debugfs re-encodes non-ASCII arguments: ASCII names only.
    const plain = (rel: string): boolean => /^[A-Za-z0-9_./-]+$/.test(rel);
    const picked = [...m.mediumFiles.filter(plain).slice(0, 3), ...m.smallFiles.filter(plain).slice(0, 3), ...m.bigFiles.filter(plain)];
    expect(picked.length).toBeGreaterThan(3);
    for (const rel of picked) {
      const out = tmp.file(`dump-${++counter}`);
      await debugfs(img, `dump /${rel} ${out}`);
      expect(fs.readFileSync(out).equals(fs.readFileSync(join(m.root, rel))), rel).toBe(true);
    }
    const group = m.hardLinkGroups.find((g) => g.every(plain))!;
    const stat = await debugfs(img, `stat /${group[0]}`);
    expect(stat).toMatch(new RegExp(`Links: ${group.length}\\b`));
  }, 300_000);
});

describe('cp -r (no -a) gives what GNU cp -r gives on a mounted image', () => {
  it.skipIf(!loopOk)(`modes (umask applied, set-ID bits dropped), owners, symlinks, special files${loopOk ? '' : ` (${loopSkip})`}`, async () => {
    const ours = await freshImage();
    const theirs = await freshImage();
    const r = await cli('cp', '-r', `${m.root}/tree`, `${m.root}/sizes`, `${m.root}/deep`, `${ours}:/`);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    await expectFsckClean(ours);
    await withMountedImage(theirs, {}, async (mnt) => {
      await runChecked('cp', ['-r', `${m.root}/tree`, `${m.root}/sizes`, `${m.root}/deep`, `${mnt.dir}/`]);
    });
    await withMountedImage(theirs, { readOnly: true }, async (a) => {
      await withMountedImage(ours, { readOnly: true }, async (b) => {
        await expectSameTree(a.dir, b.dir, { times: 'none', owners: true, xattrs: false });
      });
    });
  }, 300_000);
});

describe('DEST rules are GNU cp\'s', () => {
  /** A host tree and an image with the same starting content: `existing/` (a directory with `old`), `file` (a file). */
  async function setup(): Promise<{ host: string; img: string; src: string }> {
    const src = tmp.fresh('dest-src');
    fs.mkdirSync(join(src, 'd/sub'), { recursive: true });
    fs.writeFileSync(join(src, 'd/a'), 'a\n');
    fs.writeFileSync(join(src, 'd/sub/b'), 'bb\n');
    fs.writeFileSync(join(src, 'f1'), 'one\n');
    fs.writeFileSync(join(src, 'f2'), 'two\n');
    fs.symlinkSync('f1', join(src, 'lnk'));
    const host = tmp.fresh('dest-host');
    fs.mkdirSync(join(host, 'existing'));
    fs.writeFileSync(join(host, 'existing/old'), 'old\n');
    fs.writeFileSync(join(host, 'file'), 'previous contents, longer than the new\n');
    const img = await freshImage([], '64M');
    expect((await cli('mkdir', `${img}:/existing`)).code).toBe(0);
    expect((await cli('cp', join(host, 'existing/old'), `${img}:/existing/old`)).code).toBe(0);
    expect((await cli('cp', join(host, 'file'), `${img}:/file`)).code).toBe(0);
    return { host, img, src };
  }

  /** Snapshot of a tree: relative path -> type and contents. */
  async function snap(root: string): Promise<Record<string, string>> {
    const out: Record<string, string> = {};
    for (const rel of await walk(root)) {
      if (rel === 'lost+found' || rel.startsWith('lost+found/')) continue;
      const st = fs.lstatSync(join(root, rel));
      out[rel] = st.isDirectory() ? 'dir' : st.isSymbolicLink() ? `-> ${fs.readlinkSync(join(root, rel))}` : fs.readFileSync(join(root, rel), 'utf8');
    }
    return out;
  }

  const cases: Array<{ name: string; args: (src: string) => string[]; dest: string; fails?: string }> = [
    { name: 'a file to a new name', args: (s) => [`${s}/f1`], dest: '/new' },
    { name: 'a file over an existing file (overwritten)', args: (s) => [`${s}/f1`], dest: '/file' },
    { name: 'files into an existing directory', args: (s) => [`${s}/f1`, `${s}/f2`], dest: '/existing' },
    { name: 'a symlink operand without -r is followed', args: (s) => [`${s}/lnk`], dest: '/existing' },
    { name: '-r a directory to a new name', args: (s) => ['-r', `${s}/d`], dest: '/copy' },
    { name: '-r a directory into an existing one', args: (s) => ['-r', `${s}/d`], dest: '/existing' },
    { name: '-r DIR/. merges its contents', args: (s) => ['-r', `${s}/d/.`], dest: '/existing' },
    { name: '-r a symlink is copied as a symlink', args: (s) => ['-r', `${s}/lnk`, `${s}/f1`], dest: '/existing' },
    { name: 'a directory without -r is omitted, the rest copied', args: (s) => [`${s}/d`, `${s}/f2`], dest: '/existing', fails: 'omitting directory' },
    { name: 'several sources need a directory', args: (s) => [`${s}/f1`, `${s}/f2`], dest: '/file', fails: 'not a directory' },
    { name: 'a directory cannot replace a file', args: (s) => ['-r', `${s}/d`], dest: '/file', fails: 'cannot overwrite non-directory' },
    { name: 'the new name\'s parent must exist', args: (s) => [`${s}/f1`], dest: '/missing/x', fails: 'o such file or directory' },
  ];
  for (const c of cases) {
    it(c.name, async () => {
      const { host, img, src } = await setup();
      const gnu = await runCommand('cp', [...c.args(src), `${host}${c.dest}`], { env });
      const ours = await cli('cp', ...c.args(src), `${img}:${c.dest}`);
      expect(ours.code, ours.stderr).toBe(gnu.code);
      if (c.fails !== undefined) {
        expect(gnu.stderr.toLowerCase()).toContain(c.fails);
        expect(ours.stderr.toLowerCase()).toContain(c.fails);
        expect(ours.stderr).toMatch(/^ext4kit: cp: /);
      } else {
        expect(ours.stderr).toBe('');
      }
      await expectFsckClean(img);
      const out = tmp.fresh('rdump');
      await debugfs(img, `rdump / ${out}`);
      expect(await snap(out)).toEqual(await snap(host));
    }, 60_000);
  }
});

describe('small images', () => {
  for (const [name, args, size] of [['16 MiB, 4 KiB blocks', ['-b', '4096'], '16M'], ['8 MiB, 1 KiB blocks', ['-b', '1024'], '8M']] as const) {
    it(`${name} (a 1024-block journal: 256 blocks a transaction): a deep mkdir and a directory that outgrows one block`, async () => {
      const img = await freshImage([...args], size);
      const dir = tmp.fresh('many');
      for (let i = 0; i < 600; i++) fs.writeFileSync(join(dir, `entry-with-a-longish-name-${i}`), i % 7 === 0 ? `${i}\n` : '');
      const mk = await cli('mkdir', '-p', `${img}:/a/b/c`);
      expect([mk.code, mk.stderr]).toEqual([0, '']);
      const r = await cli('cp', '-r', dir, `${img}:/a/b/c/many`);
      expect([r.code, r.stderr]).toEqual([0, '']);
      await expectFsckClean(img);
      expect(await debugfs(img, 'htree /a/b/c/many')).toMatch(/Root node dump:/);
      const out = tmp.fresh('small-rdump');
      await debugfs(img, `rdump /a/b/c/many ${out}`);
      expect(fs.readdirSync(join(out, 'many')).length).toBe(600);
    });
  }
});

describe('special inputs', () => {
  it('- copies standard input into a file', async () => {
    const img = await freshImage([], '64M');
    const data = Buffer.alloc(300_000);
    for (let i = 0; i < data.length; i++) data[i] = (i * 7 + (i >> 9)) & 0xff;
    const src = tmp.file('stdin.bin');
    fs.writeFileSync(src, data);
    const r = await runCommand('sh', ['-c', `"${process.execPath}" "${CLI_PATH}" cp - "${img}:/from-stdin" < "${src}"`], { env });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    await expectFsckClean(img);
    const out = tmp.file('stdin.out');
    await debugfs(img, `dump /from-stdin ${out}`);
    expect(fs.readFileSync(out).equals(data)).toBe(true);
  });

  it('a sparse file stays sparse, and reads back the same', async () => {
    const img = await freshImage([], '256M');
    const src = tmp.file('sparse.bin');
    const fd = fs.openSync(src, 'w');
    fs.writeSync(fd, Buffer.alloc(8192, 0xab), 0, 8192, 0);
    fs.writeSync(fd, Buffer.alloc(4096, 0xcd), 0, 4096, 100 << 20);
    fs.ftruncateSync(fd, (100 << 20) + 10_000);
    fs.closeSync(fd);
    const r = await cli('cp', src, `${img}:/sparse`);
    expect(r.stderr).toBe('');
    await expectFsckClean(img);
    const stat = await debugfs(img, 'stat /sparse');
    expect(stat).toContain(`Size: ${(100 << 20) + 10_000}`);
    const blocks = Number(/Blockcount: (\d+)/.exec(stat)![1]);
    expect(blocks * 512).toBeLessThan(64 * 1024);
    const out = tmp.file('sparse.out');
    await debugfs(img, `dump /sparse ${out}`);
    expect(fs.readFileSync(out).equals(fs.readFileSync(src))).toBe(true);
  });

  it('errors name the operand, say what happened, and give the code; the exit status is 1', async () => {
    const img = await freshImage([], '64M');
    const r = await cli('cp', tmp.file('does-not-exist'), `${img}:/x`);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`ext4kit: cp: ${tmp.file('does-not-exist')}: no such file or directory (ENOENT)\n`);
    const full = await freshImage([], '64M');
    const big = tmp.file('big-for-small');
    fs.writeFileSync(big, Buffer.alloc(80 << 20, 1));
    const r2 = await cli('cp', big, `${full}:/big`);
    expect(r2.code).toBe(1);
    expect(r2.stderr).toMatch(new RegExp(`^ext4kit: cp: ${full.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:/big: no space left on device \\(ENOSPC\\)\n$`));
    await expectFsckClean(full);
    // Out of inodes: each file that does not fit is reported, the rest is copied, the image stays consistent.
    const few = await freshImage(['-N', '32'], '64M');
    const many = tmp.sub('many-files');
    for (let i = 0; i < 80; i++) fs.writeFileSync(join(many, `f${String(i).padStart(2, '0')}`), `${i}\n`);
    const r3 = await cli('cp', '-r', many, `${few}:/`);
    expect(r3.code).toBe(1);
    const lines = r3.stderr.trim().split('\n');
    expect(lines.length).toBeGreaterThan(0);
    for (const line of lines) expect(line).toMatch(/^ext4kit: cp: .*:\/many-files\/f\d\d: no space left on device \(ENOSPC\)$/);
    await expectFsckClean(few);
    const listed = (await debugfs(few, 'ls -l /many-files')).split('\n').filter((l) => / f\d\d\s*$/.test(l));
    expect(listed.length + lines.length).toBe(80);
  });
});
