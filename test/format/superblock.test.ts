/**
 * Superblock codec against real mkfs.ext4 images: exact round trip,
 * checksum, and every value dumpe2fs -h reports.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { isCorruption } from '../../src/base/errors.js';
import { featureNames, featureNamesOf, INCOMPAT_64BIT, RO_COMPAT_METADATA_CSUM } from '../../src/format/features.js';
import {
  SUPERBLOCK_OFFSET,
  SUPERBLOCK_SIZE,
  blockSizeOf,
  clusterSizeOf,
  decodeSuperblock,
  descSizeOf,
  encodeSuperblock,
  fsChecksumSeed,
  groupCountOf,
  groupHasSuperblock,
  firstInoOf,
  hashSeedBytes,
  inodeSizeOf,
  setSuperblockChecksum,
  superblockChecksum,
  type Superblock,
  uuidString,
  verifySuperblockChecksum,
  volumeLabel,
} from '../../src/format/superblock.js';
import { crc32c } from '../../src/format/crc32c.js';
import { debugfs, dumpe2fs, parseKeyValues, readRange, readSuperblock, writeRange } from '../helpers/debugfs.js';
import { IMAGE_KINDS, type ImageKind, useImages } from '../helpers/images.js';

const images = useImages('superblock');

/** ctime(3) format, which dumpe2fs uses for times (TZ=UTC): "Sat Nov  7 12:05:01 2026". */
function ctimeString(sec: number): string {
  const d = new Date(sec * 1000);
  const days = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
  const months = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
  const p2 = (n: number): string => String(n).padStart(2, '0');
  return `${days[d.getUTCDay()]} ${months[d.getUTCMonth()]} ${String(d.getUTCDate()).padStart(2, ' ')} ` +
    `${p2(d.getUTCHours())}:${p2(d.getUTCMinutes())}:${p2(d.getUTCSeconds())} ${d.getUTCFullYear()}`;
}

function expectCorrupt(fn: () => unknown, structure: string): void {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  expect(isCorruption(caught), `expected a corruption error, got ${String(caught)}`).toBe(true);
  if (isCorruption(caught)) {
    expect(caught.code).toBe('EFSCORRUPTED');
    expect(caught.structure).toBe(structure);
  }
}

interface Made {
  kind: ImageKind;
  img: string;
  raw: Uint8Array;
  sb: Superblock;
  header: Map<string, string>;
  full: string;
}

describe.each(IMAGE_KINDS)('superblock of a $name image', (kind) => {
  let m: Made;
  beforeAll(async () => {
    const img = await images.mkfsKind(kind);
    const raw = await readRange(img, SUPERBLOCK_OFFSET, SUPERBLOCK_SIZE);
    const full = await dumpe2fs(img);
    m = { kind, img, raw, sb: decodeSuperblock(raw), header: parseKeyValues(await dumpe2fs(img, ['-h'])), full };
  });

  it('decodes and re-encodes to the identical 1024 bytes', () => {
    const out = new Uint8Array(SUPERBLOCK_SIZE);
    encodeSuperblock(m.sb, out);
    expect(Buffer.from(out).equals(Buffer.from(m.raw))).toBe(true);
  });

  it('has a checksum that verifies exactly when metadata_csum is on', () => {
    const csum = (m.sb.featureRoCompat & RO_COMPAT_METADATA_CSUM) !== 0;
    if (csum) {
      expect(verifySuperblockChecksum(m.raw)).toBe(true);
      expect(m.header.get('Checksum')).toBe(`0x${superblockChecksum(m.raw).toString(16).padStart(8, '0')}`);
    } else {
      expect(m.sb.checksum).toBe(0);
      expect(m.header.has('Checksum')).toBe(false);
    }
  });

  it('matches dumpe2fs -h', () => {
    const h = m.header;
    const sb = m.sb;
    const num = (k: string): number => {
      const v = h.get(k);
      expect(v, `dumpe2fs has no "${k}"`).toBeDefined();
      return Number.parseInt(v!, 10);
    };
    expect(h.get('Filesystem magic number')).toBe('0xEF53');
    expect(h.get('Filesystem UUID')).toBe(uuidString(sb.uuid));
    expect(h.get('Filesystem volume name')).toBe(volumeLabel(sb) === '' ? '<none>' : volumeLabel(sb));
    expect(h.get('Filesystem features')).toBe(featureNames(sb).join(' ') || '(none)');
    expect(num('Inode count')).toBe(sb.inodesCount);
    expect(num('Block count')).toBe(sb.blocksCount);
    expect(num('Reserved block count')).toBe(sb.reservedBlocksCount);
    expect(num('Free blocks')).toBe(sb.freeBlocksCount);
    expect(num('Free inodes')).toBe(sb.freeInodesCount);
    expect(num('First block')).toBe(sb.firstDataBlock);
    expect(num('Block size')).toBe(blockSizeOf(sb));
    expect(num(h.has('Cluster size') ? 'Cluster size' : 'Fragment size')).toBe(clusterSizeOf(sb));
    expect(num('Blocks per group')).toBe(sb.blocksPerGroup);
    expect(num(h.has('Clusters per group') ? 'Clusters per group' : 'Fragments per group')).toBe(sb.clustersPerGroup);
    expect(num('Inodes per group')).toBe(sb.inodesPerGroup);
    // Revision 0 has no such fields (dumpe2fs omits them): inodes are 128 bytes and the first one is 11.
    expect(h.has('First inode') ? num('First inode') : 11).toBe(firstInoOf(sb));
    expect(h.has('Inode size') ? num('Inode size') : 128).toBe(inodeSizeOf(sb));
    expect(num('Mount count')).toBe(sb.mountCount);
    expect(num('Maximum mount count')).toBe(sb.maxMountCount);
    expect(num('Check interval')).toBe(sb.checkInterval);
    expect(h.get('Filesystem created')).toBe(ctimeString(sb.mkfsTime));
    expect(h.get('Last write time')).toBe(ctimeString(sb.writeTime));
    expect(h.get('Directory Hash Seed')).toBe(uuidString(hashSeedBytes(sb)));
    if (sb.reservedGdtBlocks !== 0) expect(num('Reserved GDT blocks')).toBe(sb.reservedGdtBlocks);
    if ((sb.featureIncompat & INCOMPAT_64BIT) !== 0) expect(num('Group descriptor size')).toBe(descSizeOf(sb));
    if (sb.journalInum !== 0) expect(num('Journal inode')).toBe(sb.journalInum);
    if (h.has('Required extra isize')) {
      expect(num('Required extra isize')).toBe(sb.minExtraIsize);
      expect(num('Desired extra isize')).toBe(sb.wantExtraIsize);
    }
    if (sb.logGroupsPerFlex !== 0) expect(num('Flex block group size')).toBe(2 ** sb.logGroupsPerFlex);
    if (sb.orphanFileInum !== 0) expect(num('Orphan file inode')).toBe(sb.orphanFileInum);
    if (h.has('Checksum seed')) expect(h.get('Checksum seed')).toBe(`0x${fsChecksumSeed(sb).toString(16).padStart(8, '0')}`);
    if (m.kind.formatArgs.includes('-L')) expect(volumeLabel(sb)).toBe('ext4kit-label');
  });

  it('agrees with dumpe2fs on the number of groups and which carry a superblock copy', () => {
    const groups = [...m.full.matchAll(/^Group (\d+): /gm)].map((g) => Number(g[1]));
    expect(groups.length).toBe(groupCountOf(m.sb));
    const blocks = m.full.split(/^Group \d+: /m).slice(1);
    blocks.forEach((text, g) => {
      expect(/superblock at/.test(text), `group ${g}`).toBe(groupHasSuperblock(m.sb, g));
    });
  });

  it('detects a changed byte through the checksum and rejects a bad magic', () => {
    if ((m.sb.featureRoCompat & RO_COMPAT_METADATA_CSUM) !== 0) {
      const flipped = m.raw.slice();
      flipped[0x78] ^= 0x01; // a volume-name byte: decodes fine, only the checksum notices
      expect(verifySuperblockChecksum(flipped)).toBe(false);
      expect(() => decodeSuperblock(flipped)).not.toThrow();
    }
    const badMagic = m.raw.slice();
    badMagic[0x38] ^= 0xff;
    expectCorrupt(() => decodeSuperblock(badMagic), 'superblock');
  });
});

describe('superblock validation', () => {
  let raw: Uint8Array;
  beforeAll(async () => {
    const img = await images.mkfs({ size: '64M', name: 'validation.img' });
    raw = await readRange(img, SUPERBLOCK_OFFSET, SUPERBLOCK_SIZE);
  });

  /** Rewrites one field of a copy through the codec, so only that field changes. */
  function withField(change: (sb: Superblock) => void): Uint8Array {
    const sb = decodeSuperblock(raw);
    change(sb);
    const out = new Uint8Array(SUPERBLOCK_SIZE);
    encodeSuperblock(sb, out);
    return out;
  }

  it.each([
    ['log block size 7', (sb: Superblock) => { sb.logBlockSize = 7; sb.logClusterSize = 7; }],
    ['cluster size differing without bigalloc', (sb: Superblock) => { sb.logClusterSize = sb.logBlockSize + 1; }],
    ['zero blocks per group', (sb: Superblock) => { sb.blocksPerGroup = 0; }],
    ['more clusters per group than a bitmap holds', (sb: Superblock) => { sb.clustersPerGroup = blockSizeOf(sb) * 8 + 8; sb.blocksPerGroup = sb.clustersPerGroup; }],
    ['zero inodes per group', (sb: Superblock) => { sb.inodesPerGroup = 0; }],
    ['inode size not a power of two', (sb: Superblock) => { sb.inodeSize = 200; }],
    ['inode size below 128', (sb: Superblock) => { sb.inodeSize = 64; }],
    ['inode size above the block size', (sb: Superblock) => { sb.inodeSize = blockSizeOf(sb) * 2; }],
    ['descriptor size 48 with 64bit', (sb: Superblock) => { sb.descSize = 48; }],
    ['first inode 5', (sb: Superblock) => { sb.firstIno = 5; }],
    ['first data block beyond the end', (sb: Superblock) => { sb.firstDataBlock = sb.blocksCount; }],
    ['inode count not groups times inodes per group', (sb: Superblock) => { sb.inodesCount += 1; }],
    ['insane reserved GDT blocks', (sb: Superblock) => { sb.reservedGdtBlocks = blockSizeOf(sb); }],
    ['unknown checksum type with metadata_csum', (sb: Superblock) => { sb.checksumType = 2; }],
  ])('rejects %s as corrupt', (_name, change) => {
    expectCorrupt(() => decodeSuperblock(withField(change)), 'superblock');
  });

  it('rejects a truncated buffer', () => {
    expectCorrupt(() => decodeSuperblock(raw.subarray(0, 512)), 'superblock');
  });

  it('setSuperblockChecksum makes a modified superblock verify again', () => {
    const out = withField((sb) => { sb.mountCount += 1; });
    expect(verifySuperblockChecksum(out)).toBe(false);
    setSuperblockChecksum(out);
    expect(verifySuperblockChecksum(out)).toBe(true);
  });

  it('computes the checksum seed as crc32c(~0, uuid) without metadata_csum_seed', () => {
    const sb = decodeSuperblock(raw);
    expect(fsChecksumSeed(sb)).toBe(crc32c(~0, sb.uuid));
  });
});

describe('feature names', () => {
  it.each(['feature_compat', 'feature_incompat', 'feature_ro_compat'] as const)(
    'match dumpe2fs -f with all 32 bits of %s set, unknown bits included',
    async (word) => {
      const img = await images.mkfs({ size: '64M', name: `all-${word}.img` });
      await debugfs(img, `ssv ${word} 0xffffffff`, true);
      // With every incompat bit set dumpe2fs also fails to read the journal and exits non-zero, after printing the header.
      const header = parseKeyValues(await dumpe2fs(img, ['-f', '-h'], { anyExit: true }));
      const sb = await readSuperblock(img);
      expect(header.get('Filesystem features')).toBe(featureNames(sb).join(' '));
      const kind = word === 'feature_compat' ? 'compat' : word === 'feature_incompat' ? 'incompat' : 'ro_compat';
      expect(featureNamesOf(kind, 0xffffffff)).toHaveLength(32);
    },
  );
});

describe('superblock times', () => {
  it('a label, mount count and times set through encode are what dumpe2fs reads back', async () => {
    const img = await images.mkfs({ size: '64M', name: 'encode.img' });
    const sb = await readSuperblock(img);
    sb.volumeName = new Uint8Array(16);
    sb.volumeName.set(new TextEncoder().encode('written-by-us'));
    sb.mountCount = 7;
    // Distinct times past 2038 (bit 31 set: these fields are unsigned) but before 2106,
    // the range e2fsprogs 1.47 prints (it ignores the s_*_hi bytes).
    const times = {
      writeTime: Date.UTC(2100, 0, 1) / 1000,
      mountTime: Date.UTC(2101, 5, 2, 3, 4, 5) / 1000,
      mkfsTime: Date.UTC(2050, 0, 1) / 1000,
      lastCheck: Date.UTC(2105, 11, 31, 23, 59, 59) / 1000,
    };
    Object.assign(sb, times);
    const out = new Uint8Array(SUPERBLOCK_SIZE);
    encodeSuperblock(sb, out);
    setSuperblockChecksum(out);
    await writeRange(img, SUPERBLOCK_OFFSET, out);
    const h = parseKeyValues(await dumpe2fs(img, ['-h']));
    expect(h.get('Filesystem volume name')).toBe('written-by-us');
    expect(h.get('Mount count')).toBe('7');
    expect(h.get('Last write time')).toBe('Fri Jan  1 00:00:00 2100');
    expect(h.get('Last mount time')).toBe('Thu Jun  2 03:04:05 2101');
    expect(h.get('Filesystem created')).toBe('Sat Jan  1 00:00:00 2050');
    expect(h.get('Last checked')).toBe('Thu Dec 31 23:59:59 2105');
    expect(h.get('Checksum')).toBe(`0x${superblockChecksum(out).toString(16).padStart(8, '0')}`);
    const back = await readSuperblock(img);
    expect({ writeTime: back.writeTime, mountTime: back.mountTime, mkfsTime: back.mkfsTime, lastCheck: back.lastCheck }).toEqual(times);
  });

  it('a time set by debugfs with bit 31 set decodes as unsigned', async () => {
    const img = await images.mkfs({ size: '64M', name: 'ssv-times.img' });
    await debugfs(img, 'ssv lastcheck 21060101000000', true);
    const raw = await readRange(img, SUPERBLOCK_OFFSET, SUPERBLOCK_SIZE);
    expect(decodeSuperblock(raw).lastCheck).toBe(Date.UTC(2106, 0, 1) / 1000);
    expect(verifySuperblockChecksum(raw)).toBe(true);
  });

  it('high time bytes sit where the kernel layout puts them (s_wtime_hi at 0x274 ... s_last_error_time_hi at 0x279)', async () => {
    // e2fsprogs 1.47 neither writes nor prints these bytes, so the oracle is the
    // documented layout: low words at their offsets, high bytes at 0x274..0x279.
    const img = await images.mkfs({ size: '64M', name: 'hi-bytes.img' });
    const raw = await readRange(img, SUPERBLOCK_OFFSET, SUPERBLOCK_SIZE);
    const fields: [keyof Superblock, number, number][] = [
      ['writeTime', 0x30, 0x274],
      ['mountTime', 0x2c, 0x275],
      ['mkfsTime', 0x108, 0x276],
      ['lastCheck', 0x40, 0x277],
      ['firstErrorTime', 0x198, 0x278],
      ['lastErrorTime', 0x1cc, 0x279],
    ];
    fields.forEach(([, lo, hi], i) => {
      new DataView(raw.buffer, raw.byteOffset).setUint32(lo, 0x1000 + i, true);
      raw[hi] = i + 1;
    });
    const sb = decodeSuperblock(raw);
    fields.forEach(([name], i) => expect(sb[name], name).toBe((i + 1) * 2 ** 32 + 0x1000 + i));
    const out = new Uint8Array(SUPERBLOCK_SIZE);
    encodeSuperblock(sb, out);
    expect(Buffer.from(out).equals(Buffer.from(raw))).toBe(true);
  });
});
