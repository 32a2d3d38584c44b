/**
 * A log used for several laps: dozens of JournalLog transactions (random
 * sizes, overlapping block sets, revokes of blocks logged earlier), the
 * oldest ones checkpointed (written home by the test, flushed) and the tail
 * advanced whenever the log is too full for the next one; on the way the
 * log is marked clean twice, once with a reopen (the next log starts over
 * at s_first with s_sequence + 1), once carrying on from the head. At the
 * end the live transactions wrap around the end of the journal, and
 * needs_recovery is set. debugfs logdump must list exactly the live
 * transactions; our recovery, e2fsck's replay and the kernel's must give
 * every block the contents the model says (checkpointed copies at home,
 * live copies replayed, revoked copies not); recoverToDisk must give
 * e2fsck's image; every replayed image must be e2fsck-clean.
 */
import { describe, it, expect } from 'vitest';
import * as fs from 'node:fs';
import type { Ext4JournalFeatures, LoggedBlock } from '../../src/journal/log-writer.js';
import { useTmpDir } from '../helpers/tmp.js';
import { mkfs } from '../helpers/images.js';
import { expectFsckClean } from '../helpers/fsck.js';
import { canLoopMount, describeLoopSkip } from '../helpers/loop.js';
import { Rng } from '../helpers/prng.js';
import { replayImage } from './journal-helpers.js';
import {
  blocksDiffering, e2fsckReplay, escapedPattern, expectedReplay, expectRecoverToDiskLikeE2fsck, freeBlocks, kernelReplayedCopy,
  logdump, openLog, pattern, setNeedsRecovery, type ModelTransaction, type OpenLog,
} from './log-helpers.js';

const tmp = useTmpDir('journal-wrap');
const canLoop = await canLoopMount();
if (!canLoop) console.warn(`SKIPPED (kernel replay of a wrapped ext4kit log): ${await describeLoopSkip()}`);

interface WrapKind {
  name: string;
  mkfsArgs: string[];
  bs: number;
  features: Ext4JournalFeatures;
  seed: number;
}

const WRAP_KINDS: WrapKind[] = [
  { name: '4 KiB blocks, 64-bit tags, checksum v3', mkfsArgs: ['-b', '4096'], bs: 4096, features: { metadataCsum: true, is64bit: true }, seed: 11 },
  { name: '1 KiB blocks, 32-bit tags, checksum v3', mkfsArgs: ['-b', '1024', '-O', '^64bit'], bs: 1024, features: { metadataCsum: true, is64bit: false }, seed: 12 },
  { name: '4 KiB blocks, no checksums', mkfsArgs: ['-b', '4096', '-O', '^metadata_csum'], bs: 4096, features: { metadataCsum: false, is64bit: true }, seed: 13 },
];

interface Live extends ModelTransaction {
  start: number;
  size: number;
}

describe('a log that wraps, with checkpoints and tail moves', () => {
  it.each(WRAP_KINDS)('$name', async (k) => {
    const dir = tmp.fresh('wrap');
    const img = await mkfs(`${dir}/img`, { size: '32M', args: k.mkfsArgs });
    const bs = k.bs;
    const rng = new Rng(k.seed);
    const pool = await freeBlocks(img, 600, 3000);
    const original = fs.readFileSync(img);
    const home = new Map<number, Uint8Array>();
    let live: Live[] = [];
    let o: OpenLog = await openLog(img, { features: k.features });
    const logLen = o.log.last - o.log.first;
    let written = 0;
    let wrappedCommits = 0;

    /** Writes the oldest `n` live transactions home, flushes, and moves the tail past them. */
    const checkpoint = async (n: number): Promise<void> => {
      const done = live.slice(0, n);
      live = live.slice(n);
      for (const t of done) {
        for (const b of t.blocks) {
          await o.dev.write(b.blockNr * bs, b.data);
          home.set(b.blockNr, b.data);
        }
      }
      await o.dev.flush();
      const nextTid = live.length > 0 ? live[0].tid : o.log.nextTid;
      const start = live.length > 0 ? live[0].start : o.log.head;
      const freed = o.log.reclaimableBlocks(nextTid);
      expect(freed).toBe(done.reduce((s, t) => s + t.size, 0));
      const before = o.log.freeBlocks;
      await o.log.advanceTail(nextTid, start);
      expect(o.log.freeBlocks).toBe(before + freed);
      expect(o.log.tail).toBe(start);
    };

    const rounds = 60;
    let time = Date.UTC(2025, 5, 1);
    for (let i = 0; i < rounds; i++) {
      if (i === 20 || i === 40) {
        await checkpoint(live.length);
        await o.log.markClean(o.log.nextTid);
        if (i === 20) {
          // A clean journal reopened: the next transaction is s_sequence + 1 and the log starts at s_first.
          const nextTid = o.log.nextTid;
          await o.close();
          o = await openLog(img, { features: k.features });
          expect(o.log.nextTid).toBe(nextTid + 1);
          expect(o.log.head).toBe(o.log.first);
        }
      }
      const size = rng.int(Math.floor(logLen / 14), Math.floor(logLen / 6));
      const from = rng.int(0, pool.length - size);
      const chosen = new Set(pool.slice(from, from + size));
      const blocks: LoggedBlock[] = [...chosen].map((nr) => ({
        blockNr: nr, data: rng.chance(0.02) ? escapedPattern(`${i}/${nr}`, bs) : pattern(`${i}/${nr}`, bs),
      }));
      const revokes: number[] = [];
      if (rng.chance(0.4)) {
        const candidates = [...new Set(live.flatMap((t) => t.blocks.map((b) => b.blockNr)))].filter((nr) => !chosen.has(nr));
        for (let r = rng.int(1, 6); r > 0 && candidates.length > 0; r--) {
          revokes.push(candidates.splice(rng.int(0, candidates.length - 1), 1)[0]);
        }
      }
      const need = o.log.blocksNeeded(blocks.length, revokes.length);
      expect(need).toBeLessThanOrEqual(o.log.maxTransactionBlocks);
      let n = 0;
      let reclaim = 0;
      while (o.log.freeBlocks + reclaim < need) reclaim += live[n++].size;
      if (n > 0) await checkpoint(n);
      const tid = o.log.nextTid;
      const r = await o.log.commit(tid, blocks, revokes, (time += 700));
      expect(r).toEqual({ tid, start: expect.any(Number), blocks: need });
      if (r.start + r.blocks > o.log.last) wrappedCommits++;
      written += need;
      live.push({ tid, blocks, revokes, start: r.start, size: need });
    }
    await o.close();
    expect(written, 'the log went round more than twice').toBeGreaterThan(2 * logLen);
    expect(wrappedCommits).toBeGreaterThan(1);
    expect(live.length).toBeGreaterThan(2);
    const escaped = live.flatMap((t) => t.blocks).filter((b) => b.data[0] === 0xc0 && b.data[1] === 0x3b && b.data[2] === 0x39 && b.data[3] === 0x98);
    expect(escaped.length, 'live transactions log blocks that need escaping').toBeGreaterThan(0);
    await setNeedsRecovery(img);

    // The live transactions, as debugfs reads the log.
    const dump = await logdump(img);
    expect(dump.start).toBe(live[0].start);
    expect(dump.transactions.map((t) => t.tid)).toEqual(live.map((t) => t.tid));
    for (const [i, t] of live.entries()) {
      expect(dump.transactions[i].blocks).toEqual(t.blocks.map((b) => b.blockNr));
      expect(dump.transactions[i].revokes).toEqual(t.revokes);
    }
    expect(live.some((t) => t.start + t.size > o.log.last), 'a live transaction crosses the end of the log').toBe(true);

    const replayed = expectedReplay(live);
    const final = new Map<number, Uint8Array>();
    for (const nr of pool) final.set(nr, replayed.get(nr) ?? home.get(nr) ?? original.subarray(nr * bs, (nr + 1) * bs));

    const { result } = await replayImage(img);
    expect(result.transactions).toBe(live.length);
    expect([...result.blocks.keys()].sort((a, b) => a - b)).toEqual([...replayed.keys()].sort((a, b) => a - b));
    for (const [nr, data] of replayed) expect(Buffer.from(result.blocks.get(nr) ?? []).equals(Buffer.from(data)), `block ${nr}`).toBe(true);

    const oracle = `${img}.e2fsck`;
    expect(await e2fsckReplay(img, oracle)).toMatch(/recovering journal/);
    expect(await blocksDiffering(oracle, bs, final)).toEqual([]);
    await expectFsckClean(oracle, { timeoutMs: 60_000 });

    await expectRecoverToDiskLikeE2fsck(img, oracle, bs);
    if (canLoop) {
      const kernel = await kernelReplayedCopy(img);
      expect(await blocksDiffering(kernel, bs, final)).toEqual([]);
      await expectFsckClean(kernel, { timeoutMs: 60_000 });
    }
    console.log(`wrap (${k.name}): ${written} log blocks written over a ${logLen}-block log, ` +
      `${live.length} live transactions ${live[0].tid}..${live.at(-1)?.tid} from block ${live[0].start}, ${result.revokeHits} revoked copies`);
  }, 120_000);
});
