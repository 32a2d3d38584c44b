/**
 * `cp` out of an image hands most file contents to the host writer as
 * "read these bytes of the image file" records (FL_HOST, cp-ops.ts) instead
 * of the bytes. These tests check the cases where that shortcut could read
 * the wrong bytes, with the built CLI (so the worker thread applies them):
 *
 *  - an image whose journal needs recovery, opened read-only: a file's data
 *    block was logged and not yet written home, so the image file holds the
 *    old bytes and only the replay (an overlay in memory) has the new ones.
 *    The copy must show what e2fsck's replay shows.
 *  - a file in more pieces than a batch holds (1,000+ extents): its records
 *    span batches, which must be applied in order by one thread.
 *
 * The oracle for contents is debugfs `dump` (of a replayed copy where there
 * is a journal to replay).
 */
import * as fs from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { openVolume } from '../../src/index.js';
import { dataBlocks, debugfs } from '../helpers/debugfs.js';
import { expectFsckClean } from '../helpers/fsck.js';
import { mkfs } from '../helpers/images.js';
import { Rng } from '../helpers/prng.js';
import { runChecked, runCommand } from '../helpers/run.js';
import { useTmpDir } from '../helpers/tmp.js';
import { runBuiltCli } from './built-cli.js';

const tmp = useTmpDir('cp-host-runs');
const BS = 4096;

function pattern(seed: number, length: number): Buffer {
  const rng = new Rng(seed);
  const b = Buffer.alloc(length);
  for (let i = 0; i < length; i++) b[i] = rng.u32() & 0xff;
  return b;
}

/** What debugfs reads for `path` in `img`. */
async function dumped(img: string, path: string): Promise<Buffer> {
  const out = tmp.file(`dump-${Math.random().toString(36).slice(2)}`);
  await debugfs(img, `dump ${path} ${out}`);
  return fs.readFileSync(out);
}

describe('cp reads file data through the replayed journal, not around it', () => {
  it('a logged, unreplayed data block is copied as the replay has it', async () => {
    const src = tmp.fresh('journal-src');
    const before = pattern(1, 3 * BS);
    fs.writeFileSync(join(src, 'f'), before);
    fs.writeFileSync(join(src, 'g'), pattern(2, 5000));
    const img = await mkfs(tmp.file('journal.img'), { size: '32M', args: ['-b', String(BS)], root: src });
    await expectFsckClean(img);

    // A transaction that rewrites f's second block, committed but not replayed.
    const [, second] = await dataBlocks(img, '/f');
    const newBlock = pattern(3, BS);
    const blockFile = tmp.file('new-block');
    fs.writeFileSync(blockFile, newBlock);
    const cmds = tmp.file('cmds');
    fs.writeFileSync(cmds, ['jo', `jw -b ${second.pblk} ${blockFile}`, 'jc'].join('\n') + '\n');
    await runChecked('debugfs', ['-w', '-f', cmds, img], { timeoutMs: 30_000 });
    const imageBytes = fs.readFileSync(img);

    // The oracle: e2fsck replays a copy of the image.
    const replayed = tmp.file('replayed.img');
    fs.copyFileSync(img, replayed);
    const fsck = await runCommand('e2fsck', ['-fy', replayed], { timeoutMs: 60_000 });
    // 0: clean, 1: errors corrected (the replay counts as such).
    expect([0, 1]).toContain(fsck.code);
    const expected = await dumped(replayed, '/f');
    expect(expected.subarray(BS, 2 * BS).equals(newBlock)).toBe(true);

    const out = tmp.file('journal-out');
    const r = await runBuiltCli(['cp', '-a', `${img}:/`, out]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(fs.readFileSync(join(out, 'f')).equals(expected)).toBe(true);
    expect(fs.readFileSync(join(out, 'g')).equals(await dumped(replayed, '/g'))).toBe(true);
    // Read-only: the image itself is untouched, journal and all.
    expect(fs.readFileSync(img).equals(imageBytes)).toBe(true);
    await expectFsckClean(replayed);
  });
});

describe('cp of a file in more pieces than one batch holds', () => {
  it('copies a file of 1,000+ extents exactly', async () => {
    const img = await mkfs(tmp.file('frag.img'), { size: '16M', args: ['-b', String(BS), '-N', '4096'] });
    // Fill the free space with one-block files, free every other one, then write a file
    // that can only go into the single-block holes.
    const vol = await openVolume(img);
    const p = vol.promises;
    await p.mkdir('/fill');
    const one = Buffer.alloc(BS, 0x5a);
    let n = 0;
    for (;;) {
      try {
        await p.writeFile(`/fill/${n}`, one);
      } catch (e) {
        if ((e as { code?: string }).code === 'ENOSPC') break;
        throw e;
      }
      n++;
    }
    for (let i = 0; i < n; i += 2) await p.unlink(`/fill/${i}`);
    const big = pattern(4, Math.floor(n / 2 - 40) * BS + 123);
    await p.writeFile('/big', big);
    await vol.close();
    await expectFsckClean(img);
    const extents = (await debugfs(img, 'ex /big')).split('\n').filter((l) => /^\s*\d+\/\s*\d+/.test(l)).length;
    expect(extents).toBeGreaterThan(1000);

    const out = tmp.file('frag-out');
    const r = await runBuiltCli(['cp', '-a', `${img}:/big`, out]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const copied = fs.readFileSync(out);
    expect(copied.equals(await dumped(img, '/big'))).toBe(true);
    expect(copied.equals(big)).toBe(true);
    await expectFsckClean(img);
  });
});
