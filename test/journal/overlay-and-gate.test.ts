/**
 * The overlay device on its own (reads that start, end and span inside and
 * across replayed blocks, checked against the bytes composed by hand), and
 * the mount decisions around recovery: writable opens of an image that
 * needs recovery are refused, as are external journals and a journal
 * superblock whose checksum fails.
 */
import { describe, it, expect } from 'vitest';
import * as fs from 'node:fs';
import { MemoryDevice } from '../../src/device/memory-device.js';
import { OverlayDevice } from '../../src/device/overlay-device.js';
import { FileDevice } from '../../src/device/file-device.js';
import { Ext4Super } from '../../src/super/ext4-super.js';
import { openVolume } from '../../src/index.js';
import { useTmpDir } from '../helpers/tmp.js';
import { mkfs } from '../helpers/images.js';
import { debugfsBatch, readRange, writeRange } from '../helpers/debugfs.js';
import { runChecked } from '../helpers/run.js';
import { Rng } from '../helpers/prng.js';
import { journalBlocks, sha256File } from './journal-helpers.js';

const tmp = useTmpDir('journal-gate');
const BS = 1024;

describe('OverlayDevice', () => {
  it('serves replayed blocks over the device below, splitting reads at their edges', async () => {
    const rng = new Rng(7);
    const base = new Uint8Array(64 * BS);
    for (let i = 0; i < base.length; i++) base[i] = rng.u32() & 0xff;
    const inner = new MemoryDevice(base.slice());
    const replayed = new Map<number, Uint8Array>();
    for (const nr of [0, 5, 6, 7, 20, 63]) replayed.set(nr, new Uint8Array(BS).fill(nr + 1));
    const overlay = new OverlayDevice(inner, BS, replayed);
    const view = base.slice();
    for (const [nr, data] of replayed) view.set(data, nr * BS);
    for (let k = 0; k < 500; k++) {
      const off = rng.u32() % view.length;
      const len = rng.u32() % Math.min(view.length - off + 1, 12 * BS);
      const got = await overlay.read(off, len);
      expect(Buffer.from(got).equals(Buffer.from(view.subarray(off, off + len))), `read ${off}+${len}`).toBe(true);
    }
    const whole = new Uint8Array(view.length);
    await overlay.readInto(0, whole);
    expect(Buffer.from(whole).equals(Buffer.from(view))).toBe(true);
    await expect(overlay.write()).rejects.toMatchObject({ code: 'EROFS' });
    await expect(overlay.read(view.length - 1, 2)).rejects.toMatchObject({ code: 'EIO' });
  });
});

/** An image whose journal holds one committed transaction (debugfs), checksum v3. */
async function needsRecovery(name: string): Promise<string> {
  const dir = tmp.fresh(name);
  fs.writeFileSync(`${dir}/data`, new Uint8Array(4096).fill(0x5a));
  const img = await mkfs(`${dir}/img`, { size: '32M', args: ['-b', '4096'] });
  fs.writeFileSync(`${dir}/cmds`, `jo -c\njw -b 3000 ${dir}/data\njc\n`);
  await runChecked('debugfs', ['-w', '-f', `${dir}/cmds`, img], { timeoutMs: 30_000 });
  return img;
}

describe('mounting an image whose journal needs recovery', () => {
  it('replays read-only; refuses a writable mount', async () => {
    const img = await needsRecovery('rw');
    const dev = await FileDevice.open(img, { readOnly: true });
    try {
      await expect(Ext4Super.mount(dev, { readOnly: false, cacheBytes: 1 << 20 }))
        .rejects.toMatchObject({ code: 'ENOTSUP', message: expect.stringContaining('readOnly: true') });
      await expect(Ext4Super.mount(dev, { readOnly: true, cacheBytes: 1 << 20 }))
        .rejects.toMatchObject({ code: 'ENOTSUP', message: expect.stringContaining('did not replay') });
    } finally {
      await dev.close();
    }
    const vol = await openVolume(img, { readOnly: true });
    expect(vol.readOnly).toBe(true);
    await vol.close();
  });

  it('refuses an external journal device with ENOTSUP', async () => {
    const img = await needsRecovery('ext');
    await debugfsBatch(img, ['ssv journal_inum 0', 'ssv journal_dev 0x0801'], true);
    await expect(openVolume(img, { readOnly: true })).rejects.toMatchObject({ code: 'ENOTSUP', message: expect.stringContaining('external journal') });
  });

  it('a journal superblock with a bad checksum is EFSCORRUPTED, and the image is left alone', async () => {
    const img = await needsRecovery('jsb');
    const [jsbBlock] = await journalBlocks(img);
    const raw = await readRange(img, jsbBlock * 4096 + 0x60, 1);
    await writeRange(img, jsbBlock * 4096 + 0x60, new Uint8Array([raw[0] ^ 0x40]));
    const before = sha256File(img);
    await expect(openVolume(img, { readOnly: true })).rejects.toMatchObject({ code: 'EFSCORRUPTED', message: expect.stringContaining('journal superblock') });
    expect(sha256File(img)).toBe(before);
  });
});
