/**
 * The built `ext4kit` write commands (mkdir, rm, mv, ln, chmod, chown,
 * touch, truncate, xattr) on real images. The oracles: GNU coreutils doing
 * the same on a host folder (modes, sizes, times, the resulting tree, exit
 * codes), then the image read back by debugfs and, when loop mounts work,
 * by the kernel; e2fsck -fn after every command sequence.
 */
import * as fs from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { expectSameTree } from '../helpers/compare-tree.js';
import { debugfs, debugfsBatch, dumpe2fs } from '../helpers/debugfs.js';
import { expectFsckClean } from '../helpers/fsck.js';
import { embedInDisk, mkfs } from '../helpers/images.js';
import { canLoopMount, describeLoopSkip, withMountedImage } from '../helpers/loop.js';
import { runCommand } from '../helpers/run.js';
import { useTmpDir } from '../helpers/tmp.js';
import { CLI_PATH } from './built-cli.js';

const tmp = useTmpDir('write-cli');
const loopOk = await canLoopMount();
const loopSkip = await describeLoopSkip();
// A zone with a half-hour offset, so local-time parsing that only works in UTC shows; umask 027 so its effect shows.
const env = { LC_ALL: 'C', TZ: 'Asia/Kolkata' };
const UMASK = '027';

/** Runs a shell command line with umask 027 (GNU tools and ext4kit alike). */
async function sh(line: string, cwd?: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const r = await runCommand('sh', ['-c', `umask ${UMASK}; ${line}`], { env, cwd, timeoutMs: 120_000 });
  return { code: r.code, stdout: r.stdout, stderr: r.stderr };
}

const q = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;
const EXT4KIT = `${q(process.execPath)} ${q(CLI_PATH)}`;
const ours = (img: string, args: string): Promise<{ code: number | null; stdout: string; stderr: string }> =>
  sh(`${EXT4KIT} ${args.replace(/@\//g, `${q(img)}:/`)}`);

let n = 0;
const image = (size = '64M', args: string[] = []): Promise<string> => mkfs(tmp.file(`w-${++n}.img`), { size, args });

/** Mode bits of `paths` in the image, from debugfs. */
async function modesOf(img: string, paths: string[]): Promise<number[]> {
  const out = await debugfsBatch(img, paths.map((p) => `stat ${p}`));
  return [...out.matchAll(/Mode: +0?([0-7]+)/g)].map((m) => parseInt(m[1], 8));
}

/** Signed seconds and nanoseconds of an inode time as debugfs prints it (`mtime: 0xSSSSSSSS:EEEEEEEE`). */
function debugfsTime(stat: string, which: 'atime' | 'mtime'): bigint {
  const m = new RegExp(`${which}: 0x([0-9a-f]{8}):([0-9a-f]{8})`).exec(stat);
  if (m === null) throw new Error(`no ${which} in:\n${stat}`);
  const lo = BigInt.asIntN(32, BigInt(`0x${m[1]}`));
  const extra = Number.parseInt(m[2], 16);
  return (lo + BigInt(extra & 3) * 2n ** 32n) * 1_000_000_000n + BigInt(extra >>> 2);
}


describe('a sequence of namespace changes gives the tree GNU tools give', () => {
  // Each step as a GNU command line (run in the host folder) and as ext4kit's (@/ is IMG:/).
  const steps: Array<[string, string]> = [
    ['mkdir -p a/b/c', 'mkdir -p @/a/b/c'],
    ['mkdir -m 0750 m', 'mkdir -m 0750 @/m'],
    ['mkdir -m u=rwx,g=rx,o=,+t m2', 'mkdir -m u=rwx,g=rx,o=,+t @/m2'],
    ['touch a/f x', 'touch @/a/f @/x'],
    ['truncate -s 10K a/big', 'truncate -s 10K @/a/big'],
    ['truncate -s +5 a/big', 'truncate -s +5 @/a/big'],
    ['ln -s ../big a/b/link', 'ln -s ../big @/a/b/link'],
    ['ln a/big hard', 'ln @/a/big @/hard'],
    ['ln -s nowhere dangling', 'ln -s nowhere @/dangling'],
    ['mv a/f a/b/', 'mv @/a/f @/a/b/'],
    ['mv x a/b/c/y', 'mv @/x @/a/b/c/y'],
    ['mkdir d2 d3', 'mkdir @/d2 @/d3'],
    ['mv d2 d3 a/', 'mv @/d2 @/d3 @/a/'],
    ['touch a/d2/inside', 'touch @/a/d2/inside'],
    ['rm -r a/b/c', 'rm -r @/a/b/c'],
    ['rm -f nothere', 'rm -f @/nothere'],
    ['chmod -R go-rx a', 'chmod -R go-rx @/a'],
    ['chmod 4711 hard', 'chmod 4711 @/hard'],
    ['ln -sf other dangling', 'ln -sf other @/dangling'],
    ['rm -d a/d3', 'rm -d @/a/d3'],
    ['ln -s x a/b/link2', 'ln -s x @/a/b/link2'],
    ['mv a/b/link2 top-link', 'mv @/a/b/link2 @/top-link'],
  ];

  it(`every step exits as GNU's does, e2fsck is clean, and the kernel sees the same tree${loopOk ? '' : ` (kernel part skipped: ${loopSkip})`}`, async () => {
    const img = await image();
    const host = tmp.fresh('seq-host');
    for (const [gnu, ext] of steps) {
      const g = await sh(gnu, host);
      const e = await ours(img, ext);
      expect(g.code, `${gnu}: ${g.stderr}`).toBe(0);
      expect(e.code, `${ext}: ${e.stderr}`).toBe(0);
      expect(e.stderr).toBe('');
    }
    await expectFsckClean(img);
    // Every command closed the image: clean, nothing left to recover.
    const header = await dumpe2fs(img, ['-h']);
    expect(header).toMatch(/^Filesystem state: +clean$/m);
    expect(header).not.toMatch(/needs_recovery/);
    // debugfs's view of the modes, file by file.
    const paths = ['a', 'a/b', 'm', 'm2', 'a/big', 'hard', 'a/b/f', 'a/d2/inside'];
    expect(await modesOf(img, paths.map((p) => `/${p}`))).toEqual(paths.map((p) => fs.statSync(join(host, p)).mode & 0o7777));
    if (loopOk) {
      await withMountedImage(img, { readOnly: true }, async (mnt) => {
        await expectSameTree(host, mnt.dir, { times: 'none', owners: true, xattrs: false });
      });
    }
  }, 120_000);

  it('failing steps fail as GNU\'s do, with one line naming IMG:PATH, the message and the code', async () => {
    const img = await image('64M');
    const host = tmp.fresh('err-host');
    await sh('mkdir a && touch a/f', host);
    await ours(img, 'mkdir @/a');
    await ours(img, 'touch @/a/f');
    const cases: Array<[string, string, RegExp]> = [
      ['mkdir a', 'mkdir @/a', /^ext4kit: mkdir: .*:\/a: file already exists \(EEXIST\)\n$/],
      ['mkdir x/y', 'mkdir @/x/y', /^ext4kit: mkdir: .*:\/x\/y: no such file or directory \(ENOENT\)\n$/],
      ['rm a', 'rm @/a', /^ext4kit: rm: .*:\/a: is a directory \(EISDIR\)\n$/],
      ['rm nothere', 'rm @/nothere', /^ext4kit: rm: .*:\/nothere: no such file or directory \(ENOENT\)\n$/],
      ['rm -d a', 'rm -d @/a', /^ext4kit: rm: .*:\/a: directory not empty \(ENOTEMPTY\)\n$/],
      ['mv nothere z', 'mv @/nothere @/z', /^ext4kit: mv: .*:\/nothere: no such file or directory \(ENOENT\)\n$/],
      ['mv a a/f/sub', 'mv @/a @/a/f/sub', /^ext4kit: mv: .*:\/a\/f\/sub: not a directory \(ENOTDIR\)\n$/],
      ['mv a a/inside', 'mv @/a @/a/inside', /^ext4kit: mv: .*:\/a: invalid argument \(EINVAL\)\n$/],
      ['ln a a2', 'ln @/a @/a2', /^ext4kit: ln: .*:\/a: operation not permitted \(EPERM\)\n$/],
      ['ln -s t a/f', 'ln -s t @/a/f', /^ext4kit: ln: t: file already exists \(EEXIST\)\n$/],
      ['chmod 999 a', 'chmod 999 @/a', /^ext4kit: chmod: invalid mode: '999'\n$/],
      ['chmod u+q a', 'chmod u+q @/a', /^ext4kit: chmod: invalid mode: 'u\+q'\n$/],
      ['truncate -s 10Q a/f', 'truncate -s 10Q @/a/f', /^ext4kit: truncate: invalid size: '10Q'\n$/],
      ['truncate -s 5 a', 'truncate -s 5 @/a', /^ext4kit: truncate: .*:\/a: is a directory \(EISDIR\)\n$/],
      ['touch -d nonsense-date a/f', 'touch -d nonsense-date @/a/f', /^ext4kit: touch: invalid date format 'nonsense-date'\n$/],
    ];
    for (const [gnu, ext, message] of cases) {
      const g = await sh(gnu, host);
      const e = await ours(img, ext);
      expect(g.code, gnu).not.toBe(0);
      expect(e.code, `${ext}: ${e.stderr}`).toBe(1);
      expect(e.stderr, ext).toMatch(message);
    }
    await expectFsckClean(img);
  }, 120_000);

  it('rm refuses the root, and -f ignores what is missing', async () => {
    const img = await image('64M');
    const r = await ours(img, 'rm -r @/');
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("it is dangerous to operate recursively on '/'");
    expect((await ours(img, 'rm -f @/missing @/also-missing')).code).toBe(0);
    await expectFsckClean(img);
  });
});

describe('chmod modes are GNU chmod\'s', () => {
  const modes = ['755', '0', '4755', '1777', 'u+x', 'go-w', 'a=rX', 'u=g', 'o=u', '+t', 'u+s,g+s', 'g-s', '-x', '+w', '=r', 'ug=rw,o-rwx', 'a+X', 'u-r,+X', '00755', '2750', 'o+t,u=rwxs'];
  it(`${modes.length} mode strings on a file and a directory (umask ${UMASK}, set-ID bits on both to start)`, async () => {
    const img = await image('64M');
    const host = tmp.fresh('chmod-host');
    const names = modes.map((_, i) => [`f${i}`, `d${i}`]).flat();
    await sh(`touch ${modes.map((_, i) => `f${i}`).join(' ')} && mkdir ${modes.map((_, i) => `d${i}`).join(' ')} && chmod 6644 f* && chmod 6754 d*`, host);
    expect((await ours(img, `touch ${modes.map((_, i) => `@/f${i}`).join(' ')}`)).code).toBe(0);
    expect((await ours(img, `mkdir ${modes.map((_, i) => `@/d${i}`).join(' ')}`)).code).toBe(0);
    expect((await ours(img, `chmod 6644 ${modes.map((_, i) => `@/f${i}`).join(' ')}`)).code).toBe(0);
    expect((await ours(img, `chmod 6754 ${modes.map((_, i) => `@/d${i}`).join(' ')}`)).code).toBe(0);
    for (const [i, mode] of modes.entries()) {
      const g = await sh(`chmod ${mode} f${i} d${i}`, host);
      expect(g.code, `GNU chmod ${mode}: ${g.stderr}`).toBe(0);
      const e = await ours(img, `chmod ${mode} @/f${i} @/d${i}`);
      expect(e.code, `${mode}: ${e.stderr}`).toBe(0);
    }
    const want = names.map((nm) => fs.statSync(join(host, nm)).mode & 0o7777);
    const got = await modesOf(img, names.map((nm) => `/${nm}`));
    expect(got.map((m, i) => `${names[i]} ${modes[Math.floor(i / 2)]}: ${m.toString(8)}`))
      .toEqual(want.map((m, i) => `${names[i]} ${modes[Math.floor(i / 2)]}: ${m.toString(8)}`));
    await expectFsckClean(img);
  }, 120_000);
});

describe('truncate and touch give GNU\'s sizes and times', () => {
  it('truncate -s with every prefix and suffix kind', async () => {
    const img = await image('64M');
    const host = tmp.fresh('trunc-host');
    const specs = ['10K', '+5', '-3', '<100', '>100000', '/4096', '%4096', '1KB', '0', '3M'];
    for (const [i, spec] of specs.entries()) {
      const start = 5000 + i * 777;
      await sh(`truncate -s ${start} t${i} && truncate -s ${q(spec)} t${i}`, host);
      expect((await ours(img, `truncate -s ${start} @/t${i}`)).code).toBe(0);
      const e = await ours(img, `truncate -s ${q(spec)} @/t${i}`);
      expect(e.code, e.stderr).toBe(0);
    }
    const out = await debugfsBatch(img, specs.map((_, i) => `stat /t${i}`));
    const sizes = [...out.matchAll(/Project: +\d+ +Size: (\d+)/g)].map((m) => Number(m[1]));
    expect(sizes).toEqual(specs.map((_, i) => fs.statSync(join(host, `t${i}`)).size));
    await expectFsckClean(img);
  });

  it('touch -d / -t / -a / -m set the times GNU touch sets, to the nanosecond', async () => {
    const img = await image('64M');
    const host = tmp.fresh('touch-host');
    const cases = [
      '-d @1234567890.123456789', '-d @-86400.5', '-d "2001-02-03 04:05:06.987654321"', '-d 2001-02-03T04:05:06Z',
      '-d "2030-12-31 23:59:59+05:30"', '-t 202402291337.42', '-t 7001010000', '-a -d @1000000000', '-m -d @1500000000',
      '-d "2100-01-01 00:00:00Z"',
    ];
    for (const [i, c] of cases.entries()) {
      await sh(`touch -d @100 f${i} && touch ${c} f${i}`, host);
      expect((await ours(img, `touch -d @100 @/f${i}`)).code).toBe(0);
      const e = await ours(img, `touch ${c} @/f${i}`);
      expect(e.code, `${c}: ${e.stderr}`).toBe(0);
    }
    const out = await debugfsBatch(img, cases.map((_, i) => `stat /f${i}`));
    const stats = out.split(/debugfs: stat /).slice(1);
    for (const [i, c] of cases.entries()) {
      const st = fs.statSync(join(host, `f${i}`), { bigint: true });
      expect([debugfsTime(stats[i], 'atime'), debugfsTime(stats[i], 'mtime')], c).toEqual([st.atimeNs, st.mtimeNs]);
    }
    await expectFsckClean(img);
  });
});

describe('chown', () => {
  it.skipIf(!loopOk)(`numeric owners, UID: with the login group, :GID, -h on a symlink, -R; the kernel sees them${loopOk ? '' : ` (${loopSkip})`}`, async () => {
    const img = await image('64M');
    for (const line of ['mkdir -p @/d/e', 'touch @/d/e/f @/g', 'ln -s g @/s', 'chown 1234:5678 @/g', 'chown 0: @/g', 'chown :42 @/d/e/f',
      'chown -h 77:88 @/s', 'chown -R 99:100 @/d', 'chown 4000000000:4000000001 @/d/e/f']) {
      const r = await ours(img, line);
      expect(r.code, `${line}: ${r.stderr}`).toBe(0);
    }
    await expectFsckClean(img);
    await withMountedImage(img, { readOnly: true }, async (mnt) => {
      const owner = (p: string): string => {
        const st = fs.lstatSync(join(mnt.dir, p));
        return `${st.uid}:${st.gid}`;
      };
      expect([owner('g'), owner('s'), owner('d'), owner('d/e'), owner('d/e/f')]).toEqual(['0:0', '77:88', '99:100', '99:100', '4000000000:4000000001']);
    });
  });

  it('an unknown user name fails without changing anything', async () => {
    const img = await image('64M');
    await ours(img, 'touch @/f');
    const r = await ours(img, 'chown no-such-user-here @/f');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^ext4kit: chown: invalid user: 'no-such-user-here'/);
    expect(await debugfs(img, 'stat /f')).toMatch(/User: +0 +Group: +0/);
  });
});

describe('xattr', () => {
  it('ls and get read what mkfs.ext4 -d stored; set (text, 0x hex, 0s base64) and rm change it', async () => {
    const src = tmp.fresh('xattr-src');
    fs.writeFileSync(join(src, 'f'), 'x');
    const set = await runCommand('setfattr', ['-n', 'user.comment', '-v', 'hello there', join(src, 'f')]);
    if (set.code !== 0) throw new Error(`setfattr failed (the test folder's filesystem must keep user xattrs): ${set.stderr}`);
    const img = await mkfs(tmp.file('xattr.img'), { size: '64M', root: src });
    const ls = await ours(img, 'xattr ls @/f');
    expect([ls.code, ls.stdout, ls.stderr]).toEqual([0, 'user.comment\n', '']);
    const get = await ours(img, 'xattr get @/f user.comment');
    expect([get.code, get.stdout]).toEqual([0, 'hello there']);
    const missing = await ours(img, 'xattr get @/f user.none');
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/^ext4kit: xattr: .*:\/f: .*\(ENODATA\)\n$/);
    const r = await ours(img, 'xattr set @/f user.new 0x00ff41');
    expect([r.code, r.stderr]).toEqual([0, '']);
    expect((await ours(img, 'xattr set @/f user.text 0saGk=')).code).toBe(0);
    expect((await ours(img, 'xattr rm @/f user.comment')).code).toBe(0);
    const gone = await ours(img, 'xattr rm @/f user.comment');
    expect(gone.code).toBe(1);
    expect(gone.stderr).toMatch(/\(ENODATA\)\n$/);
    // debugfs as the judge of what is stored.
    const list = await debugfs(img, 'ea_list /f');
    expect(list).toContain('user.new (3) = 00 ff 41');
    expect(list).toContain('user.text (2) = "hi"');
    expect(list).not.toContain('user.comment');
    await expectFsckClean(img);
  });
});

describe('every command', () => {
  it('has --help, and works on a filesystem inside a bigger disk image with --offset', async () => {
    for (const cmd of ['cp', 'mkdir', 'rm', 'mv', 'ln', 'chmod', 'chown', 'touch', 'truncate', 'xattr']) {
      const r = await sh(`${EXT4KIT} ${cmd} --help`);
      expect(r.code, cmd).toBe(0);
      expect(r.stdout, cmd).toMatch(new RegExp(`^Usage: ext4kit ${cmd} `));
    }
    const img = await image('32M');
    const disk = tmp.file('disk.img');
    await embedInDisk(img, disk, 40 << 20);
    for (const line of ['mkdir --offset 1M @/dir', 'touch --offset 2048s @/dir/f', 'truncate --offset 1M -s 3000 @/dir/f', 'chmod --offset 1M 600 @/dir/f']) {
      const r = await ours(disk, line);
      expect(r.code, `${line}: ${r.stderr}`).toBe(0);
    }
    const part = tmp.file('part.img');
    await runCommand('dd', [`if=${disk}`, `of=${part}`, 'bs=1M', 'skip=1', 'count=32', 'status=none']);
    await expectFsckClean(part);
    expect(await debugfs(part, 'stat /dir/f')).toMatch(/Mode: +0600[\s\S]*Size: 3000/);
  });
});
