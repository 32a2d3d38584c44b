/**
 * How many tags the kernel puts in a descriptor block and how many records
 * in a revoke block, read from journals it wrote (debugfs logdump of an
 * image copied while mounted), against JournalLog's layout for the same
 * journal. Kernel transactions logging thousands of inode-table and
 * directory blocks fill descriptors; one freeing a big directory fills
 * revoke blocks.
 */
import { describe, it, expect } from 'vitest';
import * as fs from 'node:fs';
import { useTmpDir } from '../helpers/tmp.js';
import { mkfs } from '../helpers/images.js';
import { dumpe2fs } from '../helpers/debugfs.js';
import { runChecked, TOOL_ENV } from '../helpers/run.js';
import { FileDevice } from '../../src/device/file-device.js';
import type { JournalSuperblock } from '../../src/format/jbd2-superblock.js';
import { readJournalSuperblock } from '../../src/journal/recovery.js';
import { Ext4Super } from '../../src/super/ext4-super.js';
import { openInodeJournal } from '../../src/vfs/journal-open.js';
import { canLoopMount, describeLoopSkip } from '../helpers/loop.js';
import { logFormat, revokeRecordsPerBlock, tagsPerDescriptor } from '../../src/journal/log-blocks.js';
import { copyWhileMounted } from './journal-helpers.js';

const tmp = useTmpDir('journal-kernel-layout');
const canLoop = await canLoopMount();
if (!canLoop) console.warn(`SKIPPED (kernel descriptor and revoke block layout): ${await describeLoopSkip()}`);

async function journalSuperblockOf(img: string): Promise<JournalSuperblock> {
  const dev = await FileDevice.open(img, { readOnly: true });
  try {
    const fs0 = await Ext4Super.mount(dev, { readOnly: true, cacheBytes: 1 << 20, recover: 'before-replay' });
    return await readJournalSuperblock(await openInodeJournal(fs0), fs0.blockSize);
  } finally {
    await dev.close();
  }
}

function fsyncPath(p: string): void {
  const fd = fs.openSync(p, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/** Largest number of tags in one descriptor block and of records in one revoke block in `logdump -a`. */
function fullest(dump: string): { tags: number; revokes: number } {
  let tags = 0;
  let revokes = 0;
  let kind: 'desc' | 'revoke' | undefined;
  let n = 0;
  const close = (): void => {
    if (kind === 'desc') tags = Math.max(tags, n);
    if (kind === 'revoke') revokes = Math.max(revokes, n);
    kind = undefined;
    n = 0;
  };
  for (const line of dump.split('\n')) {
    if (/^Dumping descriptor block/.test(line)) {
      close();
      kind = 'desc';
    } else if (/^Dumping revoke block/.test(line)) {
      close();
      kind = 'revoke';
    } else if (/^\s+FS block \d+ logged at/.test(line) || /^\s+Revoke FS block/.test(line)) {
      n++;
    } else {
      close();
    }
  }
  close();
  return { tags, revokes };
}

describe.skipIf(!canLoop)('descriptor and revoke block capacity in kernel journals', () => {
  // At 4 KiB a revoke block takes 509 records: the directory here frees too few blocks to fill one.
  it.each([
    { name: '1 KiB blocks, 32-bit, checksum v3', args: ['-b', '1024', '-O', '^64bit'], size: '64M', fullRevokes: true },
    { name: '4 KiB blocks, 64bit, checksum v3', args: ['-b', '4096', '-J', 'size=64'], size: '256M', fullRevokes: false },
  ])('$name: full blocks hold as many entries as JournalLog puts in them', async ({ args, size, fullRevokes }) => {
    const dir = tmp.fresh('layout');
    const img = await mkfs(`${dir}/live.img`, { size, args });
    const copy = await copyWhileMounted(img, `${dir}/copy.img`, async (m) => {
      const d = `${m}/big`;
      fs.mkdirSync(d);
      const name = (i: number): string => `${d}/a-name-long-enough-to-fill-directory-blocks-quickly-${String(i).padStart(6, '0')}`;
      // Many inodes and directory blocks in one transaction: full descriptor blocks.
      for (let i = 0; i < 6000; i++) fs.writeFileSync(name(i), '');
      fsyncPath(d);
      // Freeing the directory's blocks, logged in the transaction before, in the next one: full revoke blocks.
      fs.rmSync(d, { recursive: true });
      fsyncPath(m);
    }, ['commit=300']); // only the fsyncs commit, however slow the machine
    expect(await dumpe2fs(copy, ['-h'])).toMatch(/needs_recovery/);
    const f = logFormat(await journalSuperblockOf(copy));
    expect(f.csumV3).toBe(true);
    // -c: a copy taken while mounted can have bitmaps whose checksums debugfs would refuse.
    const dump = (await runChecked('debugfs', ['-c', '-R', 'logdump -a', copy], { env: TOOL_ENV })).stdout;
    const { tags, revokes } = fullest(dump);
    expect(tags).toBe(tagsPerDescriptor(f));
    if (fullRevokes) expect(revokes).toBe(revokeRecordsPerBlock(f));
    else expect(revokes).toBeGreaterThan(0);
  }, 120_000);
});
