/**
 * The built `ext4kit` on real images and the real engine, checked against
 * independent readers of the same image: dumpe2fs for `info`, and GNU ls,
 * stat, cat and cp on a read-only loop mount for the others. Also: a
 * filesystem inside a bigger file (--offset), errors and exit codes, and a
 * reader that closes the pipe early.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dumpe2fs } from '../helpers/debugfs.js';
import { buildImage, createSparse, embedInDisk, mkfs } from '../helpers/images.js';
import { canLoopMount, describeLoopSkip, mountImage, withMountedImage, type MountedImage } from '../helpers/loop.js';
import { runCommand } from '../helpers/run.js';
import { useTmpDir } from '../helpers/tmp.js';
import { generateTree, type TreeManifest } from '../helpers/tree.js';
import { CLI_PATH, runBuiltCli } from './built-cli.js';
import { snapshot, view, walk } from './tree-snapshot.js';

const tmp = useTmpDir('read-cli');
const loopOk = await canLoopMount();
const loopSkip = await describeLoopSkip();
// A zone with a half-hour offset: time zone handling that only works for UTC shows.
const TZ = 'Asia/Kolkata';
const env = { TZ, LC_ALL: 'C' };

let m: TreeManifest;
let img: string;
let mnt: MountedImage | undefined;

const cli = (...args: string[]) => runBuiltCli(args, { env });
async function gnu(cmd: string, args: string[], cwd?: string): Promise<{ status: number | null; stdout: string; stderr: string }> {
  const r = await runCommand(cmd, args, { cwd, env });
  return { status: r.code, stdout: r.stdout, stderr: r.stderr };
}

beforeAll(async () => {
  m = await generateTree(tmp.file('src'), { seed: 7, scale: 'small' });
  img = tmp.file('small.img');
  await buildImage('default', m.root, img);
  if (loopOk) mnt = await mountImage(img, { readOnly: true });
});

afterAll(async () => {
  await mnt?.unmount();
});

/** `key: value` lines of dumpe2fs -h and of `ext4kit info`. */
function keyValues(text: string): Map<string, string> {
  const kv = new Map<string, string>();
  for (const line of text.split('\n')) {
    const mm = /^([^:]+):\s*(.*?)\s*$/.exec(line);
    if (mm) kv.set(mm[1], mm[2]);
  }
  return kv;
}

describe('info agrees with dumpe2fs -h', () => {
  async function check(image: string): Promise<void> {
    const ours = await cli('info', image);
    expect(ours.stderr).toBe('');
    expect(ours.code).toBe(0);
    const theirs = keyValues(await dumpe2fs(image, ['-h'], { env }));
    const mine = keyValues(ours.out);
    const ownOnly = new Set(['Filesystem size', 'Block groups']);
    for (const [k, v] of mine) {
      if (ownOnly.has(k)) continue;
      expect(theirs.has(k), `dumpe2fs has no '${k}'`).toBe(true);
      expect(`${k}: ${v}`).toBe(`${k}: ${theirs.get(k)}`);
    }
    const j = JSON.parse((await cli('info', '--json', image)).out) as Record<string, unknown>;
    const groups = ((await dumpe2fs(image, [], { env })).match(/^Group \d+:/gm) ?? []).length;
    expect(j).toMatchObject({
      blockSize: Number(theirs.get('Block size')), blocksCount: Number(theirs.get('Block count')),
      freeInodesCount: Number(theirs.get('Free inodes')), uuid: theirs.get('Filesystem UUID'), groupCount: groups,
      sizeBytes: Number(theirs.get('Block count')) * Number(theirs.get('Block size')),
    });
    expect(mine.get('Filesystem size')).toMatch(new RegExp(`\\(${j.sizeBytes as number} bytes\\)$`));
  }

  it('a fresh mkfs image', async () => {
    await check(img);
  });

  it('an ext2 image with a label', async () => {
    const e2 = tmp.file('ext2.img');
    createSparse(e2, 32 << 20);
    await mkfs(e2, { args: ['-t', 'ext2', '-L', 'my label'] });
    await check(e2);
  });

  it.skipIf(!loopOk)('an image the kernel mounted (mount time, last mounted on, mount count)', async () => {
    const k = tmp.file('mounted.img');
    fs.copyFileSync(img, k);
    const mm = await mountImage(k);
    // The kernel records where it is mounted when a file is first opened.
    fs.writeFileSync(join(mm.dir, 'touched'), 'x');
    await mm.unmount();
    const out = keyValues((await cli('info', k)).out);
    expect(out.get('Last mounted on')).not.toBe('<not available>');
    await check(k);
  });
});

describe('ls, stat, cat and cp agree with GNU tools on a loop mount', () => {
  if (!loopOk) {
    it.skip(loopSkip, () => undefined);
    return;
  }
  const local = (s: string): string => s.replaceAll(`${mnt!.dir}/`, '/').replaceAll(`${mnt!.dir}:`, '/:');

  it('ls -l -R of the whole image', async () => {
    const r = await cli('ls', '-l', '-R', `${img}:/`);
    expect(r.stderr).toBe('');
    expect(r.out).toBe(local((await gnu('ls', ['-lnR', mnt!.dir])).stdout));
  });

  it('ls -l -a -R of a subdirectory (. and .. included)', async () => {
    const r = await cli('ls', '-laR', `${img}:/tree`);
    expect(r.out).toBe(local((await gnu('ls', ['-lnaR', join(mnt!.dir, 'tree')])).stdout));
  });

  it('ls -a and plain ls', async () => {
    expect((await cli('ls', '-a', `${img}:/names`)).out).toBe((await gnu('ls', ['-a', join(mnt!.dir, 'names')])).stdout);
    expect((await cli('ls', `${img}:/special`, `${img}:/links`)).out).toBe(local((await gnu('ls', [join(mnt!.dir, 'links'), join(mnt!.dir, 'special')])).stdout));
  });

  it('ls --json matches lstat on the mount', async () => {
    const r = await cli('ls', '--json', '-a', `${img}:/special`);
    const entries = JSON.parse(r.out) as Array<{ name: string; mode: number; nlink: number; uid: number; gid: number; size: number; mtimeNs: string; ino: number }>;
    expect(entries.map((e) => e.name)).toEqual((await gnu('ls', ['-a', join(mnt!.dir, 'special')])).stdout.trim().split('\n'));
    for (const e of entries) {
      const st = fs.lstatSync(join(mnt!.dir, 'special', e.name), { bigint: true });
      expect(e, e.name).toMatchObject({ mode: Number(st.mode), nlink: Number(st.nlink), uid: Number(st.uid), gid: Number(st.gid), mtimeNs: st.mtimeNs.toString(), ino: Number(st.ino) });
      if (!st.isDirectory()) expect(e.size).toBe(Number(st.size));
    }
  });

  it('stat of every entry', async () => {
    const rels = ['', ...(await walk(mnt!.dir))];
    const noDevice = (s: string): string => s.replace(/^Device: \d+,\d+\t/gm, 'Device: -\t');
    const theirs = noDevice((await gnu('stat', rels.map((r) => join(mnt!.dir, r)))).stdout)
      .replace(/^ {2}File: (\S.*)$/gm, (_l, p: string) => `  File: ${p === mnt!.dir ? '/' : p.replace(`${mnt!.dir}/`, '/')}`);
    const r = await cli('stat', ...rels.map((rel) => `${img}:/${rel}`));
    expect(r.stderr).toBe('');
    expect(noDevice(r.out).replace(/^ {2}File: \/\//gm, '  File: /')).toBe(theirs);
  });

  it('stat on a 128-byte-inode image: no birth time', async () => {
    const small = tmp.file('inode128.img');
    await buildImage('inode128', join(m.root, 'sizes'), small);
    await withMountedImage(small, { readOnly: true }, async (mm) => {
      const theirs = (await gnu('stat', [join(mm.dir, 'size-1'), mm.dir])).stdout.replace(/^Device: \d+,\d+\t/gm, 'Device: -\t')
        .replace(`  File: ${mm.dir}/`, '  File: /').replace(`  File: ${mm.dir}\n`, '  File: /\n');
      const ours = (await cli('stat', `${small}:/size-1`, `${small}:/`)).out.replace(/^Device: \d+,\d+\t/gm, 'Device: -\t');
      expect(ours).toContain(' Birth: -\n');
      expect(ours).toBe(theirs);
    });
  });

  it('cat of every regular file, byte for byte', async () => {
    const files = (await walk(mnt!.dir)).filter((rel) => fs.lstatSync(join(mnt!.dir, rel)).isFile());
    const r = await cli('cat', ...files.map((rel) => `${img}:/${rel}`));
    expect(r.stderr).toBe('');
    expect(r.stdout.equals(Buffer.concat(files.map((rel) => fs.readFileSync(join(mnt!.dir, rel)))))).toBe(true);
  });

  it('cp -r makes what GNU cp -r makes from the mount', async () => {
    const ours = tmp.file('cp-r-ours');
    const theirs = tmp.file('cp-r-gnu');
    const r = await cli('cp', '-r', `${img}:/`, ours);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect((await gnu('cp', ['-r', mnt!.dir, theirs])).status).toBe(0);
    expect(view(await snapshot(ours), { owners: true, xattrs: true })).toEqual(view(await snapshot(theirs), { owners: true, xattrs: true }));
  });
});

describe('--offset: a filesystem inside a bigger file', () => {
  let disk: string;
  beforeAll(async () => {
    // The image at 1 MiB into a file with room after it, like a partition in a disk image.
    disk = tmp.file('disk.img');
    await embedInDisk(img, disk, fs.statSync(img).size + (3 << 20));
  });

  it('every command reads the embedded filesystem, whatever the offset spelling', async () => {
    const plainLs = await cli('ls', '-l', '-R', `${img}:/`);
    for (const off of ['1048576', '1M', '1MiB', '2048s']) {
      const r = await cli('ls', '-l', '-R', '--offset', off, `${disk}:/`);
      expect(r.stderr).toBe('');
      expect(r.out.replaceAll(disk, img)).toBe(plainLs.out);
    }
    expect((await cli('info', '--offset', '1M', disk)).out).toBe((await cli('info', img)).out);
    expect((await cli('stat', '--offset', '1M', `${disk}:/sizes/size-4097`)).out).toBe((await cli('stat', `${img}:/sizes/size-4097`)).out);
    const cat = await cli('cat', '--offset=1M', `${disk}:/sizes/size-4097`);
    expect(cat.stdout.equals(fs.readFileSync(join(m.root, 'sizes/size-4097')))).toBe(true);
    const out = tmp.file('offset-cp');
    const cp = await cli('cp', '-r', '--offset', '1M', `${disk}:/sizes`, out);
    expect(cp.stderr).toBe('');
    expect(view(await snapshot(out))).toEqual(view(await snapshot(join(m.root, 'sizes'))));
  });

  it('without the offset the file is not a filesystem: one error line, exit 1', async () => {
    const r = await cli('ls', `${disk}:/`);
    expect(r.code).toBe(1);
    expect(r.out).toBe('');
    expect(r.stderr).toMatch(new RegExp(`^ext4kit: ls: ${disk}:/: [^\\n]+ \\(E[A-Z]+\\)\\n$`));
  });

  it('an offset past the end is an error', async () => {
    const r = await cli('info', '--offset', '100G', disk);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^ext4kit: info: .+ \(E[A-Z]+\)\n$/);
  });
});

describe('errors', () => {
  it('a missing file, a missing image, a file used as a directory, a directory used as a file', async () => {
    const a = await cli('stat', `${img}:/nope`);
    expect(a.code).toBe(1);
    expect(a.stderr).toBe(`ext4kit: stat: ${img}:/nope: no such file or directory (ENOENT)\n`);
    const b = await cli('ls', '/no/such/image.img:/');
    expect(b.code).toBe(1);
    expect(b.stderr).toMatch(/^ext4kit: ls: \/no\/such\/image\.img:\/: .*no such file or directory.* \(ENOENT\)\n$/);
    const c = await cli('ls', `${img}:/sizes/size-1/x`);
    expect(c.code).toBe(1);
    expect(c.stderr).toBe(`ext4kit: ls: ${img}:/sizes/size-1/x: not a directory (ENOTDIR)\n`);
    const d = await cli('cat', `${img}:/sizes`, `${img}:/sizes/size-1`);
    expect(d.code).toBe(1);
    expect(d.stderr).toBe(`ext4kit: cat: ${img}:/sizes: illegal operation on a directory (EISDIR)\n`);
    expect(d.stdout.equals(fs.readFileSync(join(m.root, 'sizes/size-1')))).toBe(true);
  });

  it('cp keeps going over the other sources and exits 1', async () => {
    const dir = tmp.sub('cp-errors');
    const r = await cli('cp', `${img}:/nope`, `${img}:/tree`, `${img}:/sizes/size-60`, dir);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      `ext4kit: cp: ${img}:/nope: no such file or directory (ENOENT)\n`
      + `ext4kit: cp: ${img}:/tree: -r not specified; omitting directory (EISDIR)\n`);
    expect(fs.readdirSync(dir)).toEqual(['size-60']);
  });

  it('a reader that stops early ends the command quietly', async () => {
    const big = `${img}:/big/big-0`;
    const child = spawn(process.execPath, [CLI_PATH, 'cat', big], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (b: Buffer) => { stderr += b.toString(); });
    await new Promise<void>((resolve) => child.stdout.once('data', () => { child.stdout.destroy(); resolve(); }));
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    expect(stderr).toBe('');
    expect(code).toBe(0);
    const viaShell = await runCommand('sh', ['-c', `"${process.execPath}" "${CLI_PATH}" ls -l -R "${img}:/" | head -n 1`]);
    expect(viaShell.stderr).toBe('');
    expect(viaShell.stdout).toBe('/:\n');
  });
});
