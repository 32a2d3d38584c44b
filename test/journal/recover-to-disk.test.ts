/**
 * recoverToDisk, the replay a writable open runs first, against e2fsck's
 * replay (`e2fsck -y -E journal_only`) of the same image: journals the
 * kernel wrote (an image copied while mounted, after fsyncs: committed
 * transactions with revokes, checksum v3, 64-bit and 32-bit tags) and
 * journals debugfs wrote (no checksums, v2, v3, v1, 32-bit tags, escaped
 * blocks, revokes). The two images must be the same block for block (the
 * superblock apart from the lifetime-writes counter and write time e2fsck
 * updates), and e2fsck -fn must find nothing to fix afterwards.
 *
 * Also: needs_recovery over an empty journal, an error recorded in the
 * journal superblock, a journal holding transactions while needs_recovery
 * is clear (the kernel discards them; so must we), and power cuts during
 * recoverToDisk itself (running it again must give the same image).
 */
import { describe, it, expect } from 'vitest';
import * as fs from 'node:fs';
import { MemoryDevice } from '../../src/device/memory-device.js';
import { decodeJournalSuperblock, setJournalSuperblockChecksum } from '../../src/format/jbd2-superblock.js';
import { writeU32BE } from '../../src/format/le.js';
import { openVolume } from '../../src/index.js';
import { Prng } from '../../src/sim/prng.js';
import { SimDevice } from '../../src/sim/sim-device.js';
import { recoverToDisk } from '../../src/vfs/journal-open.js';
import { useTmpDir } from '../helpers/tmp.js';
import { mkfs } from '../helpers/images.js';
import { debugfs, dumpe2fs, readRange, writeRange } from '../helpers/debugfs.js';
import { expectFsckClean } from '../helpers/fsck.js';
import { canLoopMount, describeLoopSkip, mountImage } from '../helpers/loop.js';
import { runChecked } from '../helpers/run.js';
import { Rng } from '../helpers/prng.js';
import { copyWhileMounted, journalBlocks, kernelWorkload } from './journal-helpers.js';
import {
  differingBlocks, differingBlocksFrom, e2fsckReplay, expectRecoverToDiskLikeE2fsck, recoverFile, superblockSansBookkeeping,
} from './log-helpers.js';
import { CuttingDevice } from './power-cut.js';

const tmp = useTmpDir('journal-recover');
const canLoop = await canLoopMount();
if (!canLoop) console.warn(`SKIPPED (recoverToDisk on kernel journals, kernel wipe oracle): ${await describeLoopSkip()}`);

/** recoverToDisk on one copy, e2fsck's replay on another: the same image, and e2fsck-clean; a second run changes nothing. */
async function expectSameAsE2fsck(img: string, bs: number): Promise<void> {
  const oracle = `${img}.e2fsck`;
  expect(await e2fsckReplay(img, oracle)).toMatch(/recovering journal/);
  const ours = await expectRecoverToDiskLikeE2fsck(img, oracle, bs);
  expect(await dumpe2fs(ours, ['-h'])).toMatch(/^Journal start:\s+0$/m);
  const again = fs.readFileSync(ours);
  await recoverFile(ours);
  expect(fs.readFileSync(ours).equals(again)).toBe(true);
}

describe.skipIf(!canLoop)('recoverToDisk on journals the kernel wrote', () => {
  it.each([
    { name: '4 KiB blocks, 64bit', args: ['-b', '4096'], bs: 4096 },
    { name: '1 KiB blocks, no 64bit', args: ['-b', '1024', '-O', '^64bit'], bs: 1024 },
  ])('$name: the same image as e2fsck\'s replay', async ({ args, bs }) => {
    const dir = tmp.fresh('kernel');
    const img = await mkfs(`${dir}/live.img`, { size: '64M', args });
    const copy = await copyWhileMounted(img, `${dir}/copy.img`, kernelWorkload);
    expect(await dumpe2fs(copy, ['-h'])).toMatch(/needs_recovery/);
    await expectSameAsE2fsck(copy, bs);
    const vol = await openVolume(`${copy}.ours`, { readOnly: true });
    try {
      expect(vol.info().features).not.toContain('needs_recovery');
      expect((await vol.promises.readdir('/keep/moved')).sort()).toEqual(['hard']);
    } finally {
      await vol.close();
    }
  }, 120_000);
});

function randomBlocks(rng: Rng, n: number, bs: number): Uint8Array {
  const b = new Uint8Array(n * bs);
  for (let i = 0; i < b.length; i++) b[i] = rng.u32() & 0xff;
  return b;
}

/** Four debugfs transactions: escaped blocks, overwrites, revokes of logged and unlogged blocks. */
async function debugfsJournal(name: string, mkfsArgs: string[], jo: string): Promise<string> {
  const rng = new Rng(name.length * 31 + 7);
  const dir = tmp.fresh(name);
  const a = randomBlocks(rng, 2, 4096);
  a.set([0xc0, 0x3b, 0x39, 0x98], 0);
  a.set([0xc0, 0x3b, 0x39, 0x98], 4096);
  fs.writeFileSync(`${dir}/a`, a);
  fs.writeFileSync(`${dir}/b`, randomBlocks(rng, 3, 4096));
  fs.writeFileSync(`${dir}/c`, randomBlocks(rng, 1, 4096));
  const img = await mkfs(`${dir}/img`, { size: '32M', args: ['-b', '4096', ...mkfsArgs] });
  const cmds = [
    jo, `jw -b 2000,2001 ${dir}/a`, 'jc',
    'jo', `jw -b 2001,2002,2003 ${dir}/b`, 'jc',
    'jo', 'jw -r 2000,2003,2500', 'jc',
    'jo', `jw -b 2000 ${dir}/c`, 'jc',
  ];
  fs.writeFileSync(`${dir}/cmds`, cmds.join('\n') + '\n');
  await runChecked('debugfs', ['-w', '-f', `${dir}/cmds`, img], { timeoutMs: 30_000 });
  expect(await dumpe2fs(img, ['-h'])).toMatch(/needs_recovery/);
  return img;
}

describe('recoverToDisk on journals debugfs wrote', () => {
  it.each([
    { name: 'plain64', args: [], jo: 'jo', features: /journal_64bit/ },
    { name: 'csum3', args: [], jo: 'jo -c', features: /journal_checksum_v3/ },
    { name: 'csum2', args: [], jo: 'jo -c -v 2', features: /journal_checksum_v2/ },
    { name: 'csum1', args: ['-O', '^metadata_csum'], jo: 'jo -c', features: /journal_checksum / },
    { name: 'tags32', args: ['-O', '^64bit'], jo: 'jo', features: /^Journal features:\s+journal_incompat_revoke$/m },
  ])('$name: the same image as e2fsck\'s replay', async ({ name, args, jo, features }) => {
    const img = await debugfsJournal(name, args, jo);
    expect(await dumpe2fs(img, ['-h'])).toMatch(features);
    await expectSameAsE2fsck(img, 4096);
  });
});

describe('recoverToDisk edge cases', () => {
  it('needs_recovery over an empty journal: clears the flag as e2fsck does', async () => {
    const img = await mkfs(tmp.file('empty.img'), { size: '8M', args: ['-b', '4096'] });
    await debugfs(img, 'feature needs_recovery', true);
    await expectSameAsE2fsck(img, 4096);
  });

  it('an error recorded in the journal superblock becomes the filesystem error state, as e2fsck does', async () => {
    const img = await mkfs(tmp.file('errno.img'), { size: '8M', args: ['-b', '4096'] });
    const j0 = (await journalBlocks(img))[0] * 4096;
    const raw = await readRange(img, j0, 1024);
    writeU32BE(raw, 0x20, -5 >>> 0);
    setJournalSuperblockChecksum(raw);
    await writeRange(img, j0, raw);
    const oracle = `${img}.e2fsck`;
    await e2fsckReplay(img, oracle);
    await recoverFile(img);
    expect(differingBlocks(img, oracle, 4096).filter((nr) => nr !== 0)).toEqual([]);
    expect(await superblockSansBookkeeping(img)).toEqual(await superblockSansBookkeeping(oracle));
    expect(await dumpe2fs(img, ['-h'])).toMatch(/^Filesystem state:\s+clean with errors$/m);
    expect(decodeJournalSuperblock(await readRange(img, j0, 1024)).errno).toBe(0);
    await expectFsckClean(img, { timeoutMs: 60_000 });
  });

  it('transactions in a journal whose needs_recovery is clear are discarded, not replayed (as the kernel does)', async () => {
    const img = await debugfsJournal('wipe', [], 'jo -c');
    await debugfs(img, 'feature -needs_recovery', true);
    const before = fs.readFileSync(img);
    const j0 = (await journalBlocks(img))[0] * 4096;
    const jsbBefore = decodeJournalSuperblock(await readRange(img, j0, 1024));
    expect(jsbBefore.start).not.toBe(0);
    await recoverFile(img);
    const jsb = decodeJournalSuperblock(await readRange(img, j0, 1024));
    expect(jsb.start).toBe(0);
    expect(jsb.sequence).toBe(jsbBefore.sequence + 4 + 1);
    // Only the journal superblock changed.
    expect(differingBlocksFrom(before, img, 4096)).toEqual([j0 / 4096]);
    const after = fs.readFileSync(img);
    for (const nr of [2000, 2001, 2002, 2003]) expect(after.subarray(nr * 4096, (nr + 1) * 4096).equals(before.subarray(nr * 4096, (nr + 1) * 4096))).toBe(true);
    await expectFsckClean(img, { timeoutMs: 60_000 });
    if (canLoop) {
      // The kernel's own verdict on the same image: it mounts, discards the log, and leaves 2000-2003 alone.
      const kernel = tmp.file('wipe-kernel.img');
      fs.writeFileSync(kernel, before);
      const m = await mountImage(kernel);
      await m.unmount();
      const k = fs.readFileSync(kernel);
      for (const nr of [2000, 2001, 2002, 2003]) expect(k.subarray(nr * 4096, (nr + 1) * 4096).equals(before.subarray(nr * 4096, (nr + 1) * 4096))).toBe(true);
    }
  });

  it('a power cut at any write or flush of recoverToDisk: running it again gives the same image', async () => {
    const img = await debugfsJournal('cut', [], 'jo -c');
    const original = fs.readFileSync(img);
    const clean = new MemoryDevice(Buffer.from(original));
    await recoverToDisk(clean, 4 << 20);
    const j0 = (await journalBlocks(img))[0] * 4096;
    const jsbClean = decodeJournalSuperblock(clean.bytes.subarray(j0, j0 + 1024));
    let requests = 0;
    for (let cut = 1; ; cut++) {
      let reached = false;
      for (const seed of [cut, cut + 500]) {
        const sim = new SimDevice({ image: original, rng: new Prng(seed) });
        const dev = new CuttingDevice(sim, cut);
        let error: unknown;
        try {
          await recoverToDisk(dev, 4 << 20);
        } catch (e) {
          error = e;
        }
        if (dev.image === undefined) continue;
        reached = true;
        expect(error).toMatchObject({ code: 'EIO' });
        const again = new MemoryDevice(dev.image);
        await recoverToDisk(again, 4 << 20);
        const what = `cut before request ${cut} (seed ${seed})`;
        expect(differingBlocksFrom(clean.bytes, again, 4096).filter((nr) => nr !== j0 / 4096), what).toEqual([]);
        // A cut after the journal was reset leaves needs_recovery over an empty journal, and that
        // replay moves s_sequence on by one (as e2fsck and Linux do): the rest is the same.
        const jsbAgain = decodeJournalSuperblock(again.bytes.subarray(j0, j0 + 1024));
        expect([jsbClean.sequence, jsbClean.sequence + 1], what).toContain(jsbAgain.sequence);
        expect({ ...jsbAgain, sequence: 0, checksum: 0 }, what).toEqual({ ...jsbClean, sequence: 0, checksum: 0 });
      }
      if (!reached) break;
      requests = cut;
    }
    expect(requests).toBeGreaterThanOrEqual(6);
    fs.writeFileSync(`${img}.recovered`, clean.bytes);
    await expectFsckClean(`${img}.recovered`, { timeoutMs: 60_000 });
  });
});
