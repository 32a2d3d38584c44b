/**
 * Power cuts while JournalLog writes. A scenario of commits, a checkpoint
 * with a tail move, a clean mark and a commit after it runs on a simulated
 * disk with a volatile write cache (src/sim/sim-device.ts); power is cut
 * before its k-th write or flush, for every k, keeping a random subset of
 * the unflushed writes, torn at sector granularity. The image a reboot
 * finds is then recovered (recoverToDisk, our recovery, and for a sample
 * e2fsck's replay). Atomicity and durability:
 *  - every block never revoked holds the newest copy of the transactions
 *    whose commit had resolved, or of those plus the one being committed
 *    at the cut, the same choice for every block;
 *  - a revoked block holds one of the contents it ever had (no garbage).
 * The same scenario on a disk whose flush does nothing (writes reach the
 * media in any order) must break these rules for some cut: the test can
 * tell a correct ordering from a wrong one.
 */
import { describe, it, expect } from 'vitest';
import * as fs from 'node:fs';
import type { BlockDevice } from '../../src/device/block-device.js';
import { MemoryDevice } from '../../src/device/memory-device.js';
import { INCOMPAT_RECOVER } from '../../src/format/features.js';
import { decodeSuperblock, encodeSuperblock, setSuperblockChecksum, SUPERBLOCK_OFFSET, SUPERBLOCK_SIZE } from '../../src/format/superblock.js';
import { JournalLog, type Ext4JournalFeatures, type LoggedBlock } from '../../src/journal/log-writer.js';
import { Prng } from '../../src/sim/prng.js';
import { SimDevice } from '../../src/sim/sim-device.js';
import { Ext4Super } from '../../src/super/ext4-super.js';
import { openInodeJournal, recoverToDisk } from '../../src/vfs/journal-open.js';
import { useTmpDir } from '../helpers/tmp.js';
import { mkfs } from '../helpers/images.js';
import { expectFsckClean } from '../helpers/fsck.js';
import { e2fsckReplay, escapedPattern, freeBlocks, pattern } from './log-helpers.js';
import { CuttingDevice } from './power-cut.js';

const tmp = useTmpDir('journal-crash');
const BS = 4096;

interface Tx {
  blocks: LoggedBlock[];
  revokes: number[];
}

/** What the scenario got done before the cut. */
interface Progress {
  committed: Tx[];
  inflight: Tx | undefined;
}

interface Plan {
  txs: Tx[];
  /** Every block the scenario touches. */
  blocks: number[];
}

async function makePlan(img: string): Promise<Plan> {
  const f = await freeBlocks(img, 400, 1000);
  const b = (nr: number, label: string): LoggedBlock => ({ blockNr: nr, data: label.startsWith('esc') ? escapedPattern(label, BS) : pattern(label, BS) });
  const t1: Tx = { revokes: [], blocks: f.slice(0, 30).map((nr) => b(nr, nr === f[3] ? `esc1/${nr}` : `t1/${nr}`)) };
  const t2: Tx = { revokes: [f[0], f[1]], blocks: f.slice(5, 40).map((nr) => b(nr, `t2/${nr}`)) };
  const t3: Tx = { revokes: [f[2]], blocks: f.slice(40, 340).map((nr) => b(nr, `t3/${nr}`)) };
  const t4: Tx = { revokes: [], blocks: [...f.slice(20, 50), f[1]].map((nr) => b(nr, `t4/${nr}`)) };
  const t5: Tx = { revokes: [f[30]], blocks: f.slice(340, 360).map((nr) => b(nr, `t5/${nr}`)) };
  return { txs: [t1, t2, t3, t4, t5], blocks: f.slice(0, 360) };
}

/** The scenario: T1, T2, checkpoint T1 (tail to T2), T3, T4, checkpoint all and mark clean, T5. */
async function run(dev: BlockDevice, plan: Plan, features: Ext4JournalFeatures, p: Progress): Promise<void> {
  const fs0 = await Ext4Super.mount(dev, { readOnly: true, cacheBytes: 4 << 20 });
  const log = await JournalLog.open(await openInodeJournal(fs0), dev, { features, maxWriteBytes: 64 << 10 });
  const commit = async (t: Tx, i: number): Promise<void> => {
    p.inflight = t;
    await log.commit(log.nextTid, t.blocks, t.revokes, 1_700_000_000_000 + i * 1000);
    p.committed.push(t);
    p.inflight = undefined;
  };
  // As jbd2's checkpoint: a block freed (revoked) by a later committed transaction is not written
  // home. Adjacent blocks go in one write, as the engine's writeback does.
  const checkpoint = async (txs: Tx[]): Promise<void> => {
    const home = new Map<number, Uint8Array>();
    for (const t of txs) {
      const later = p.committed.slice(p.committed.indexOf(t) + 1);
      for (const b of t.blocks) if (!later.some((l) => l.revokes.includes(b.blockNr))) home.set(b.blockNr, b.data);
    }
    const sorted = [...home].sort((a, b) => a[0] - b[0]);
    for (let i = 0; i < sorted.length;) {
      let j = i + 1;
      while (j < sorted.length && sorted[j][0] === sorted[j - 1][0] + 1) j++;
      await dev.write(sorted[i][0] * BS, Buffer.concat(sorted.slice(i, j).map(([, d]) => d)));
      i = j;
    }
    await dev.flush();
  };
  const [t1, t2, t3, t4, t5] = plan.txs;
  await commit(t1, 1);
  await commit(t2, 2);
  await checkpoint([t1]);
  const second = log.transactions[1];
  await log.advanceTail(second.tid, second.start);
  await commit(t3, 3);
  await commit(t4, 4);
  await checkpoint([t2, t3, t4]);
  await log.markClean(log.nextTid);
  await commit(t5, 5);
}

/**
 * Runs the scenario until the power cut; returns what it got done. (A
 * try/catch rather than `expect(...).rejects`, which keeps every run's
 * simulated disk reachable until the test ends.)
 */
async function runUntilCut(dev: CuttingDevice, plan: Plan, features: Ext4JournalFeatures): Promise<Progress> {
  const p: Progress = { committed: [], inflight: undefined };
  let error: unknown;
  try {
    await run(dev, plan, features, p);
  } catch (e) {
    error = e;
  }
  expect(error).toMatchObject({ code: 'EIO', message: expect.stringContaining('power cut') });
  return p;
}

/** Newest copy of each never-revoked block over `txs`, on top of the original contents. */
function stateAfter(txs: readonly Tx[], plan: Plan, revoked: ReadonlySet<number>, original: Buffer): Map<number, Buffer> {
  const out = new Map<number, Buffer>();
  for (const nr of plan.blocks) if (!revoked.has(nr)) out.set(nr, original.subarray(nr * BS, (nr + 1) * BS));
  for (const t of txs) for (const b of t.blocks) if (!revoked.has(b.blockNr)) out.set(b.blockNr, Buffer.from(b.data));
  return out;
}

function withRecoverFlag(image: Buffer): Buffer {
  const raw = image.subarray(SUPERBLOCK_OFFSET, SUPERBLOCK_OFFSET + SUPERBLOCK_SIZE);
  const sb = decodeSuperblock(raw);
  sb.featureIncompat |= INCOMPAT_RECOVER;
  encodeSuperblock(sb, raw);
  setSuperblockChecksum(raw);
  return image;
}

interface Verdict {
  ok: boolean;
  why: string;
}

/** Checks a recovered image against the rules in the file comment. */
function judge(recovered: Buffer, plan: Plan, p: Progress, original: Buffer): Verdict {
  const revoked = new Set(plan.txs.flatMap((t) => t.revokes));
  const block = (nr: number): Buffer => recovered.subarray(nr * BS, (nr + 1) * BS);
  const candidates = [p.committed, ...(p.inflight ? [[...p.committed, p.inflight]] : [])];
  const mismatches = candidates.map((txs) => [...stateAfter(txs, plan, revoked, original)].filter(([nr, want]) => !block(nr).equals(want)).map(([nr]) => nr));
  if (!mismatches.some((m) => m.length === 0)) {
    return { ok: false, why: `${p.committed.length} committed${p.inflight ? ' + 1 in flight' : ''}: blocks ${mismatches.map((m) => m.slice(0, 5).join(',')).join(' / ')} differ` };
  }
  for (const nr of revoked) {
    const ever = [original.subarray(nr * BS, (nr + 1) * BS), ...plan.txs.flatMap((t) => t.blocks.filter((b) => b.blockNr === nr).map((b) => Buffer.from(b.data)))];
    if (!ever.some((c) => c.equals(block(nr)))) return { ok: false, why: `revoked block ${nr} holds contents it never had` };
  }
  return { ok: true, why: '' };
}

const KINDS: Array<{ name: string; args: string[]; features: Ext4JournalFeatures }> = [
  { name: 'checksum v3', args: ['-b', '4096'], features: { metadataCsum: true, is64bit: true } },
  { name: 'no checksums', args: ['-b', '4096', '-O', '^metadata_csum'], features: { metadataCsum: false, is64bit: true } },
];

describe('power cuts during JournalLog writes', () => {
  it.each(KINDS)('$name: every cut recovers to a whole number of transactions', async (k) => {
    const dir = tmp.fresh('crash');
    const img = await mkfs(`${dir}/img`, { size: '8M', args: k.args });
    const original = fs.readFileSync(img);
    const plan = await makePlan(img);

    // A run without a cut counts the requests.
    const dry = new CuttingDevice(new SimDevice({ image: original, rng: new Prng(1) }), Infinity, true);
    const all: Progress = { committed: [], inflight: undefined };
    await run(dry, plan, k.features, all);
    expect(all.committed).toHaveLength(5);
    const total = dry.requests;
    expect(total).toBeGreaterThan(30);

    let checkedWithE2fsck = 0;
    const outcomes = new Map<string, number>();
    for (let cut = 1; cut <= total; cut++) {
      for (const seed of [cut, cut + 10_000]) {
        const dev = new CuttingDevice(new SimDevice({ image: original, rng: new Prng(seed) }), cut, true);
        const p = await runUntilCut(dev, plan, k.features);
        const crashed = withRecoverFlag(dev.image ?? Buffer.alloc(0));
        // A sample goes to e2fsck too, which must replay the same crash image to the same blocks.
        const file = `${dir}/cut-${cut}.img`;
        const sample = cut % 9 === 0 && seed === cut;
        if (sample) fs.writeFileSync(file, crashed);
        const mem = new MemoryDevice(crashed);
        await recoverToDisk(mem, 4 << 20);
        const v = judge(mem.bytes, plan, p, original);
        expect(v.ok, `cut before request ${cut} (seed ${seed}): ${v.why}`).toBe(true);
        const key = `${p.committed.length}${p.inflight ? '+1' : ''}`;
        outcomes.set(key, (outcomes.get(key) ?? 0) + 1);
        if (sample) {
          await e2fsckReplay(file, `${file}.e2fsck`);
          const theirs = fs.readFileSync(`${file}.e2fsck`);
          for (const nr of plan.blocks) {
            expect(theirs.subarray(nr * BS, (nr + 1) * BS).equals(mem.bytes.subarray(nr * BS, (nr + 1) * BS)), `cut ${cut}: block ${nr}`).toBe(true);
          }
          fs.writeFileSync(`${file}.ours`, mem.bytes);
          await expectFsckClean(`${file}.ours`, { timeoutMs: 60_000 });
          checkedWithE2fsck++;
        }
      }
    }
    expect(checkedWithE2fsck).toBeGreaterThan(3);
    // Cuts landed inside every commit.
    for (const key of ['0+1', '1+1', '2+1', '3+1', '4+1']) expect(outcomes.get(key), `cuts during commit ${key}`).toBeGreaterThan(0);
    console.log(`power cuts (${k.name}): ${total} cut points x 2 seeds; outcomes ${JSON.stringify(Object.fromEntries(outcomes))}`);
  }, 300_000);

  it('a disk that ignores flushes breaks atomicity for some cut (the check above can fail)', async () => {
    const dir = tmp.fresh('lying');
    const img = await mkfs(`${dir}/img`, { size: '8M', args: ['-b', '4096', '-O', '^metadata_csum'] });
    const original = fs.readFileSync(img);
    const plan = await makePlan(img);
    const features = { metadataCsum: false, is64bit: true };
    const dry = new CuttingDevice(new SimDevice({ image: original, rng: new Prng(1) }), Infinity, false);
    await run(dry, plan, features, { committed: [], inflight: undefined });
    let broken = 0;
    for (let cut = 1; cut <= dry.requests; cut++) {
      const dev = new CuttingDevice(new SimDevice({ image: original, rng: new Prng(cut) }), cut, false);
      const p = await runUntilCut(dev, plan, features);
      const mem = new MemoryDevice(withRecoverFlag(dev.image ?? Buffer.alloc(0)));
      const ok = await recoverToDisk(mem, 4 << 20).then(() => judge(mem.bytes, plan, p, original).ok, () => false);
      if (!ok) broken++;
    }
    console.log(`disk without flushes: ${broken} of ${dry.requests} cuts broke atomicity`);
    expect(broken).toBeGreaterThan(0);
  }, 300_000);
});
