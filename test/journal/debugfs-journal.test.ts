/**
 * Recovery of journals written by debugfs (`jo` / `jw` / `jc`): several
 * transactions, revoke records, an escaped block, the three tag layouts
 * (no checksum 64-bit, checksum v3, 32-bit block numbers) and a log that
 * wraps from the end of the journal to s_first.
 *
 * The oracle is e2fsck: it replays a copy of the same image, and every block
 * ext4kit's in-memory replay produces must equal that block of e2fsck's
 * copy; blocks the journal wrote must all be in the replay, the revoked
 * ones must not; the next transaction number must be the one e2fsck
 * leaves in the journal superblock; and the unreplayed image must be
 * byte-for-byte unchanged after ext4kit opened it.
 */
import { describe, it, expect } from 'vitest';
import * as fs from 'node:fs';
import { openVolume } from '../../src/index.js';
import { setJournalSuperblockChecksum, verifyJournalSuperblockChecksum, decodeJournalSuperblock } from '../../src/format/jbd2-superblock.js';
import { writeU32BE } from '../../src/format/le.js';
import { useTmpDir } from '../helpers/tmp.js';
import { mkfs } from '../helpers/images.js';
import { dumpe2fs, readRange, writeRange } from '../helpers/debugfs.js';
import { runChecked } from '../helpers/run.js';
import { expectFsckClean } from '../helpers/fsck.js';
import { Rng } from '../helpers/prng.js';
import { blocksDifferingFrom, e2fsckReplayedCopy, imageBlock, journalBlocks, replayImage, sha256File } from './journal-helpers.js';

const tmp = useTmpDir('journal-debugfs');
const BS = 4096;

function randomBlocks(rng: Rng, n: number): Uint8Array {
  const b = new Uint8Array(n * BS);
  for (let i = 0; i < b.length; i++) b[i] = rng.u32() & 0xff;
  return b;
}

interface Scenario {
  img: string;
  /** Block -> expected final contents after replay (undefined: stays as on disk). */
  expected: Map<number, Uint8Array | undefined>;
}

/**
 * Four transactions: T1 writes 2000 and 2001 (both copies open with the
 * journal magic, so they are logged escaped); T2 writes 2001, 2002; T3 revokes 2000 and
 * 2003; T4 writes 2000 again and 2004. T1's 2000 must not win over T4's,
 * and nothing ever restores 2003 (revoked, never logged after).
 */
async function fourTransactions(name: string, mkfsArgs: string[], jo: string): Promise<Scenario> {
  const rng = new Rng(name.length * 7919);
  const a = randomBlocks(rng, 2);
  a.set([0xc0, 0x3b, 0x39, 0x98], 0);
  const b = randomBlocks(rng, 2);
  b.set([0xc0, 0x3b, 0x39, 0x98], 0);
  const c = randomBlocks(rng, 1);
  const d = randomBlocks(rng, 1);
  const e = randomBlocks(rng, 1);
  const dir = tmp.fresh(name);
  for (const [f, data] of [['a', a], ['b', b], ['c', c], ['d', d], ['e', e]] as const) fs.writeFileSync(`${dir}/${f}`, data);
  const img = await mkfs(`${dir}/img`, { size: '32M', args: ['-b', '4096', ...mkfsArgs] });
  const cmds = [
    jo, `jw -b 2000,2001 ${dir}/a`, 'jc',
    'jo', `jw -b 2001,2002 ${dir}/b`, `jw -b 2003 ${dir}/d`, 'jc',
    'jo', 'jw -r 2000,2003', 'jc',
    'jo', `jw -b 2000 ${dir}/c`, `jw -b 2004 ${dir}/e`, 'jc',
  ];
  fs.writeFileSync(`${dir}/cmds`, cmds.join('\n') + '\n');
  await runChecked('debugfs', ['-w', '-f', `${dir}/cmds`, img], { timeoutMs: 30_000 });
  const expected = new Map<number, Uint8Array | undefined>([
    [2000, c], [2001, b.subarray(0, BS)], [2002, b.subarray(BS)], [2003, undefined], [2004, e],
  ]);
  return { img, expected };
}

async function checkAgainstE2fsck(s: Scenario, opts: { revokes: boolean }): Promise<void> {
  const before = sha256File(s.img);
  const onDisk2003 = imageBlock(s.img, 2003, BS);
  const { result } = await replayImage(s.img);
  const vol = await openVolume(s.img, { readOnly: true });
  expect((await vol.promises.readdir('/')).sort()).toContain('lost+found');
  await vol.close();
  expect(sha256File(s.img), 'ext4kit wrote the image').toBe(before);

  const oracle = s.img + '.e2fsck';
  const out = await e2fsckReplayedCopy(s.img, oracle);
  expect(out).toMatch(/recovering journal/);
  expect(blocksDifferingFrom(result, oracle, BS)).toEqual([]);
  for (const [nr, want] of s.expected) {
    const oracleBlock = Buffer.from(imageBlock(oracle, nr, BS));
    if (want === undefined) {
      expect(result.blocks.has(nr), `revoked block ${nr} replayed`).toBe(false);
      expect(oracleBlock.equals(Buffer.from(onDisk2003))).toBe(true);
    } else {
      expect(oracleBlock.equals(Buffer.from(want)), `e2fsck's block ${nr}`).toBe(true);
      expect(result.blocks.has(nr), `block ${nr} replayed`).toBe(true);
    }
  }
  const seq = /Journal sequence:\s+0x([0-9a-f]+)/.exec(await dumpe2fs(oracle, ['-h']));
  expect(seq).not.toBeNull();
  expect(result.nextSequence).toBe(parseInt(seq?.[1] ?? '', 16));
  if (opts.revokes) expect(result.revokeHits).toBeGreaterThan(0);
  await expectFsckClean(oracle, { timeoutMs: 30_000 });
}

describe('journals written by debugfs', () => {
  it('64-bit tags without checksums: transactions, revoke, escape', async () => {
    const s = await fourTransactions('plain64', [], 'jo');
    const jf = await dumpe2fs(s.img, ['-h']);
    expect(jf).toMatch(/Journal features:.*journal_64bit/);
    expect(jf).not.toMatch(/journal_checksum/);
    await checkAgainstE2fsck(s, { revokes: true });
  });

  it('checksum v3 (16-byte tags, descriptor/commit/revoke/data checksums)', async () => {
    const s = await fourTransactions('csum3', [], 'jo -c');
    expect(await dumpe2fs(s.img, ['-h'])).toMatch(/Journal features:.*journal_checksum_v3/);
    await checkAgainstE2fsck(s, { revokes: true });
  });

  it('checksum v2 (14-byte tags with 16-bit data checksums)', async () => {
    const s = await fourTransactions('csum2', [], 'jo -c -v 2');
    expect(await dumpe2fs(s.img, ['-h'])).toMatch(/Journal features:.*journal_checksum_v2/);
    await checkAgainstE2fsck(s, { revokes: true });
  });

  it('checksum v1 (a crc32 of each transaction in its commit block)', async () => {
    const s = await fourTransactions('csum1', ['-O', '^metadata_csum'], 'jo -c');
    expect(await dumpe2fs(s.img, ['-h'])).toMatch(/Journal features:\s+journal_checksum journal_incompat_revoke/);
    // debugfs gives its revoke-only transaction (the 4th: each jw above became
    // its own transaction) a commit crc32 that does not match; e2fsck stops
    // there, and so must we.
    const { result } = await replayImage(s.img);
    const oracle = s.img + '.e2fsck';
    expect(await e2fsckReplayedCopy(s.img, oracle)).toMatch(/Journal transaction 4 was corrupt, replay was aborted/);
    expect(result.endSequence).toBe(4);
    expect(result.transactions).toBe(3);
    expect(blocksDifferingFrom(result, oracle, BS)).toEqual([]);
    expect([...result.blocks.keys()].sort()).toEqual([2000, 2001, 2002, 2003]);
    await expectFsckClean(oracle, { timeoutMs: 30_000 });
  });

  it('32-bit tags (no 64bit feature)', async () => {
    const s = await fourTransactions('tags32', ['-O', '^64bit'], 'jo');
    expect(await dumpe2fs(s.img, ['-h'])).not.toMatch(/Journal features:.*journal_64bit/);
    await checkAgainstE2fsck(s, { revokes: true });
  });

  it('the superblock comes from the replay when the journal holds a newer block 0', async () => {
    const dir = tmp.fresh('super');
    const img = await mkfs(`${dir}/img`, { size: '32M', args: ['-b', '4096', '-L', 'before'] });
    // A newer superblock block: the same filesystem relabelled by debugfs (checksum and all).
    const other = `${dir}/other`;
    fs.copyFileSync(img, other);
    await runChecked('debugfs', ['-w', '-R', 'ssv volume_name after-replay', other], { timeoutMs: 30_000 });
    fs.writeFileSync(`${dir}/block0`, imageBlock(other, 0, BS));
    fs.writeFileSync(`${dir}/cmds`, `jo -c\njw -b 0 ${dir}/block0\njc\n`);
    await runChecked('debugfs', ['-w', '-f', `${dir}/cmds`, img], { timeoutMs: 30_000 });
    const before = sha256File(img);
    const vol = await openVolume(img, { readOnly: true });
    try {
      expect(vol.info().label).toBe('after-replay');
    } finally {
      await vol.close();
    }
    expect(sha256File(img)).toBe(before);
    const oracle = `${img}.e2fsck`;
    expect(await e2fsckReplayedCopy(img, oracle)).toMatch(/recovering journal/);
    expect(await dumpe2fs(oracle, ['-h'])).toMatch(/Filesystem volume name:\s+after-replay/);
    await expectFsckClean(oracle, { timeoutMs: 30_000 });
  });

  it('a log that wraps from the end of the journal back to s_first', async () => {
    // debugfs fills the log from s_first and stops when it is full; rotating
    // the log inside the journal (positions only: no checksum covers them)
    // gives the same transactions wrapping around the end.
    const rng = new Rng(4242);
    const dir = tmp.fresh('wrap');
    const img = await mkfs(`${dir}/img`, { size: '32M', args: ['-b', '4096'] });
    const expected = new Map<number, Uint8Array | undefined>();
    const cmds: string[] = [];
    for (let t = 0; t < 9; t++) {
      const data = randomBlocks(rng, 100);
      fs.writeFileSync(`${dir}/t${t}`, data);
      // Each transaction overlaps the previous one by 50 blocks: later copies must win.
      const first = 2000 + t * 50;
      const list = Array.from({ length: 100 }, (_, i) => first + i);
      cmds.push(t === 0 ? 'jo -c' : 'jo', `jw -b ${list.join(',')} ${dir}/t${t}`, 'jc');
      list.forEach((nr, i) => expected.set(nr, data.subarray(i * BS, (i + 1) * BS)));
    }
    fs.writeFileSync(`${dir}/cmds`, cmds.join('\n') + '\n');
    await runChecked('debugfs', ['-w', '-f', `${dir}/cmds`, img], { timeoutMs: 30_000 });
    await rotateLog(img, 700);
    const s: Scenario = { img, expected };
    const { result } = await replayImage(img);
    expect(result.transactions).toBe(9);
    // The unrotated log of 9 x 102 blocks starting at 701 must have crossed the end of the 1024-block journal.
    await checkAgainstE2fsck({ img: s.img, expected: new Map([...expected].slice(0, 3)) }, { revokes: false });
    const oracle = img + '.e2fsck';
    for (const [nr, want] of expected) {
      expect(Buffer.from(imageBlock(oracle, nr, BS)).equals(Buffer.from(want ?? new Uint8Array(BS))), `oracle block ${nr}`).toBe(true);
      expect(Buffer.from(result.blocks.get(nr) ?? []).equals(Buffer.from(want ?? [])), `replayed block ${nr}`).toBe(true);
    }
  });
});

/** Moves journal block j (in the log area) to first + ((j - first + shift) mod logLen) and s_start with it. */
async function rotateLog(img: string, shift: number): Promise<void> {
  const pblks = await journalBlocks(img);
  const sbRaw = await readRange(img, pblks[0] * BS, BS);
  const jsb = decodeJournalSuperblock(sbRaw);
  expect(jsb.start).toBe(jsb.first);
  const logLen = jsb.maxLen - jsb.first;
  const blocks: Uint8Array[] = [];
  for (let j = jsb.first; j < jsb.maxLen; j++) blocks.push(await readRange(img, pblks[j] * BS, BS));
  for (let i = 0; i < logLen; i++) {
    const to = jsb.first + ((i + shift) % logLen);
    await writeRange(img, pblks[to] * BS, blocks[i]);
  }
  writeU32BE(sbRaw, 0x1c, jsb.first + shift);
  setJournalSuperblockChecksum(sbRaw);
  expect(verifyJournalSuperblockChecksum(decodeJournalSuperblock(sbRaw), sbRaw)).toBe(true);
  await writeRange(img, pblks[0] * BS, sbRaw);
}
