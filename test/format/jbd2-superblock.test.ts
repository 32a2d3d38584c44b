/**
 * Journal superblock codec against real journals: the clean one mkfs.ext4
 * writes, and one holding a committed transaction with checksum v3 written
 * by debugfs (jo -c / jw / jc). Oracles: dumpe2fs's journal section,
 * debugfs bmap and logdump, e2fsck.
 */
import { writeFile } from 'node:fs/promises';
import { beforeAll, describe, expect, it } from 'vitest';
import { isCorruption } from '../../src/base/errors.js';
import { INCOMPAT_RECOVER } from '../../src/format/features.js';
import {
  JBD2_COMMIT_BLOCK,
  JBD2_CRC32C_CHKSUM,
  JBD2_DESCRIPTOR_BLOCK,
  JBD2_FEATURE_INCOMPAT_CSUM_V2,
  JBD2_FEATURE_INCOMPAT_CSUM_V3,
  JBD2_MAGIC_NUMBER,
  JBD2_SUPERBLOCK_V2,
  JOURNAL_SUPERBLOCK_SIZE,
  type JournalSuperblock,
  decodeJournalHeader,
  decodeJournalSuperblock,
  encodeJournalSuperblock,
  journalFastCommitBlocks,
  journalFeatureNames,
  journalNeedsRecovery,
  journalSuperblockChecksum,
  setJournalSuperblockChecksum,
  verifyJournalSuperblockChecksum,
} from '../../src/format/jbd2-superblock.js';
import { JOURNAL_INO } from '../../src/format/inode.js';
import { blockSizeOf, uuidString } from '../../src/format/superblock.js';
import { debugfs, debugfsBatch, dumpe2fs, parseKeyValues, readRange, readSuperblock, writeRange } from '../helpers/debugfs.js';
import { expectFsckClean } from '../helpers/fsck.js';
import { useImages } from '../helpers/images.js';

const images = useImages('jbd2-superblock');

interface Journal {
  img: string;
  blockSize: number;
  /** Byte offset of the journal superblock in the image. */
  offset: number;
  raw: Uint8Array;
  jsb: JournalSuperblock;
  header: Map<string, string>;
}

async function loadJournal(img: string): Promise<Journal> {
  const sb = await readSuperblock(img);
  const blockSize = blockSizeOf(sb);
  // debugfs maps the journal inode's first block independently of our extent code.
  const first = Number((await debugfs(img, `bmap <${JOURNAL_INO}> 0`)).trim());
  const offset = first * blockSize;
  const raw = await readRange(img, offset, JOURNAL_SUPERBLOCK_SIZE);
  return { img, blockSize, offset, raw, jsb: decodeJournalSuperblock(raw), header: parseKeyValues(await dumpe2fs(img, ['-h'])) };
}

/** dumpe2fs's "Total journal size": KiB below 8 MiB, else MiB. */
function journalSizeString(jsb: JournalSuperblock): string {
  const kib = (jsb.maxLen * jsb.blockSize) / 1024;
  return kib < 8192 ? `${kib}k` : `${kib / 1024}M`;
}

const hex8 = (n: number): string => `0x${n.toString(16).padStart(8, '0')}`;

function expectMatchesDumpe2fs(j: Journal): void {
  const h = j.header;
  const { jsb } = j;
  const names = journalFeatureNames(jsb);
  expect(h.get('Journal features')).toBe(names.length === 0 ? '(none)' : names.join(' '));
  expect(h.get('Total journal size')).toBe(journalSizeString(jsb));
  expect(h.get('Total journal blocks')).toBe(String(jsb.maxLen));
  expect(h.get('Journal sequence')).toBe(hex8(jsb.sequence));
  expect(h.get('Journal start')).toBe(String(jsb.start));
  if (h.has('Fast commit length')) expect(h.get('Fast commit length')).toBe(String(journalFastCommitBlocks(jsb)));
  if (jsb.checksumType === JBD2_CRC32C_CHKSUM) {
    expect(h.get('Journal checksum type')).toBe('crc32c');
    expect(h.get('Journal checksum')).toBe(hex8(jsb.checksum));
  } else {
    expect(h.has('Journal checksum')).toBe(false);
  }
}

function roundTrips(j: Journal): boolean {
  const out = new Uint8Array(JOURNAL_SUPERBLOCK_SIZE);
  encodeJournalSuperblock(j.jsb, out);
  return Buffer.from(out).equals(Buffer.from(j.raw));
}

describe('the journal mkfs.ext4 creates', () => {
  let j: Journal;
  beforeAll(async () => {
    j = await loadJournal(await images.mkfs({ size: '600M', name: 'default.img' }));
  });

  it('round-trips exactly', () => {
    expect(roundTrips(j)).toBe(true);
  });

  it('matches dumpe2fs and the filesystem', () => {
    expectMatchesDumpe2fs(j);
    expect(j.jsb.header.magic).toBe(JBD2_MAGIC_NUMBER);
    expect(j.jsb.header.blockType).toBe(JBD2_SUPERBLOCK_V2);
    expect(j.jsb.blockSize).toBe(j.blockSize);
    expect(j.jsb.first).toBe(1);
  });

  it('is clean and has no superblock checksum to verify', () => {
    expect(journalNeedsRecovery(j.jsb)).toBe(false);
    expect(j.jsb.featureIncompat & (JBD2_FEATURE_INCOMPAT_CSUM_V2 | JBD2_FEATURE_INCOMPAT_CSUM_V3)).toBe(0);
    expect(verifyJournalSuperblockChecksum(j.jsb, j.raw)).toBe(true);
  });

  it('a sequence number written through encode is what dumpe2fs reads, and e2fsck accepts it', async () => {
    const jsb = { ...j.jsb, sequence: 0x1234 };
    const out = new Uint8Array(JOURNAL_SUPERBLOCK_SIZE);
    encodeJournalSuperblock(jsb, out);
    await writeRange(j.img, j.offset, out);
    const h = parseKeyValues(await dumpe2fs(j.img, ['-h']));
    expect(h.get('Journal sequence')).toBe('0x00001234');
    await expectFsckClean(j.img);
  });
});

describe('a journal with a committed transaction and checksum v3', () => {
  let j: Journal;
  beforeAll(async () => {
    const img = await images.mkfs({ size: '600M', name: 'txn.img' });
    const data = images.tmp.file('block.bin');
    await writeFile(data, new Uint8Array(4096).fill(0x5a));
    await debugfsBatch(img, ['jo -c', `jw -b 333 ${data}`, 'jc'], true);
    j = await loadJournal(img);
  });

  it('round-trips exactly and matches dumpe2fs', () => {
    expect(roundTrips(j)).toBe(true);
    expectMatchesDumpe2fs(j);
    expect(journalFeatureNames(j.jsb)).toContain('journal_checksum_v3');
  });

  it('has a superblock checksum that verifies and equals dumpe2fs', () => {
    expect(verifyJournalSuperblockChecksum(j.jsb, j.raw)).toBe(true);
    expect(journalSuperblockChecksum(j.raw)).toBe(j.jsb.checksum);
    const flipped = j.raw.slice();
    flipped[0x30] ^= 1; // a uuid byte
    expect(verifyJournalSuperblockChecksum(decodeJournalSuperblock(flipped), flipped)).toBe(false);
    setJournalSuperblockChecksum(flipped);
    expect(verifyJournalSuperblockChecksum(decodeJournalSuperblock(flipped), flipped)).toBe(true);
  });

  it('needs recovery, as the filesystem superblock also says', async () => {
    expect(journalNeedsRecovery(j.jsb)).toBe(true);
    const sb = await readSuperblock(j.img);
    expect(sb.featureIncompat & INCOMPAT_RECOVER).toBe(INCOMPAT_RECOVER);
    expect(uuidString(j.jsb.uuid)).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('the log blocks carry the headers logdump reports', async () => {
    const log = await debugfs(j.img, 'logdump');
    const found = [...log.matchAll(/Found expected sequence (\d+), type (\d+) \([^)]*\) at block (\d+)/g)];
    expect(found.length).toBeGreaterThanOrEqual(2);
    for (const [, seq, type, block] of found) {
      const h = decodeJournalHeader(await readRange(j.img, j.offset + Number(block) * j.blockSize, 12));
      expect(h).toEqual({ magic: JBD2_MAGIC_NUMBER, blockType: Number(type), sequence: Number(seq) });
    }
    expect(found.map((f) => Number(f[2]))).toEqual([JBD2_DESCRIPTOR_BLOCK, JBD2_COMMIT_BLOCK]);
    expect(Number(found[0][3])).toBe(j.jsb.start);
  });
});

describe('journal superblock validation', () => {
  let raw: Uint8Array;
  beforeAll(async () => {
    const img = await images.mkfs({ size: '600M', name: 'validate.img' });
    raw = (await loadJournal(img)).raw;
  });

  function expectCorrupt(change: (v: DataView) => void): void {
    const copy = raw.slice();
    change(new DataView(copy.buffer));
    let caught: unknown;
    try {
      decodeJournalSuperblock(copy);
    } catch (e) {
      caught = e;
    }
    expect(isCorruption(caught), String(caught)).toBe(true);
    if (isCorruption(caught)) expect(caught.structure).toBe('journal superblock');
  }

  it('rejects a bad magic, unknown type, bad block size, bad log start and contradictory checksum features', () => {
    expectCorrupt((v) => v.setUint32(0, 0xc03b3999));
    expectCorrupt((v) => v.setUint32(4, 5));
    expectCorrupt((v) => v.setUint32(0x0c, 3000));
    expectCorrupt((v) => v.setUint32(0x14, 0));
    expectCorrupt((v) => v.setUint32(0x14, v.getUint32(0x10)));
    expectCorrupt((v) => v.setUint32(0x1c, v.getUint32(0x10) + 5));
    expectCorrupt((v) => { v.setUint32(0x28, JBD2_FEATURE_INCOMPAT_CSUM_V2 | JBD2_FEATURE_INCOMPAT_CSUM_V3); v.setUint8(0x50, JBD2_CRC32C_CHKSUM); });
    expectCorrupt((v) => { v.setUint32(0x28, JBD2_FEATURE_INCOMPAT_CSUM_V3); v.setUint8(0x50, 1); });
  });

  it('rejects a truncated buffer', () => {
    expect(() => decodeJournalSuperblock(raw.subarray(0, 100))).toThrow(/journal superblock/);
  });
});
