/**
 * JournalLog's contract with the transaction layer above it, on mkfs.ext4
 * images: what open refuses, misuse refused before anything is written
 * (wrong transaction ID, a block logged twice, a block both logged and
 * revoked, a transaction larger than the free log), the space accounting
 * the checkpoint code relies on, an I/O error aborting the log, and big
 * transactions going to the device in a few large writes.
 */
import { describe, it, expect } from 'vitest';
import * as fs from 'node:fs';
import type { BlockDevice } from '../../src/device/block-device.js';
import { FileDevice } from '../../src/device/file-device.js';
import { ReadOnlyDevice } from '../../src/device/wrappers.js';
import { FsError } from '../../src/base/errors.js';
import { JournalLog } from '../../src/journal/log-writer.js';
import { Ext4Super } from '../../src/super/ext4-super.js';
import { openInodeJournal } from '../../src/vfs/journal-open.js';
import { useTmpDir } from '../helpers/tmp.js';
import { mkfs } from '../helpers/images.js';
import { dumpe2fs } from '../helpers/debugfs.js';
import { expectFsckClean } from '../helpers/fsck.js';
import { runChecked } from '../helpers/run.js';
import { journalBlocks } from './journal-helpers.js';
import { freeBlocks, logdump, openLog, pattern } from './log-helpers.js';

const tmp = useTmpDir('journal-log-api');
const FEATURES = { metadataCsum: true, is64bit: true };

/** Counts writes and their sizes; can be told to fail writes. */
class CountingDevice implements BlockDevice {
  readonly readOnly = false;
  writes: number[] = [];
  flushes = 0;
  failWrites = false;
  constructor(private readonly inner: BlockDevice) {}
  get size(): number { return this.inner.size; }
  read(offset: number, length: number): Promise<Buffer> { return this.inner.read(offset, length); }
  readInto(offset: number, target: Uint8Array): Promise<void> { return this.inner.readInto(offset, target); }
  async write(offset: number, data: Uint8Array): Promise<void> {
    if (this.failWrites) throw new FsError('EIO', 'injected write error', 'write');
    this.writes.push(data.length);
    await this.inner.write(offset, data);
  }
  async flush(): Promise<void> {
    this.flushes++;
    await this.inner.flush();
  }
  close(): Promise<void> { return this.inner.close(); }
}

async function openCounting(img: string, maxWriteBytes?: number): Promise<{ dev: CountingDevice; log: JournalLog }> {
  const dev = new CountingDevice(await FileDevice.open(img));
  const fs0 = await Ext4Super.mount(dev, { readOnly: true, cacheBytes: 8 << 20 });
  const log = await JournalLog.open(await openInodeJournal(fs0), dev, { features: FEATURES, maxWriteBytes });
  return { dev, log };
}

describe('JournalLog.open', () => {
  it('opens a clean journal: log bounds, next transaction, capacity figures', async () => {
    const img = await mkfs(tmp.file('open.img'), { size: '32M', args: ['-b', '4096'] });
    const o = await openLog(img, { features: FEATURES });
    try {
      const header = await dumpe2fs(img, ['-h']);
      const seq = parseInt(/^Journal sequence:\s+0x([0-9a-f]+)/m.exec(header)?.[1] ?? '', 16);
      const blocks = Number(/^Total journal blocks:\s+(\d+)/m.exec(header)?.[1]);
      expect(o.log.nextTid).toBe(seq + 1);
      expect(o.log.first).toBe(1);
      expect(o.log.last).toBe(blocks);
      expect(o.log.head).toBe(1);
      expect(o.log.freeBlocks).toBe(blocks - 1);
      expect(o.log.maxTransactionBlocks).toBe(blocks / 4);
      // jbd2's figures for a 4 KiB journal with 16-byte v3 tags and 8-byte revoke records.
      expect(o.log.tagsPerDescriptor).toBe(253);
      expect(o.log.revokesPerBlock).toBe(509);
      expect(o.log.blocksNeeded(0, 0)).toBe(1);
      expect(o.log.blocksNeeded(253, 0)).toBe(255);
      expect(o.log.blocksNeeded(254, 510)).toBe(2 + 254 + 2 + 1);
    } finally {
      await o.close();
    }
    // Opening changes nothing on disk until something is committed.
    expect(await dumpe2fs(img, ['-h'])).toMatch(/^Journal features:\s+\(none\)$/m);
  });

  it('refuses a journal that needs recovery, one that recorded an error, and a read-only device', async () => {
    const dir = tmp.fresh('refuse');
    const img = await mkfs(`${dir}/img`, { size: '32M', args: ['-b', '4096'] });
    fs.writeFileSync(`${dir}/data`, Buffer.alloc(4096, 7));
    const dirty = `${dir}/dirty.img`;
    fs.copyFileSync(img, dirty);
    // A journal holding a transaction; needs_recovery cleared so that the filesystem mounts at all.
    await runChecked('debugfs', ['-w', '-f', '-', dirty], { input: `jo\njw -b 3000 ${dir}/data\njc\nfeature -needs_recovery\n` });
    await expect(openLog(dirty)).rejects.toMatchObject({ code: 'EINVAL', message: expect.stringContaining('recover it') });

    const ro = await FileDevice.open(img, { readOnly: true });
    try {
      const fs0 = await Ext4Super.mount(ro, { readOnly: true, cacheBytes: 1 << 20 });
      await expect(JournalLog.open(await openInodeJournal(fs0), new ReadOnlyDevice(ro))).rejects.toMatchObject({ code: 'EROFS' });
    } finally {
      await ro.close();
    }

    const j0 = (await journalBlocks(img))[0];
    const raw = fs.readFileSync(img);
    raw.writeInt32BE(-5, j0 * 4096 + 0x20); // s_errno; no checksum on a fresh journal
    fs.writeFileSync(img, raw);
    await expect(openLog(img)).rejects.toMatchObject({ code: 'EINVAL', message: expect.stringContaining('error -5') });
  });
});

describe('JournalLog.commit', () => {
  it('refuses misuse before writing anything', async () => {
    const img = await mkfs(tmp.file('misuse.img'), { size: '32M', args: ['-b', '4096'] });
    const [a, b] = await freeBlocks(img, 2, 3000);
    const before = fs.readFileSync(img);
    const o = await openLog(img, { features: FEATURES });
    try {
      const tid = o.log.nextTid;
      const blk = (nr: number): { blockNr: number; data: Uint8Array } => ({ blockNr: nr, data: pattern(`m${nr}`, 4096) });
      const cases: Array<[string, () => Promise<unknown>]> = [
        ['the next transaction is', () => o.log.commit(tid + 1, [blk(a)], [], 0)],
        ['logged twice', () => o.log.commit(tid, [blk(a), blk(a)], [], 0)],
        ['both logged and revoked', () => o.log.commit(tid, [blk(a)], [a], 0)],
        ['revoked twice', () => o.log.commit(tid, [], [b, b], 0)],
        ['has 100 bytes', () => o.log.commit(tid, [{ blockNr: a, data: new Uint8Array(100) }], [], 0)],
        ['cannot be logged', () => o.log.commit(tid, [{ blockNr: -1, data: new Uint8Array(4096) }], [], 0)],
        ['not a time', () => o.log.commit(tid, [blk(a)], [], NaN)],
      ];
      for (const [msg, call] of cases) await expect(call(), msg).rejects.toMatchObject({ code: 'EINVAL', message: expect.stringContaining(msg) });
      // Larger than the free log.
      const many = Array.from({ length: o.log.freeBlocks }, (_, i) => ({ blockNr: 100_000 + i, data: new Uint8Array(4096) }));
      await expect(o.log.commit(tid, many, [], 0)).rejects.toMatchObject({ code: 'ENOSPC' });
      await expect(o.log.advanceTail(tid + 5, 1)).rejects.toMatchObject({ code: 'EINVAL' });
      await expect(o.log.markClean(tid + 1)).rejects.toMatchObject({ code: 'EINVAL' });
      expect(o.log.nextTid).toBe(tid);
    } finally {
      await o.close();
    }
    expect(fs.readFileSync(img).equals(before), 'nothing was written').toBe(true);
  });

  it('32-bit journals refuse block numbers of 2^32 and above', async () => {
    const img = await mkfs(tmp.file('b32.img'), { size: '32M', args: ['-b', '4096', '-O', '^64bit'] });
    const o = await openLog(img, { features: { metadataCsum: true, is64bit: false } });
    try {
      await expect(o.log.commit(o.log.nextTid, [{ blockNr: 2 ** 32, data: new Uint8Array(4096) }], [], 0))
        .rejects.toMatchObject({ code: 'EINVAL' });
      await expect(o.log.commit(o.log.nextTid, [], [2 ** 32], 0)).rejects.toMatchObject({ code: 'EINVAL' });
    } finally {
      await o.close();
    }
  });

  it('accounts log space per transaction, and frees it when the tail moves', async () => {
    const img = await mkfs(tmp.file('space.img'), { size: '32M', args: ['-b', '4096'] });
    const blocks = await freeBlocks(img, 300, 3000);
    const o = await openLog(img, { features: FEATURES });
    try {
      const free0 = o.log.freeBlocks;
      const txs = [];
      for (const n of [10, 260, 1]) {
        txs.push(await o.log.commit(o.log.nextTid, blocks.slice(0, n).map((nr) => ({ blockNr: nr, data: pattern(`s${nr}`, 4096) })), [], 1000));
      }
      expect(txs.map((t) => t.blocks)).toEqual([12, 263, 3]);
      expect(txs.map((t) => t.start)).toEqual([1, 13, 276]);
      expect(o.log.freeBlocks).toBe(free0 - 278);
      expect(o.log.transactions).toEqual(txs);
      expect(o.log.reclaimableBlocks(txs[0].tid)).toBe(0);
      expect(o.log.reclaimableBlocks(txs[2].tid)).toBe(12 + 263);
      expect(o.log.reclaimableBlocks(o.log.nextTid)).toBe(278);
      await expect(o.log.advanceTail(txs[2].tid, txs[1].start)).rejects.toMatchObject({ code: 'EINVAL' });
      await o.log.advanceTail(txs[2].tid, txs[2].start);
      expect(o.log.freeBlocks).toBe(free0 - 3);
      expect(o.log.tail).toBe(276);
      expect((await logdump(img)).transactions.map((t) => t.tid)).toEqual([txs[2].tid]);
      expect(await dumpe2fs(img, ['-h'])).toMatch(new RegExp(`^Journal sequence:\\s+0x0*${txs[2].tid.toString(16)}$`, 'm'));
      await o.log.advanceTail(o.log.nextTid, o.log.head);
      expect(o.log.transactions).toEqual([]);
      expect(o.log.freeBlocks).toBe(free0);
      expect(await dumpe2fs(img, ['-h'])).toMatch(/^Journal start:\s+279$/m);
      await o.log.markClean(o.log.nextTid);
      expect(await dumpe2fs(img, ['-h'])).toMatch(/^Journal start:\s+0$/m);
    } finally {
      await o.close();
    }
    // The transactions were never written home, but the log is marked empty: e2fsck has nothing to replay.
    await expectFsckClean(img);
  });

  it('an I/O error aborts the log: later operations fail with EROFS', async () => {
    const img = await mkfs(tmp.file('abort.img'), { size: '32M', args: ['-b', '4096'] });
    const [a] = await freeBlocks(img, 1, 3000);
    const { dev, log } = await openCounting(img);
    try {
      dev.failWrites = true;
      await expect(log.commit(log.nextTid, [{ blockNr: a, data: pattern('a', 4096) }], [], 0)).rejects.toMatchObject({ code: 'EIO' });
      dev.failWrites = false;
      await expect(log.commit(log.nextTid, [{ blockNr: a, data: pattern('a', 4096) }], [], 0)).rejects.toMatchObject({ code: 'EROFS' });
      await expect(log.markClean(log.nextTid)).rejects.toMatchObject({ code: 'EROFS' });
    } finally {
      await dev.close();
    }
  });

  it('writes a big transaction in a few large writes, and commits run in call order', async () => {
    const img = await mkfs(tmp.file('big.img'), { size: '128M', args: ['-b', '4096', '-J', 'size=32'] });
    const pblk = await journalBlocks(img);
    const { dev, log } = await openCounting(img, 1 << 20);
    try {
      const n = 2000;
      const data = Array.from({ length: n }, (_, i) => ({ blockNr: 8192 + i, data: pattern(`big${i}`, 4096) }));
      const t0 = performance.now();
      // Two commits started together: the second waits for the first.
      const first = log.commit(log.nextTid, data, [], 0);
      const second = log.commit(log.nextTid + 1, data.slice(0, 3).map((b) => ({ ...b, data: pattern('again', 4096) })), [], 1);
      const r = await first;
      const ms = performance.now() - t0;
      await second;
      // The second commit wrote its body (a descriptor and 3 blocks) and its commit block.
      const firstWrites = dev.writes.slice(0, -2);
      expect(dev.writes.slice(-2)).toEqual([4 * 4096, 4096]);
      // 2000 blocks and 8 descriptors from journal block 1 in 1 MiB (256-block) stretches, each split
      // only where the journal file is not contiguous on disk; then the journal superblock and the commit block.
      expect(r.blocks).toBe(n + 8 + 1);
      const expected: number[] = [];
      for (let from = 1; from < 1 + n + 8; from += 256) {
        const to = Math.min(from + 256, 1 + n + 8);
        let run = 1;
        for (let j = from + 1; j < to; j++) {
          if (pblk[j] === pblk[j - 1] + 1) run++;
          else {
            expected.push(run * 4096);
            run = 1;
          }
        }
        expected.push(run * 4096);
      }
      expect(firstWrites).toEqual([...expected, 4096, 4096]);
      expect(firstWrites.filter((w) => w === 1 << 20).length).toBeGreaterThanOrEqual(6);
      console.log(`commit of ${n} x 4 KiB blocks: ${firstWrites.length} device writes, ${ms.toFixed(1)} ms ` +
        `(${((n * 4096) / 1e6 / (ms / 1000)).toFixed(0)} MB/s into ${tmp.path.startsWith('/dev/shm') ? 'tmpfs' : 'disk'})`);
      expect((await logdump(img)).transactions.map((t) => t.blocks.length)).toEqual([n, 3]);
      await log.markClean(log.nextTid);
    } finally {
      await dev.close();
    }
    await expectFsckClean(img);
  });
});
