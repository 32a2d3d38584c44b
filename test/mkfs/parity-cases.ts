/**
 * Running mke2fs and ext4kit's mkfs side by side on the same options, and
 * what may differ between the two images.
 *
 * Both get the same UUID, hash seed and creation time (mke2fs reads the time
 * from E2FSPROGS_FAKE_TIME), so every checksum comes out the same too and
 * the images can be compared byte for byte. mke2fs runs on an existing
 * sparse file, which it discards first, as ext4kit treats a new file.
 */
import { mkfs, type MkfsOptions, type MkfsResult } from '../../src/index.js';
import { createSparse } from '../helpers/images.js';
import { runChecked, TOOL_ENV } from '../helpers/run.js';
import type { ByteRange } from '../helpers/image-diff.js';

export const UUID = '11111111-2222-3333-4444-555555555555';
export const HASH_SEED = '66666666-7777-8888-9999-aaaaaaaaaaaa';
export const TIME = 1_700_000_000;

export interface ParityCase {
  name: string;
  /** Filesystem size in bytes. */
  size: number;
  /** ext4kit's options (identity added by the runner). */
  ours: MkfsOptions;
  /** The same request for mke2fs, besides -t ext4, identity and -O. */
  mke2fs: string[];
  /**
   * Both run on an existing file of `size` bytes without being told a size
   * (the device size is used, rounded down to 4 KiB). Otherwise the size is
   * given explicitly to both, and ext4kit creates the file.
   */
  existingFile?: boolean;
}

export const MiB = 1024 * 1024;
export const GiB = 1024 * MiB;

/**
 * mke2fs's -O for ext4kit's feature edits: Debian's mke2fs.conf lacks the
 * two upstream defaults, so they are asked for, except where the edits
 * remove them or what they depend on (mke2fs refuses metadata_csum_seed
 * without metadata_csum, orphan_file without a journal, when asked).
 */
export function mke2fsFeatureArg(edits: readonly string[]): string {
  const removed = new Set(edits.flatMap((e) => e.split(',')).filter((e) => e.startsWith('^')).map((e) => e.slice(1)));
  const extra: string[] = [];
  if (!removed.has('metadata_csum_seed') && !removed.has('metadata_csum')) extra.push('metadata_csum_seed');
  if (!removed.has('orphan_file') && !removed.has('has_journal')) extra.push('orphan_file');
  return [...extra, ...edits].join(',');
}

export async function runMke2fs(img: string, c: ParityCase): Promise<void> {
  createSparse(img, c.size);
  const args = ['-q', '-F', '-t', 'ext4', '-U', UUID, '-E', `hash_seed=${HASH_SEED}`];
  const features = mke2fsFeatureArg(c.ours.features ?? []);
  if (features !== '') args.push('-O', features);
  args.push(...c.mke2fs, img);
  if (c.existingFile !== true) args.push(`${Math.floor(c.size / 1024)}k`);
  await runChecked('mke2fs', args, { env: { ...TOOL_ENV, E2FSPROGS_FAKE_TIME: String(TIME) }, timeoutMs: 300_000 });
}

export function runOurs(img: string, c: ParityCase): Promise<MkfsResult> {
  const identity = { uuid: UUID, hashSeed: HASH_SEED, time: TIME };
  if (c.existingFile === true) {
    createSparse(img, c.size);
    return mkfs(img, { ...c.ours, ...identity });
  }
  return mkfs(img, { ...c.ours, ...identity, size: c.size });
}

/**
 * dumpe2fs lines that differ by design: s_kbytes_written counts what each
 * writer wrote (and the superblock checksum covers it), and ext4kit's
 * journal superblock carries the features the kernel sets at its first
 * commit (64-bit tags, checksum v3) and so a checksum.
 */
const EXPECTED_DIFFERENT_LINES = /^(Lifetime writes|Checksum|Journal features|Journal checksum type|Journal checksum):/;

export function comparableDump(text: string): string {
  return text.split('\n').filter((l) => !EXPECTED_DIFFERENT_LINES.test(l)).join('\n');
}

/** Byte ranges allowed to differ in a superblock copy that starts at `offset`: s_kbytes_written and s_checksum. */
export function superblockAllowance(offset: number): ByteRange[] {
  return [{ start: offset + 0x178, end: offset + 0x180 }, { start: offset + 0x3fc, end: offset + 0x400 }];
}

/** Fields of a jbd2 superblock at `offset` that differ: s_feature_incompat, s_checksum_type, s_checksum. */
export function journalSuperblockAllowance(offset: number): ByteRange[] {
  return [{ start: offset + 0x28, end: offset + 0x2c }, { start: offset + 0x50, end: offset + 0x51 }, { start: offset + 0xfc, end: offset + 0x100 }];
}

export const CASES: readonly ParityCase[] = [
  { name: 'defaults 16M', size: 16 * MiB, ours: {}, mke2fs: [] },
  { name: 'defaults 64M', size: 64 * MiB, ours: {}, mke2fs: [] },
  { name: 'defaults 300M', size: 300 * MiB, ours: {}, mke2fs: [] },
  { name: 'defaults 1G', size: GiB, ours: {}, mke2fs: [] },
  { name: 'defaults 5G', size: 5 * GiB, ours: {}, mke2fs: [] },
  { name: '-b 1024', size: 300 * MiB, ours: { blockSize: 1024 }, mke2fs: ['-b', '1024'] },
  { name: '-b 2048', size: 256 * MiB, ours: { blockSize: 2048 }, mke2fs: ['-b', '2048'] },
  { name: '-b 4096', size: 64 * MiB, ours: { blockSize: 4096 }, mke2fs: ['-b', '4096'] },
  { name: '-O ^64bit', size: GiB, ours: { features: ['^64bit'] }, mke2fs: [] },
  { name: '-O ^metadata_csum', size: 64 * MiB, ours: { features: ['^metadata_csum'] }, mke2fs: [] },
  { name: '-O ^metadata_csum,uninit_bg', size: 64 * MiB, ours: { features: ['^metadata_csum', 'uninit_bg'] }, mke2fs: [] },
  { name: '-O inline_data (1K blocks)', size: 64 * MiB, ours: { features: ['inline_data'] }, mke2fs: [] },
  { name: '-O inline_data (4K blocks)', size: GiB, ours: { features: ['inline_data'] }, mke2fs: [] },
  { name: '-O ^has_journal', size: 64 * MiB, ours: { features: ['^has_journal'] }, mke2fs: [] },
  { name: '-O ^flex_bg', size: 300 * MiB, ours: { features: ['^flex_bg'] }, mke2fs: [] },
  { name: '-O ^resize_inode', size: GiB, ours: { features: ['^resize_inode'] }, mke2fs: [] },
  { name: '-O ^orphan_file,^metadata_csum_seed', size: 64 * MiB, ours: { features: ['^orphan_file', '^metadata_csum_seed'] }, mke2fs: [] },
  { name: '-O ^extent,^64bit', size: 64 * MiB, ours: { features: ['^extent', '^64bit'] }, mke2fs: [] },
  {
    name: 'ext3-like',
    size: 300 * MiB,
    ours: { features: ['^extent', '^64bit', '^flex_bg', '^huge_file', '^metadata_csum', '^dir_nlink', '^extra_isize', '^orphan_file'] },
    mke2fs: [],
  },
  { name: '-O ^sparse_super,^resize_inode', size: 64 * MiB, ours: { features: ['^sparse_super', '^resize_inode'] }, mke2fs: [] },
  // The resize inode is over 2 GiB with 4 KiB blocks, which turns large_file back on.
  { name: '-O ^large_file (4K: comes back)', size: GiB, ours: { features: ['^large_file'] }, mke2fs: [] },
  { name: '-O ^large_file (1K)', size: 64 * MiB, ours: { features: ['^large_file'] }, mke2fs: [] },
  { name: '-O ^dir_index,^filetype,^ext_attr', size: 64 * MiB, ours: { features: ['^dir_index', '^filetype', '^ext_attr'] }, mke2fs: [] },
  { name: '-O ^huge_file,^dir_nlink,^extra_isize,large_dir', size: 64 * MiB, ours: { features: ['^huge_file', '^dir_nlink', '^extra_isize', 'large_dir'] }, mke2fs: [] },
  { name: '-I 1024', size: GiB, ours: { inodeSize: 1024 }, mke2fs: ['-I', '1024'] },
  { name: '-I 128', size: 64 * MiB, ours: { inodeSize: 128 }, mke2fs: ['-I', '128'] },
  { name: '-N 5000', size: 64 * MiB, ours: { inodes: 5000 }, mke2fs: ['-N', '5000'] },
  { name: '-i 8192', size: GiB, ours: { bytesPerInode: 8192 }, mke2fs: ['-i', '8192'] },
  { name: '-L -U', size: 64 * MiB, ours: { label: 'ext4kit-test' }, mke2fs: ['-L', 'ext4kit-test'] },
  { name: '-J size=64', size: GiB, ours: { journalSizeMB: 64 }, mke2fs: ['-J', 'size=64'] },
  // Eight 32768-block extents: the journal's extent tree gets a leaf block.
  { name: '-J size=1024 (extent tree with a leaf)', size: 5 * GiB, ours: { journalSizeMB: 1024 }, mke2fs: ['-J', 'size=1024'] },
  // The last group is too small: ext2fs_initialize shrinks the groups until it fits (bpg 32104).
  { name: 'groups shrunk to fit the last one', size: 65636 * 4096, ours: { blockSize: 4096 }, mke2fs: ['-b', '4096'] },
  { name: 'floppy class (2M)', size: 2 * MiB, ours: {}, mke2fs: [] },
  { name: 'too small for a journal (1M)', size: MiB, ours: {}, mke2fs: [] },
  { name: 'one group', size: 16 * MiB, ours: { blockSize: 4096 }, mke2fs: ['-b', '4096'] },
  { name: 'size not a multiple of 4K, given', size: 97_658 * 1024 + 100, ours: {}, mke2fs: [] },
  { name: 'size not a multiple of 4K, from the file', size: 97_658 * 1024 + 100, ours: {}, mke2fs: [], existingFile: true },
  { name: '-m 1', size: 64 * MiB, ours: { reservedPercent: 1 }, mke2fs: ['-m', '1'] },
];
