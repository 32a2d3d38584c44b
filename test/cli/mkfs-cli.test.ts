/**
 * `ext4kit mkfs`, run as a user runs it (the built executable): sizes with
 * suffixes, every option reaching the image (dumpe2fs and debugfs judge),
 * the summary, refusing to overwrite a filesystem without -f, and usage
 * errors. Every image it makes passes e2fsck -fn.
 */
import * as fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseSize } from '../../src/cli/mkfs.js';
import { debugfs, dumpe2fs, parseKeyValues } from '../helpers/debugfs.js';
import { expectFsckClean } from '../helpers/fsck.js';
import { useTmpDir } from '../helpers/tmp.js';
import { runBuiltCli } from './built-cli.js';

const tmp = useTmpDir('mkfs-cli');

async function header(img: string): Promise<Map<string, string>> {
  return parseKeyValues(await dumpe2fs(img, ['-h']));
}

describe('ext4kit mkfs', () => {
  it('makes a sparse image of SIZE and says what it made', async () => {
    const img = tmp.file('plain.img');
    const r = await runBuiltCli(['mkfs', img, '64M']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const h = await header(img);
    expect(fs.statSync(img).size).toBe(64 * 1024 * 1024);
    expect(r.out).toContain(`Creating filesystem with ${h.get('Block count')} 1k blocks and ${h.get('Inode count')} inodes\n`);
    expect(r.out).toContain(`Filesystem UUID: ${h.get('Filesystem UUID')}\n`);
    expect(r.out).toContain('Superblock backups stored on blocks: 8193, 24577, 40961, 57345\n');
    expect(r.out).toContain('Journal: 4096 blocks\n');
    await expectFsckClean(img);
  });

  it('passes every option through', async () => {
    const img = tmp.file('options.img');
    const r = await runBuiltCli([
      'mkfs', '-b', '4096', '-L', 'data', '-U', '01234567-89ab-cdef-0123-456789abcdef', '-N', '3000', '-I', '512',
      '-O', 'inline_data', '-O', '^resize_inode,^orphan_file', '-J', 'size=8', '-E', 'root_owner=1000:100,hash_seed=fedcba98-7654-3210-fedc-ba9876543210',
      '-m', '2', img, '100M',
    ]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const h = await header(img);
    expect(h.get('Block size')).toBe('4096');
    expect(h.get('Filesystem volume name')).toBe('data');
    expect(h.get('Filesystem UUID')).toBe('01234567-89ab-cdef-0123-456789abcdef');
    expect(h.get('Directory Hash Seed')).toBe('fedcba98-7654-3210-fedc-ba9876543210');
    expect(Number(h.get('Inode count'))).toBeGreaterThanOrEqual(3000);
    expect(h.get('Inode size')).toBe('512');
    const features = h.get('Filesystem features')?.split(' ') ?? [];
    expect(features).toContain('inline_data');
    expect(features).not.toContain('resize_inode');
    expect(features).not.toContain('orphan_file');
    expect(h.get('Total journal blocks')).toBe('2048');
    expect(h.get('Reserved block count')).toBe(String(Math.floor((2 * 25600) / 100)));
    expect(await debugfs(img, 'stat /')).toMatch(/User:\s+1000\s+Group:\s+100\b/);
    await expectFsckClean(img);
  });

  it('-q prints nothing; an existing file keeps its size', async () => {
    const img = tmp.file('quiet.img');
    fs.writeFileSync(img, Buffer.alloc(8 * 1024 * 1024, 0x5a));
    const r = await runBuiltCli(['mkfs', '-q', img]);
    expect(r.stderr).toBe('');
    expect(r.out).toBe('');
    expect(r.code).toBe(0);
    expect((await header(img)).get('Block count')).toBe('8192');
    await expectFsckClean(img);
  });

  it('refuses to overwrite an ext2/3/4 filesystem without -f', async () => {
    const img = tmp.file('twice.img');
    expect((await runBuiltCli(['mkfs', '-q', '-L', 'first', img, '16M'])).code).toBe(0);
    const r = await runBuiltCli(['mkfs', '-L', 'second', img]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`ext4kit: mkfs: ${img}: already contains an ext2/ext3/ext4 filesystem; use -f to overwrite it (EEXIST)\n`);
    expect((await header(img)).get('Filesystem volume name')).toBe('first');
    const f = await runBuiltCli(['mkfs', '-f', '-q', '-L', 'second', img]);
    expect(f.code).toBe(0);
    expect((await header(img)).get('Filesystem volume name')).toBe('second');
    await expectFsckClean(img);
  });

  it('reports bad requests on one line and makes nothing', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['-O', 'quota'], /does not support the feature: quota \(EINVAL\)/],
      [['-O', 'nonsense'], /unknown filesystem feature: nonsense \(EINVAL\)/],
      [['-b', '512'], /invalid block size 512/],
      [['-J', 'device=/dev/sdb'], /unsupported journal option 'device=\/dev\/sdb'/],
      [['-E', 'stride=4'], /unsupported extended option 'stride=4'/],
      [['-E', 'root_owner=me'], /invalid root_owner 'me'/],
      [['-N', 'many'], /invalid inode count 'many'/],
    ];
    for (const [args, message] of cases) {
      const img = tmp.file(`bad-${args.join('').replace(/\W/g, '')}.img`);
      const r = await runBuiltCli(['mkfs', ...args, img, '16M']);
      expect(r.code, args.join(' ')).toBe(1);
      expect(r.stderr).toMatch(message);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(fs.existsSync(img)).toBe(false);
    }
    const missing = await runBuiltCli(['mkfs', tmp.file('nosize.img')]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/does not exist and no size was given \(ENOENT\)/);
    const badSize = await runBuiltCli(['mkfs', tmp.file('badsize.img'), '12X']);
    expect(badSize.code).toBe(1);
    expect(badSize.stderr).toMatch(/invalid size '12X'/);
  });
});

describe('SIZE', () => {
  it('is bytes, or K/M/G/T (binary) with or without iB', () => {
    expect(parseSize('1048576')).toBe(1048576);
    expect(parseSize('512K')).toBe(512 * 1024);
    expect(parseSize('64m')).toBe(64 * 1024 ** 2);
    expect(parseSize('5G')).toBe(5 * 1024 ** 3);
    expect(parseSize('2TiB')).toBe(2 * 1024 ** 4);
    expect(parseSize('1.5G')).toBe(1.5 * 1024 ** 3);
    for (const bad of ['', 'M', '-1M', '0', '1Q', '1 2']) expect(() => parseSize(bad), bad).toThrow(/invalid size/);
  });
});
