/**
 * ext4kit's mkfs against mke2fs 1.47 for a matrix of options: with the same
 * UUID, hash seed and time, dumpe2fs (header and every group) must print
 * the same, and the images must be the same bytes except the fields listed
 * in parity-cases.ts (s_kbytes_written and the superblock checksum over it;
 * the journal superblock's features and checksum). Each image must then
 * pass e2fsck -fn and open with ext4kit's own reader.
 */
import { describe, expect, it } from 'vitest';
import { openVolume } from '../../src/index.js';
import { dumpe2fs } from '../helpers/debugfs.js';
import { expectFsckClean } from '../helpers/fsck.js';
import { diffImages, unexpectedRanges, type ByteRange } from '../helpers/image-diff.js';
import { useTmpDir } from '../helpers/tmp.js';
import { readRange } from '../helpers/debugfs.js';
import {
  CASES, comparableDump, journalSuperblockAllowance, runMke2fs, runOurs, superblockAllowance, type ParityCase,
} from './parity-cases.js';

const tmp = useTmpDir('mkfs-parity');
const JBD2_MAGIC = [0xc0, 0x3b, 0x39, 0x98];

/** Where every superblock copy starts, from dumpe2fs of the reference image. */
function superblockOffsets(dump: string, blockSize: number): number[] {
  const offsets = [1024];
  for (const m of dump.matchAll(/Backup superblock at (\d+)/g)) offsets.push(Number(m[1]) * blockSize);
  return offsets;
}

/** Differing ranges that are not where a jbd2 superblock of ours starts a block. */
async function allowedJournalRanges(img: string, ranges: readonly ByteRange[], blockSize: number): Promise<ByteRange[]> {
  const allowed: ByteRange[] = [];
  for (const r of ranges) {
    const blockStart = r.start - (r.start % blockSize);
    const head = await readRange(img, blockStart, 4);
    if (JBD2_MAGIC.every((b, i) => head[i] === b)) allowed.push(...journalSuperblockAllowance(blockStart));
  }
  return allowed;
}

async function checkCase(c: ParityCase): Promise<void> {
  const ref = tmp.file(`${c.name.replace(/[^\w]+/g, '_')}.mke2fs.img`);
  const ours = tmp.file(`${c.name.replace(/[^\w]+/g, '_')}.ext4kit.img`);
  await runMke2fs(ref, c);
  const result = await runOurs(ours, c);

  const refDump = await dumpe2fs(ref);
  const ourDump = await dumpe2fs(ours);
  expect(comparableDump(ourDump)).toBe(comparableDump(refDump));

  const diff = await diffImages(ref, ours);
  expect(diff.sizes[1]).toBe(diff.sizes[0]);
  const bs = result.blockSize;
  const allowed = superblockOffsets(refDump, bs).flatMap(superblockAllowance);
  allowed.push(...(await allowedJournalRanges(ours, diff.ranges, bs)));
  const unexpected = unexpectedRanges(diff.ranges, allowed);
  expect(unexpected.map((r) => `bytes ${r.start}..${r.end - 1} (block ${Math.floor(r.start / bs)} +${r.start % bs})`)).toEqual([]);

  await expectFsckClean(ours);
  const vol = await openVolume(ours, { readOnly: true });
  try {
    const info = vol.info();
    expect(info.blocksCount).toBe(result.blocksCount);
    expect(info.inodesCount).toBe(result.inodesCount);
    expect(await vol.promises.readdir('/')).toEqual(['lost+found']);
    expect(await vol.promises.readdir('/lost+found')).toEqual([]);
  } finally {
    await vol.close();
  }
}

describe('mkfs makes the image mke2fs 1.47 makes', () => {
  for (const c of CASES) {
    it(c.name, async () => {
      await checkCase(c);
    }, 300_000);
  }
});
