/**
 * mkfs's options and targets beyond the mke2fs comparison: what it refuses
 * (with which error), what it will not overwrite, how it treats targets it
 * cannot discard (a BlockDevice in memory, an existing file larger than the
 * filesystem), reproducibility, and the values it records. dumpe2fs and
 * e2fsck judge the images.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { MemoryDevice, mkfs, openVolume, type MkfsOptions } from '../../src/index.js';
import { debugfs, dumpe2fs, parseKeyValues } from '../helpers/debugfs.js';
import { expectFsckClean } from '../helpers/fsck.js';
import { createSparse } from '../helpers/images.js';
import { keystream } from '../helpers/prng.js';
import { runChecked } from '../helpers/run.js';
import { useTmpDir } from '../helpers/tmp.js';
import { HASH_SEED, MiB, TIME, UUID } from './parity-cases.js';

const tmp = useTmpDir('mkfs-options');

async function rejects(options: MkfsOptions, code: string, text: RegExp): Promise<void> {
  const img = tmp.file(`rejected-${Math.random().toString(36).slice(2)}.img`);
  await expect(mkfs(img, { size: 64 * MiB, ...options })).rejects.toMatchObject({ code, message: expect.stringMatching(text) as unknown });
  // Refused before anything was created.
  expect(fs.existsSync(img)).toBe(false);
}

async function sha256(file: string): Promise<string> {
  return createHash('sha256').update(await fsp.readFile(file)).digest('hex');
}

/** A MemoryDevice's bytes as an image file for the tools. */
async function saveDevice(dev: MemoryDevice, name: string): Promise<string> {
  const img = tmp.file(name);
  await fsp.writeFile(img, dev.bytes);
  return img;
}

function groupFlags(dump: string): string[] {
  return [...dump.matchAll(/^Group \d+: .*?(\[.*\])?$/gm)].map((m) => m[1] ?? '');
}

describe('mkfs refuses what it cannot or should not make', () => {
  it('names unknown features', async () => {
    await rejects({ features: ['inline_data,frobnicate', '^bogus'] }, 'EINVAL', /unknown filesystem features: frobnicate, bogus/);
  });

  it('names features it does not implement', async () => {
    await rejects({ features: ['bigalloc', 'quota'] }, 'EINVAL', /does not support the features: bigalloc, quota/);
  });

  it('refuses combinations mke2fs refuses', async () => {
    await rejects({ features: ['^extent'] }, 'EINVAL', /64bit feature requires extent/);
    await rejects({ features: ['^has_journal', 'orphan_file'] }, 'EINVAL', /orphan_file feature requires has_journal/);
    await rejects({ features: ['^metadata_csum', 'metadata_csum_seed'] }, 'EINVAL', /metadata_csum_seed feature requires metadata_csum/);
    await rejects({ features: ['^sparse_super'] }, 'EINVAL', /resize_inode feature requires sparse_super/);
    await rejects({ features: ['inline_data'], inodeSize: 128 }, 'EINVAL', /too small for inline data/);
  });

  it('checks sizes and counts', async () => {
    await rejects({ blockSize: 8192 }, 'EINVAL', /invalid block size 8192/);
    await rejects({ inodeSize: 192 }, 'EINVAL', /invalid inode size 192/);
    await rejects({ inodeSize: 2048, blockSize: 1024 }, 'EINVAL', /invalid inode size 2048/);
    await rejects({ bytesPerInode: 512 }, 'EINVAL', /invalid bytes per inode 512/);
    await rejects({ inodes: 2 ** 32 }, 'EINVAL', /too many inodes/);
    await rejects({ inodes: 300_000 }, 'EINVAL', /do not fit/);
    await rejects({ journalSizeMB: 1, blockSize: 4096 }, 'EINVAL', /journal must be between 1024 and/);
    await rejects({ journalSizeMB: 40 }, 'EINVAL', /too big for this filesystem/);
    await rejects({ reservedPercent: 60 }, 'EINVAL', /reserved blocks percentage/);
    await rejects({ size: 4096 }, 'EINVAL', /too small/);
  });

  it('checks identity values', async () => {
    await rejects({ label: 'seventeen-bytes!!' }, 'EINVAL', /longer than 16 bytes/);
    await rejects({ uuid: 'not-a-uuid' }, 'EINVAL', /invalid UUID/);
    await rejects({ hashSeed: '1234' }, 'EINVAL', /invalid hash seed/);
    await rejects({ rootOwner: { uid: -1, gid: 0 } }, 'EINVAL', /invalid root owner/);
  });

  it('wants a size for a file that does not exist', async () => {
    const img = tmp.file('missing.img');
    await expect(mkfs(img)).rejects.toMatchObject({ code: 'ENOENT' });
    expect(fs.existsSync(img)).toBe(false);
  });

  it('leaves an existing file alone when the filesystem cannot be made', async () => {
    const img = tmp.file('too-small.img');
    const old = keystream('mkfs too small', 8192);
    await fsp.writeFile(img, old);
    await expect(mkfs(img)).rejects.toMatchObject({ code: 'EINVAL' });
    await expect(mkfs(img, { size: 6 * MiB, features: ['nonsense'] })).rejects.toMatchObject({ code: 'EINVAL' });
    expect((await fsp.readFile(img)).equals(old)).toBe(true);
  });

  it('does not overwrite an ext2/3/4 filesystem unless forced', async () => {
    const img = tmp.file('existing.img');
    await mkfs(img, { size: 16 * MiB });
    const before = await sha256(img);
    await expect(mkfs(img)).rejects.toMatchObject({ code: 'EEXIST', message: expect.stringMatching(/already contains an ext2\/ext3\/ext4 filesystem/) as unknown });
    expect(await sha256(img)).toBe(before);
    const dev = new MemoryDevice(await fsp.readFile(img));
    await expect(mkfs(dev)).rejects.toMatchObject({ code: 'EEXIST' });

    await mkfs(img, { force: true, label: 'again' });
    expect(parseKeyValues(await dumpe2fs(img, ['-h'])).get('Filesystem volume name')).toBe('again');
    await expectFsckClean(img);
  });

  it.skipIf(process.getuid?.() !== 0)('does not write under an attached loop device (needs root)', async () => {
    const img = tmp.file('looped.img');
    await mkfs(img, { size: 16 * MiB });
    const dev = (await runChecked('losetup', ['--find', '--show', img])).stdout.trim();
    try {
      await expect(mkfs(img, { force: true })).rejects.toMatchObject({ code: 'EBUSY' });
    } finally {
      await runChecked('losetup', ['-d', dev]);
    }
  });
});

describe('targets that cannot be discarded', () => {
  it('a BlockDevice of old data: lazy inode tables (no ITABLE_ZEROED), zeroed journal, clean', async () => {
    const dev = new MemoryDevice(keystream('mkfs memory device', 32 * MiB));
    const r = await mkfs(dev, { uuid: UUID, hashSeed: HASH_SEED, time: TIME });
    const img = await saveDevice(dev, 'memory-lazy.img');
    const dump = await dumpe2fs(img);
    expect(groupFlags(dump).every((f) => !f.includes('ITABLE_ZEROED'))).toBe(true);
    // The journal (everything after its superblock) reads as zeros.
    const jstart = Number(/^\(0-\d+\):(\d+)-/m.exec(await debugfs(img, 'stat <8>'))?.[1]);
    const journal = dev.bytes.subarray((jstart + 1) * r.blockSize, (jstart + r.journalBlocks) * r.blockSize);
    expect(journal.length).toBe((r.journalBlocks - 1) * r.blockSize);
    expect(journal.every((b) => b === 0)).toBe(true);
    await expectFsckClean(img);
  });

  it('lazyItableInit false zeroes every inode table and marks it; assumeZeroed trusts the device', async () => {
    const dev = new MemoryDevice(keystream('mkfs memory device 2', 32 * MiB));
    await mkfs(dev, { lazyItableInit: false });
    const img = await saveDevice(dev, 'memory-zeroed.img');
    expect(groupFlags(await dumpe2fs(img)).every((f) => f.includes('ITABLE_ZEROED'))).toBe(true);
    await expectFsckClean(img);

    const clean = new MemoryDevice(32 * MiB);
    await mkfs(clean, { assumeZeroed: true });
    const img2 = await saveDevice(clean, 'memory-prezeroed.img');
    expect(groupFlags(await dumpe2fs(img2)).every((f) => f.includes('ITABLE_ZEROED'))).toBe(true);
    await expectFsckClean(img2);
  });

  it('an existing file larger than the filesystem keeps its tail', async () => {
    const img = tmp.file('tail.img');
    const old = keystream('mkfs tail', 20 * MiB);
    await fsp.writeFile(img, old);
    await mkfs(img, { size: 16 * MiB });
    const now = await fsp.readFile(img);
    expect(now.length).toBe(20 * MiB);
    expect(now.subarray(16 * MiB).equals(old.subarray(16 * MiB))).toBe(true);
    await expectFsckClean(img);
  });

  it('an existing file the filesystem covers is discarded first (ITABLE_ZEROED, old bytes gone)', async () => {
    const img = tmp.file('discard.img');
    await fsp.writeFile(img, keystream('mkfs discard', 16 * MiB));
    await mkfs(img);
    const dump = await dumpe2fs(img);
    expect(groupFlags(dump).every((f) => f.includes('ITABLE_ZEROED'))).toBe(true);
    // Free space reads as zeros: the last block is free on this layout.
    const last = (await fsp.readFile(img)).subarray(16 * MiB - 1024);
    expect(last.every((b) => b === 0)).toBe(true);
    await expectFsckClean(img);
  });
});

describe('what mkfs records', () => {
  it('is reproducible: same identity and time, same bytes', async () => {
    const a = tmp.file('repro-a.img');
    const b = tmp.file('repro-b.img');
    const opts = { size: 64 * MiB, uuid: UUID, hashSeed: HASH_SEED, time: TIME, label: 'repro' };
    await mkfs(a, opts);
    await mkfs(b, opts);
    expect(await sha256(b)).toBe(await sha256(a));
  });

  it('label, UUID, hash seed, times, owner and features as asked', async () => {
    const img = tmp.file('recorded.img');
    const r = await mkfs(img, {
      size: 64 * MiB, label: 'étiquette', uuid: UUID, hashSeed: HASH_SEED, time: new Date(TIME * 1000),
      rootOwner: { uid: 1234, gid: 5678 }, features: ['^huge_file', 'large_dir'],
    });
    const h = parseKeyValues(await dumpe2fs(img, ['-h']));
    expect(h.get('Filesystem volume name')).toBe('étiquette');
    expect(h.get('Filesystem UUID')).toBe(UUID);
    expect(h.get('Directory Hash Seed')).toBe(HASH_SEED);
    expect(h.get('Filesystem created')).toBe('Tue Nov 14 22:13:20 2023');
    expect(h.get('Filesystem features')?.split(' ')).toEqual(r.features);
    expect(r.features).toContain('large_dir');
    expect(r.features).not.toContain('huge_file');
    expect(r.uuid).toBe(UUID);
    const v = await openVolume(img, { readOnly: true });
    try {
      const st = await v.promises.stat('/');
      expect([st.uid, st.gid, st.mode & 0o7777]).toEqual([1234, 5678, 0o755]);
      expect(st.mtime.getTime()).toBe(TIME * 1000);
      expect((await v.promises.stat('/lost+found')).mode & 0o7777).toBe(0o700);
    } finally {
      await v.close();
    }
    await expectFsckClean(img);
  });

  it('stores times past 2038 (which mke2fs 1.47.0 truncates to 32 bits)', async () => {
    const img = tmp.file('y2039.img');
    const t = 2_200_000_000;
    await mkfs(img, { size: 16 * MiB, time: t });
    expect(parseKeyValues(await dumpe2fs(img, ['-h'])).get('Filesystem created')).toBe('Sun Sep 18 23:06:40 2039');
    for (const ino of [1, 2, 7, 8, 11, 12]) expect(await debugfs(img, `stat <${ino}>`)).toMatch(/mtime: 0x83215600:00000001 -- Sun Sep 18 23:06:40 2039/);
    const v = await openVolume(img, { readOnly: true });
    try {
      expect((await v.promises.stat('/lost+found')).mtime.getTime()).toBe(t * 1000);
    } finally {
      await v.close();
    }
    await expectFsckClean(img);
    await expect(mkfs(tmp.file('y2039-128.img'), { size: 16 * MiB, time: t, inodeSize: 128 })).rejects.toMatchObject({ code: 'EINVAL' });
    await expect(mkfs(tmp.file('y2447.img'), { size: 16 * MiB, time: 3 * 2 ** 32 + 2 ** 31 })).rejects.toMatchObject({ code: 'EINVAL' });
    await mkfs(tmp.file('y2446.img'), { size: 16 * MiB, time: 3 * 2 ** 32 + 2 ** 31 - 1 });
  });

  it('a new image file is sparse', async () => {
    const img = tmp.file('sparse.img');
    await mkfs(img, { size: 2 * 1024 * MiB });
    const st = await fsp.stat(img);
    expect(st.size).toBe(2 * 1024 * MiB);
    expect(st.blocks * 512).toBeLessThan(80 * MiB);
  });

  it('uses the whole existing file when no size is given, rounded down to 4 KiB as mke2fs does', async () => {
    const img = tmp.file('whole.img');
    createSparse(img, 20 * MiB + 3072);
    const r = await mkfs(img);
    expect(r.blocksCount * r.blockSize).toBe(20 * MiB);
  });
});
