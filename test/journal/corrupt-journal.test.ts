/**
 * Damaged journals: bytes flipped in the log's descriptor, commit and revoke
 * blocks (and now and then anywhere in the log). Recovery must end in an
 * EFSCORRUPTED error or in a replay, quickly, never a crash, a hang or an
 * unbounded allocation; a replay may only be shorter than the undamaged
 * one. For part of the cases e2fsck replays the same damaged journal, and
 * whenever both replay without complaint they must agree block for block.
 */
import { describe, it, expect } from 'vitest';
import * as fs from 'node:fs';
import { isFsError } from '../../src/base/errors.js';
import { MemoryJournal } from '../../src/journal/journal-blocks.js';
import { readJournalSuperblock, recoverJournal, type RecoveryResult } from '../../src/journal/recovery.js';
import { JBD2_DESCRIPTOR_BLOCK, JBD2_MAGIC_NUMBER, JBD2_SUPERBLOCK_V2 } from '../../src/format/jbd2-superblock.js';
import { readU32BE, writeU32BE } from '../../src/format/le.js';
import { useTmpDir } from '../helpers/tmp.js';
import { mkfs } from '../helpers/images.js';
import { readRange, writeRange } from '../helpers/debugfs.js';
import { runChecked, runCommand, TOOL_ENV } from '../helpers/run.js';
import { Rng } from '../helpers/prng.js';
import { blocksDifferingFrom, journalBlocks, replayImage } from './journal-helpers.js';

const tmp = useTmpDir('journal-corrupt');
const BS = 4096;
const FS_BLOCKS = 8192;

/** A 32 MiB image whose journal holds six transactions with revokes (debugfs). */
async function journaledImage(name: string, jo: string): Promise<string> {
  const dir = tmp.fresh(name);
  const rng = new Rng(99);
  const file = (n: number): string => {
    const p = `${dir}/f${n}`;
    const b = new Uint8Array(3 * BS);
    for (let i = 0; i < b.length; i++) b[i] = rng.u32() & 0xff;
    fs.writeFileSync(p, b);
    return p;
  };
  const cmds = [jo];
  for (let t = 0; t < 6; t++) {
    if (t > 0) cmds.push('jo');
    cmds.push(`jw -b ${2000 + t},${2001 + t},${2002 + t} ${file(t)}`);
    if (t % 2 === 1) cmds.push('jc', 'jo', `jw -r ${2000 + t - 1}`);
    cmds.push('jc');
  }
  fs.writeFileSync(`${dir}/cmds`, cmds.join('\n') + '\n');
  const img = await mkfs(`${dir}/img`, { size: '32M', args: ['-b', '4096'] });
  await runChecked('debugfs', ['-w', '-f', `${dir}/cmds`, img], { timeoutMs: 30_000 });
  return img;
}

async function readJournal(img: string, pblks: number[]): Promise<Uint8Array> {
  const j = new Uint8Array(pblks.length * BS);
  for (let i = 0; i < pblks.length; i++) j.set(await readRange(img, pblks[i] * BS, BS), i * BS);
  return j;
}

/** Journal blocks that are log metadata (descriptor, commit, revoke). */
function metadataBlocks(journal: Uint8Array): number[] {
  const out: number[] = [];
  for (let b = 1; b < journal.length / BS; b++) {
    if (readU32BE(journal, b * BS) === JBD2_MAGIC_NUMBER && [1, 2, 5].includes(readU32BE(journal, b * BS + 4))) out.push(b);
  }
  return out;
}

function mutate(rng: Rng, journal: Uint8Array, targets: number[], logBlocks: number): Uint8Array {
  const j = journal.slice();
  const flips = 1 + (rng.u32() % 4);
  for (let k = 0; k < flips; k++) {
    const block = rng.u32() % 5 === 0 ? 1 + (rng.u32() % logBlocks) : targets[rng.u32() % targets.length];
    // Mostly the headers and tags at the front of the block, sometimes anywhere in it.
    const off = rng.u32() % 2 === 0 ? rng.u32() % 64 : rng.u32() % BS;
    j[block * BS + off] ^= 1 + (rng.u32() % 255);
  }
  return j;
}

async function recoverBytes(journal: Uint8Array): Promise<RecoveryResult> {
  const src = new MemoryJournal(journal, BS);
  return recoverJournal(src, await readJournalSuperblock(src, BS), { fsBlocks: FS_BLOCKS });
}

describe('damaged journals', () => {
  for (const [name, jo] of [['plain', 'jo'], ['csum-v3', 'jo -c']] as const) {
    it(`${name}: flipped bytes give EFSCORRUPTED or a shorter replay, and agree with e2fsck`, async () => {
      const img = await journaledImage(name, jo);
      const pblks = await journalBlocks(img);
      const journal = await readJournal(img, pblks);
      const good = await recoverBytes(journal);
      expect(good.transactions).toBe(9);
      const targets = metadataBlocks(journal);
      expect(targets.length).toBeGreaterThan(12);
      const rng = new Rng(name === 'plain' ? 1 : 2);
      const outcomes = { corrupt: 0, shorter: 0, same: 0, e2fsckAgreed: 0 };
      for (let i = 0; i < 300; i++) {
        const j = mutate(rng, journal, targets, 60);
        const t0 = performance.now();
        let r: RecoveryResult | undefined;
        try {
          r = await recoverBytes(j);
        } catch (e) {
          if (!isFsError(e) || e.code !== 'EFSCORRUPTED') throw e;
          outcomes.corrupt++;
        }
        expect(performance.now() - t0).toBeLessThan(1000);
        if (r !== undefined) {
          expect(r.transactions).toBeLessThanOrEqual(good.transactions);
          expect(r.blocks.size).toBeLessThanOrEqual(FS_BLOCKS);
          if (r.transactions < good.transactions) outcomes.shorter++;
          else outcomes.same++;
        }
        // Every tenth case also through a real image and e2fsck.
        if (i % 10 === 0) {
          const copy = `${img}.m`;
          fs.copyFileSync(img, copy);
          for (let b = 0; b < pblks.length; b++) await writeRange(copy, pblks[b] * BS, j.subarray(b * BS, (b + 1) * BS));
          let ours: RecoveryResult | undefined;
          try {
            ours = (await replayImage(copy)).result;
          } catch (e) {
            if (!isFsError(e)) throw e;
          }
          const fsck = await runCommand('e2fsck', ['-fy', copy], { timeoutMs: 20_000, env: TOOL_ENV });
          const out = (fsck.stdout + fsck.stderr).split(copy).join('IMG');
          const clean = !fsck.timedOut && /recovering journal/.test(out) && !/journal/i.test(out.replace(/recovering journal/g, ''));
          if (ours !== undefined && clean) {
            expect(blocksDifferingFrom(ours, copy, BS), `case ${i}: e2fsck's replay differs\n${out}`).toEqual([]);
            outcomes.e2fsckAgreed++;
          }
        }
      }
      console.log(`${name}: 300 damaged journals: ${JSON.stringify(outcomes)}`);
      expect(outcomes.corrupt + outcomes.shorter).toBeGreaterThan(0);
    }, 60_000);
  }
});

describe('crafted logs that never end', () => {
  /** A 64-block journal (v2 superblock, no features) whose every log block is a descriptor of transaction 5. */
  function allDescriptors(tagFlags: number): Uint8Array {
    const j = new Uint8Array(64 * BS);
    writeU32BE(j, 0, JBD2_MAGIC_NUMBER);
    writeU32BE(j, 4, JBD2_SUPERBLOCK_V2);
    writeU32BE(j, 0x0c, BS);
    writeU32BE(j, 0x10, 64);
    writeU32BE(j, 0x14, 1);
    writeU32BE(j, 0x18, 5);
    writeU32BE(j, 0x1c, 1);
    for (let b = 1; b < 64; b++) {
      writeU32BE(j, b * BS, JBD2_MAGIC_NUMBER);
      writeU32BE(j, b * BS + 4, JBD2_DESCRIPTOR_BLOCK);
      writeU32BE(j, b * BS + 8, 5);
      // One 8-byte tag (32-bit journal, no checksums): block 100, flags at bytes 6-7.
      writeU32BE(j, b * BS + 12, 100);
      writeU32BE(j, b * BS + 16, tagFlags);
    }
    return j;
  }

  it('a descriptor whose tags run past the log is EFSCORRUPTED', async () => {
    // Without LAST_TAG the zeroed tag area reads as 170 tags (8 bytes each plus a 16-byte UUID).
    await expect(recoverBytes(allDescriptors(0))).rejects.toMatchObject({ code: 'EFSCORRUPTED', message: expect.stringContaining('runs past the end') });
  });

  it('a log of descriptors without a commit, wrapping forever, stops after one lap', async () => {
    // SAME_UUID | LAST_TAG: each descriptor covers one data block, so a lap of the
    // 63-block log ends inside a transaction: the walk stops there instead of going round again.
    await expect(recoverBytes(allDescriptors(0x0a))).rejects.toMatchObject({ code: 'EFSCORRUPTED', message: expect.stringContaining('runs past the end') });
    // With an even log length the lap ends on a block boundary: nothing committed, nothing replayed.
    const j = allDescriptors(0x0a);
    writeU32BE(j, 0x10, 63);
    const r = await recoverBytes(j.subarray(0, 63 * BS));
    expect(r.transactions).toBe(0);
    expect(r.blocks.size).toBe(0);
    expect(r.endSequence).toBe(5);
  });
});
