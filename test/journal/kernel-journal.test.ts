/**
 * Recovery of journals the Linux kernel wrote (journal_64bit, checksum v3):
 * an image mounted read-write, changed, `sync -f`'d, changed again and
 * fsync'd (so the last transactions are committed in the journal but not
 * yet written home) and copied while still mounted. The copy needs
 * recovery, and replay changes what it shows (checked: without the replay
 * the trees differ).
 *
 * Three readers must agree on every path (stat fields, all four times,
 * contents, symlink targets, xattrs): ext4kit on the unreplayed copy
 * (replaying in memory), ext4kit on a second copy that e2fsck -fy replayed,
 * and the kernel on a read-only loop mount of e2fsck's copy. The
 * unreplayed copy must be byte-for-byte unchanged afterwards.
 */
import { describe, it, expect } from 'vitest';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { openVolume } from '../../src/index.js';
import { useTmpDir } from '../helpers/tmp.js';
import { mkfs } from '../helpers/images.js';
import { debugfs, dumpe2fs } from '../helpers/debugfs.js';
import { canLoopMount, describeLoopSkip, mountImage } from '../helpers/loop.js';
import { runChecked } from '../helpers/run.js';
import { expectFsckClean } from '../helpers/fsck.js';
import { copyWhileMounted, e2fsckReplayedCopy, kernelWorkload as workload, replayImage, sha256File } from './journal-helpers.js';
import { snapshotHost, snapshotVolume } from './snapshot.js';
import { FileDevice } from '../../src/device/file-device.js';
import { Ext4Super } from '../../src/super/ext4-super.js';
import { Mounted } from '../../src/vfs/mounted.js';
import { Ext4Promises } from '../../src/vfs/promises.js';

const tmp = useTmpDir('journal-kernel');
const canLoop = await canLoopMount();
if (!canLoop) console.warn(`SKIPPED (kernel journal recovery): ${await describeLoopSkip()}`);

const KERNEL_CASES = [
  { name: '4 KiB blocks, 64bit', args: ['-b', '4096'], journal: /Journal features:.*journal_64bit.*journal_checksum_v3/ },
  { name: '1 KiB blocks, no 64bit (32-bit tags, superblock in block 1)', args: ['-b', '1024', '-O', '^64bit'], journal: /Journal features:.*journal_checksum_v3/ },
];

describe.skipIf(!canLoop)('journals written by the kernel', () => {
  it.each(KERNEL_CASES)('$name: replays in memory what e2fsck and the kernel see after replay', async (kc) => {
    const dir = tmp.fresh('kernel');
    const img = await mkfs(path.join(dir, 'live.img'), { size: '64M', args: kc.args });
    const unreplayed = path.join(dir, 'unreplayed.img');
    await copyWhileMounted(img, unreplayed, workload);
    const header = await dumpe2fs(unreplayed, ['-h']);
    expect(header).toMatch(/needs_recovery/);
    expect(header).toMatch(kc.journal);
    if (kc.args.includes('^64bit')) expect(header).not.toMatch(/Journal features:.*journal_64bit/);
    const before = sha256File(unreplayed);

    const { result } = await replayImage(unreplayed);
    expect(result.transactions).toBeGreaterThan(0);
    expect(result.revokeRecords).toBeGreaterThan(0);
    const vol = await openVolume(unreplayed, { readOnly: true });
    let ours: Map<string, string>;
    try {
      expect(vol.info().features).toContain('needs_recovery');
      ours = await snapshotVolume(vol);
    } finally {
      await vol.close();
    }
    expect(sha256File(unreplayed), 'ext4kit wrote the image').toBe(before);

    const oracle = path.join(dir, 'e2fsck.img');
    expect(await e2fsckReplayedCopy(unreplayed, oracle)).toMatch(/recovering journal/);
    const seq = /Journal sequence:\s+0x([0-9a-f]+)/.exec(await dumpe2fs(oracle, ['-h']));
    expect(result.nextSequence).toBe(parseInt(seq?.[1] ?? '', 16));
    const vol2 = await openVolume(oracle, { readOnly: true });
    let theirs: Map<string, string>;
    try {
      theirs = await snapshotVolume(vol2);
    } finally {
      await vol2.close();
    }
    const ro = await mountImage(oracle, { readOnly: true });
    let kernel: Map<string, string>;
    try {
      kernel = await snapshotHost(ro.dir);
    } finally {
      await ro.unmount();
    }
    // The journal matters: the image as it is on disk shows another tree.
    const raw = await openRawView(unreplayed);
    expect(Object.fromEntries(raw)).not.toEqual(Object.fromEntries(kernel));
    expect(ours.has('/keep/moved/hard')).toBe(true);
    expect(ours.has('/big-dir')).toBe(false);
    expect(ours.size).toBeGreaterThan(35);
    expect(Object.fromEntries(ours)).toEqual(Object.fromEntries(kernel));
    expect(Object.fromEntries(ours)).toEqual(Object.fromEntries(theirs));
    await expectFsckClean(oracle, { timeoutMs: 30_000 });
    console.log(`kernel journal: ${result.transactions} transactions ${result.firstSequence}..${result.endSequence - 1}, ` +
      `${result.blocks.size} blocks replayed (${result.replayedCopies} copies), ${result.revokeRecords} revoke records, ${result.revokeHits} revoked copies`);
  }, 60_000);
});

/** The tree as the image shows it without replay (the pre-replay mount the journal is read through). */
async function openRawView(img: string): Promise<Map<string, string>> {
  const dev = await FileDevice.open(img, { readOnly: true });
  try {
    const fs0 = await Ext4Super.mount(dev, { readOnly: true, cacheBytes: 8 << 20, recover: 'before-replay' });
    const promises = new Ext4Promises(new Mounted(fs0, 8 << 20));
    const fake = { promises } as unknown as Parameters<typeof snapshotVolume>[0];
    return await snapshotVolume(fake).catch((e: unknown) => new Map([['error', String(e)]]));
  } finally {
    await dev.close();
  }
}

describe.skipIf(!canLoop)('fast-commit journals written by the kernel', () => {
  async function liveCopy(name: string, change: (m: string) => Promise<void>): Promise<string> {
    const dir = tmp.fresh(name);
    const img = await mkfs(path.join(dir, 'live.img'), { size: '64M', args: ['-b', '4096', '-O', 'fast_commit'] });
    const copy = path.join(dir, 'copy.img');
    await copyWhileMounted(img, copy, async (m) => {
      fs.writeFileSync(`${m}/a`, 'a\n');
      await runChecked('sync', ['-f', m]);
      await change(m);
    });
    expect(await dumpe2fs(copy, ['-h'])).toMatch(/needs_recovery/);
    return copy;
  }

  it('refuses with ENOTSUP when fast commits wait to be replayed (an fsync after the last full commit)', async () => {
    const copy = await liveCopy('fc', async (m) => {
      fs.writeFileSync(`${m}/b`, 'hello\n');
      const fd = fs.openSync(`${m}/b`, 'r');
      try {
        fs.fsyncSync(fd);
      } finally {
        fs.closeSync(fd);
      }
    });
    expect(await debugfs(copy, 'logdump')).toMatch(/tag (HEAD|INODE|ADD_RANGE)/);
    const before = sha256File(copy);
    await expect(openVolume(copy, { readOnly: true })).rejects.toMatchObject({ code: 'ENOTSUP', message: expect.stringContaining('fast-commit') });
    expect(sha256File(copy)).toBe(before);
  }, 30_000);

  it('replays a fast_commit journal that holds only full commits', async () => {
    const copy = await liveCopy('fc-full', async (m) => {
      fs.mkdirSync(`${m}/d`);
      fs.writeFileSync(`${m}/d/c`, 'full commit\n');
      const fd = fs.openSync(`${m}/d`, 'r');
      try {
        fs.fsyncSync(fd); // a directory fsync takes a full commit (fast commits cover regular files)
      } finally {
        fs.closeSync(fd);
      }
    });
    const vol = await openVolume(copy, { readOnly: true });
    try {
      const ours = await snapshotVolume(vol);
      const oracle = `${copy}.e2fsck`;
      expect(await e2fsckReplayedCopy(copy, oracle)).toMatch(/recovering journal/);
      const ro = await mountImage(oracle, { readOnly: true });
      try {
        expect(Object.fromEntries(ours)).toEqual(Object.fromEntries(await snapshotHost(ro.dir)));
      } finally {
        await ro.unmount();
      }
      await expectFsckClean(oracle, { timeoutMs: 30_000 });
    } finally {
      await vol.close();
    }
  }, 30_000);
});
