/**
 * The jbd2 log writer against the oracles. On images made by mkfs.ext4
 * (each journal format: 64-bit tags with checksum v3, 32-bit tags with
 * checksum v3, no checksums, checksum v2 with 64- and 32-bit tags and v1
 * made by debugfs), JournalLog
 * writes transactions: a relabelled superblock block, patterns into free
 * blocks, blocks that open with the journal magic (logged escaped),
 * revokes of blocks logged earlier (one relogged after its revoke), a
 * transaction big enough for several descriptor blocks and several revoke
 * blocks. Then needs_recovery is set, as a crash leaves it, and:
 *  - debugfs logdump lists exactly those transactions, blocks and revokes;
 *  - our recovery reads back exactly what the model says;
 *  - e2fsck's replay writes exactly those blocks home (revoked ones keep
 *    their contents), and the image is e2fsck-clean;
 *  - recoverToDisk gives e2fsck's image, block for block;
 *  - the kernel replays it too (loop mount, when available).
 */
import { describe, it, expect } from 'vitest';
import * as fs from 'node:fs';
import type { Ext4JournalFeatures, LoggedBlock } from '../../src/journal/log-writer.js';
import { useTmpDir } from '../helpers/tmp.js';
import { mkfs } from '../helpers/images.js';
import { dumpe2fs, readRange, writeRange } from '../helpers/debugfs.js';
import { expectFsckClean } from '../helpers/fsck.js';
import { canLoopMount, describeLoopSkip } from '../helpers/loop.js';
import { runChecked } from '../helpers/run.js';
import { journalBlocks, replayImage } from './journal-helpers.js';
import {
  blocksDiffering, differingBlocksFrom, e2fsckReplay, escapedPattern, expectedReplay, expectRecoverToDiskLikeE2fsck, freeBlocks,
  kernelReplayedCopy, logdump, openLog, pattern, relabelledSuperblockBlock, setNeedsRecovery, superblockSansBookkeeping,
  type ModelTransaction,
} from './log-helpers.js';

const tmp = useTmpDir('journal-log');
const canLoop = await canLoopMount();
if (!canLoop) console.warn(`SKIPPED (kernel replay of ext4kit journals): ${await describeLoopSkip()}`);

interface Kind {
  name: string;
  mkfsArgs: string[];
  /** debugfs commands run on the fresh image (to give the journal other features). */
  prepare?: string[];
  features: 'keep' | Ext4JournalFeatures;
  /** dumpe2fs's "Journal features:" line after our commits. */
  journalFeatures: RegExp;
}

const KINDS: Kind[] = [
  {
    name: '4 KiB blocks, 64-bit tags, checksum v3', mkfsArgs: ['-b', '4096'], features: { metadataCsum: true, is64bit: true },
    journalFeatures: /^Journal features:\s+journal_incompat_revoke journal_64bit journal_checksum_v3$/m,
  },
  {
    name: '1 KiB blocks without 64bit: 32-bit tags, checksum v3', mkfsArgs: ['-b', '1024', '-O', '^64bit'],
    features: { metadataCsum: true, is64bit: false },
    journalFeatures: /^Journal features:\s+journal_incompat_revoke journal_checksum_v3$/m,
  },
  {
    name: 'no metadata_csum: no journal checksums', mkfsArgs: ['-b', '4096', '-O', '^metadata_csum'],
    features: { metadataCsum: false, is64bit: true },
    journalFeatures: /^Journal features:\s+journal_incompat_revoke journal_64bit$/m,
  },
  {
    name: 'checksum v2 (a journal debugfs set up with jo -c -v 2)', mkfsArgs: ['-b', '4096'], prepare: ['jo -c -v 2', 'jc'],
    features: 'keep', journalFeatures: /^Journal features:\s+journal_incompat_revoke journal_64bit journal_checksum_v2$/m,
  },
  {
    name: 'checksum v2 with 32-bit tags (10-byte tags)', mkfsArgs: ['-b', '4096', '-O', '^64bit'], prepare: ['jo -c -v 2', 'jc'],
    features: 'keep', journalFeatures: /^Journal features:\s+journal_incompat_revoke journal_checksum_v2$/m,
  },
  {
    name: 'checksum v1 (a journal debugfs set up with jo -c, no metadata_csum)', mkfsArgs: ['-b', '4096', '-O', '^metadata_csum'],
    prepare: ['jo -c', 'jc'], features: 'keep',
    journalFeatures: /^Journal features:\s+journal_checksum journal_incompat_revoke journal_64bit$/m,
  },
];

/** Makes the image of a kind; returns it and its block size. */
async function makeImage(k: Kind, name: string, size = '32M'): Promise<{ img: string; bs: number }> {
  const dir = tmp.fresh(name);
  const img = await mkfs(`${dir}/img`, { size, args: k.mkfsArgs });
  if (k.prepare) {
    fs.writeFileSync(`${dir}/prepare`, k.prepare.join('\n') + '\n');
    await runChecked('debugfs', ['-w', '-f', `${dir}/prepare`, img], { timeoutMs: 30_000 });
    expect(await dumpe2fs(img, ['-h'])).toMatch(/^Journal start:\s+0$/m);
  }
  const bs = k.mkfsArgs.includes('1024') ? 1024 : 4096;
  return { img, bs };
}

/**
 * The scenario's transactions. T1: the superblock with a new label,
 * patterns, two escaped blocks, X and Y. T2: revokes X and Y, relogs P0.
 * T3: relogs Y after its revoke, relabels again. T4: 300 blocks (several
 * descriptor blocks at 1 KiB and 4 KiB) and 600 revokes of blocks never
 * logged (several revoke blocks). T5: nothing but a commit block.
 */
async function scenario(img: string, bs: number): Promise<ModelTransaction[]> {
  const f = await freeBlocks(img, 20, 3000);
  const bulk = await freeBlocks(img, 300, 6000);
  const unlogged = await freeBlocks(img, 600, 1000);
  const [p0, p1, p2, e0, x, y, e1] = f;
  const b = (blockNr: number, data: Uint8Array): LoggedBlock => ({ blockNr, data });
  return [
    {
      tid: 0, revokes: [],
      blocks: [
        await relabelledSuperblockBlock(img, bs, 'jlog-T1'), b(p0, pattern('p0/1', bs)), b(p1, pattern('p1', bs)),
        b(e0, escapedPattern('e0', bs)), b(x, pattern('x', bs)), b(y, pattern('y/1', bs)), b(p2, pattern('p2', bs)),
      ],
    },
    { tid: 0, revokes: [x, y], blocks: [b(p0, pattern('p0/2', bs)), b(e1, escapedPattern('e1', bs))] },
    { tid: 0, revokes: [], blocks: [b(y, pattern('y/3', bs)), await relabelledSuperblockBlock(img, bs, 'jlog-T3')] },
    { tid: 0, revokes: unlogged, blocks: bulk.map((nr, i) => b(nr, i % 50 === 7 ? escapedPattern(`bulk${i}`, bs) : pattern(`bulk${i}`, bs))) },
    { tid: 0, revokes: [], blocks: [] },
  ];
}

describe('transactions written by JournalLog', () => {
  it.each(KINDS)('$name: logdump, our recovery, e2fsck, recoverToDisk and the kernel agree', async (k) => {
    const { img, bs } = await makeImage(k, 'basic');
    const txs = await scenario(img, bs);
    const before = fs.readFileSync(img);
    const o = await openLog(img, { features: k.features });
    try {
      const t0 = Date.UTC(2024, 0, 2, 3, 4, 5);
      for (const [i, t] of txs.entries()) {
        t.tid = o.log.nextTid;
        const r = await o.log.commit(t.tid, t.blocks, t.revokes, t0 + i * 1500);
        expect(r.blocks).toBe(o.log.blocksNeeded(t.blocks.length, t.revokes.length));
      }
    } finally {
      await o.close();
    }
    expect(await dumpe2fs(img, ['-h'])).toMatch(k.journalFeatures);
    // Only the journal was written: the filesystem itself changes at replay.
    const journal = new Set(await journalBlocks(img));
    const changed = differingBlocksFrom(before, img, bs);
    expect(changed.length).toBeGreaterThan(300);
    expect(changed.filter((nr) => !journal.has(nr))).toEqual([]);
    await setNeedsRecovery(img);

    // debugfs reads exactly our transactions.
    const dump = await logdump(img);
    expect(dump.firstTid).toBe(txs[0].tid);
    expect(dump.transactions.map((t) => t.tid)).toEqual(txs.map((t) => t.tid));
    for (const [i, t] of txs.entries()) {
      expect(dump.transactions[i].blocks, `transaction ${t.tid} blocks`).toEqual(t.blocks.map((x) => x.blockNr));
      expect(dump.transactions[i].revokes, `transaction ${t.tid} revokes`).toEqual(t.revokes);
    }

    const want = expectedReplay(txs);
    // Our recovery.
    const { result } = await replayImage(img);
    expect(result.transactions).toBe(txs.length);
    expect([...result.blocks.keys()].sort((a, b) => a - b)).toEqual([...want.keys()].sort((a, b) => a - b));
    for (const [nr, data] of want) expect(Buffer.from(result.blocks.get(nr) ?? []).equals(Buffer.from(data)), `block ${nr}`).toBe(true);
    // T1's copies of X and Y are covered by T2's revokes; T3's copy of Y is newer than the revoke.
    expect(result.revokeHits).toBe(2);
    expect(result.revokeRecords).toBe(602);

    // e2fsck's replay.
    const oracle = `${img}.e2fsck`;
    expect(await e2fsckReplay(img, oracle)).toMatch(/recovering journal/);
    // e2fsck also updates the superblock after the replay (needs_recovery, lifetime writes): compared apart.
    const sbBlock = Math.floor(1024 / bs);
    const wantSb = want.get(sbBlock);
    want.delete(sbBlock);
    expect(await blocksDiffering(oracle, bs, want)).toEqual([]);
    const logged = `${img}.logged-sb`;
    fs.copyFileSync(img, logged);
    await writeRange(logged, sbBlock * bs, wantSb ?? new Uint8Array(0));
    expect(await superblockSansBookkeeping(oracle)).toEqual(await superblockSansBookkeeping(logged));
    const [, , , , x] = txs[0].blocks.map((b) => b.blockNr);
    expect(Buffer.from(await readRange(oracle, x * bs, bs)).equals(before.subarray(x * bs, (x + 1) * bs)), 'revoked block X untouched').toBe(true);
    expect(await dumpe2fs(oracle, ['-h'])).toMatch(/^Filesystem volume name:\s+jlog-T3$/m);
    await expectFsckClean(oracle, { timeoutMs: 60_000 });

    // recoverToDisk: the same image as e2fsck's replay.
    await expectRecoverToDiskLikeE2fsck(img, oracle, bs);

    // The kernel.
    if (canLoop) {
      const kernel = await kernelReplayedCopy(img);
      // The kernel rewrites the superblock at mount and unmount (times, counts): its label is checked instead.
      expect(await blocksDiffering(kernel, bs, want)).toEqual([]);
      expect(await dumpe2fs(kernel, ['-h'])).toMatch(/^Filesystem volume name:\s+jlog-T3$/m);
      await expectFsckClean(kernel, { timeoutMs: 60_000 });
    }
  }, 120_000);
});
