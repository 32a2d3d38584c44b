/**
 * computeLayout's geometry against `mke2fs -n -v` (which prints what it would
 * make and writes nothing) over sizes from 1 MiB to 16 TiB and a spread of
 * options, seeded so a failure replays. Sizes that would need an image this
 * machine cannot hold are covered this way only.
 */
import { describe, expect, it } from 'vitest';
import { computeLayout, type MkfsOptions } from '../../src/index.js';
import { groupHasSuperblock } from '../../src/format/superblock.js';
import { createSparse } from '../helpers/images.js';
import { Rng } from '../helpers/prng.js';
import { runCommand, TOOL_ENV } from '../helpers/run.js';
import { useTmpDir } from '../helpers/tmp.js';
import { GiB, MiB, mke2fsFeatureArg } from './parity-cases.js';

const tmp = useTmpDir('mkfs-geometry');
const TiB = 1024 * GiB;

interface Expected {
  blocks: number;
  inodes: number;
  reserved: number;
  firstDataBlock: number;
  groups: number;
  blocksPerGroup: number;
  inodesPerGroup: number;
  /** "Maximum filesystem blocks", printed when there are reserved GDT blocks. */
  maxBlocks: number | undefined;
  backups: number[];
  blockSize: number;
}

function num(text: string, re: RegExp): number {
  const m = re.exec(text);
  if (m === null) throw new Error(`${String(re)} not found in:\n${text}`);
  return Number(m[1]);
}

async function mke2fsDryRun(size: number, options: MkfsOptions, args: string[]): Promise<Expected | string> {
  const img = tmp.file('dry-run.img');
  createSparse(img, 0);
  const features = mke2fsFeatureArg(options.features ?? []);
  const r = await runCommand('mke2fs', [
    '-n', '-v', '-F', '-t', 'ext4', ...(features === '' ? [] : ['-O', features]), ...args, img, `${Math.floor(size / 1024)}k`,
  ], { env: TOOL_ENV, timeoutMs: 60_000 });
  const out = `${r.stdout}${r.stderr}`;
  if (r.code !== 0) return out;
  const backups = /Superblock backups stored on blocks:\s*([\d,\s]*)/.exec(out)?.[1].split(/[,\s]+/).filter((s) => s !== '').map(Number) ?? [];
  const maxBlocks = /Maximum filesystem blocks=(\d+)/.exec(out);
  return {
    blocks: num(out, /\d+ inodes, (\d+) blocks/),
    inodes: num(out, /(\d+) inodes, \d+ blocks/),
    reserved: num(out, /(\d+) blocks \([\d.]+%\) reserved/),
    firstDataBlock: num(out, /First data block=(\d+)/),
    groups: num(out, /(\d+) block groups?/),
    blocksPerGroup: num(out, /(\d+) blocks per group/),
    inodesPerGroup: num(out, /(\d+) inodes per group/),
    maxBlocks: maxBlocks === null ? undefined : Number(maxBlocks[1]),
    backups,
    blockSize: num(out, /Block size=(\d+)/),
  };
}

function ours(size: number, options: MkfsOptions): Expected | string {
  try {
    const l = computeLayout({ ...options, size }, size);
    const g = l.geometry;
    const backups: number[] = [];
    for (let group = 1; group < g.groupCount; group++) {
      const first = g.firstDataBlock + group * g.blocksPerGroup;
      if (groupHasSuperblock(g.sb, group)) backups.push(first);
    }
    return {
      blocks: g.blocksCount,
      inodes: g.sb.inodesCount,
      reserved: g.sb.reservedBlocksCount,
      firstDataBlock: g.firstDataBlock,
      groups: g.groupCount,
      blocksPerGroup: g.blocksPerGroup,
      inodesPerGroup: g.inodesPerGroup,
      maxBlocks: g.reservedGdtBlocks === 0 ? undefined : (g.reservedGdtBlocks + g.descBlocks) * g.descPerBlock * g.blocksPerGroup,
      backups,
      blockSize: g.blockSize,
    };
  } catch (e) {
    return String(e);
  }
}

interface GeometryCase { size: number; options: MkfsOptions; args: string[] }

const FIXED: GeometryCase[] = [
  { size: MiB, options: {}, args: [] },
  { size: 3 * MiB - 1024, options: {}, args: [] },
  { size: 511 * MiB, options: {}, args: [] },
  { size: 512 * MiB, options: {}, args: [] },
  { size: 2 * GiB, options: {}, args: [] },
  { size: 100 * GiB, options: {}, args: [] },
  { size: 4 * TiB - 4096, options: {}, args: [] },
  { size: 4 * TiB, options: {}, args: [] },
  { size: 16 * TiB - 4096, options: {}, args: [] },
  { size: 16 * TiB, options: {}, args: [] },
  { size: 10 * TiB, options: { features: ['^64bit'] }, args: [] },
  { size: 300 * GiB, options: { bytesPerInode: 1024 * 1024 }, args: ['-i', '1048576'] },
  { size: 64 * MiB, options: { inodes: 60000 }, args: ['-N', '60000'] },
  { size: 100 * MiB, options: { blockSize: 4096, inodes: 100000 }, args: ['-b', '4096', '-N', '100000'] },
  { size: 8 * GiB, options: { blockSize: 2048, features: ['^flex_bg'] }, args: ['-b', '2048'] },
];

function randomCases(seed: number, n: number): GeometryCase[] {
  const rng = new Rng(seed);
  const out: GeometryCase[] = [];
  for (let i = 0; i < n; i++) {
    const raw = Math.floor(2 ** (20 + rng.float() * 24));
    const size = raw - (raw % 1024);
    const options: MkfsOptions = {};
    const args: string[] = [];
    if (rng.chance(0.3)) {
      options.blockSize = rng.pick([1024, 2048, 4096]);
      args.push('-b', String(options.blockSize));
    }
    if (rng.chance(0.2)) {
      options.inodeSize = rng.pick([128, 256, 512]);
      args.push('-I', String(options.inodeSize));
    }
    if (rng.chance(0.2)) {
      options.bytesPerInode = rng.pick([2048, 4096, 8192, 65536]);
      args.push('-i', String(options.bytesPerInode));
    }
    if (rng.chance(0.2)) options.features = [rng.pick(['^flex_bg', '^resize_inode', '^64bit', '^sparse_super,^resize_inode'])];
    out.push({ size, options, args });
  }
  return out;
}

const SEED = 20251128;

describe('computeLayout chooses the geometry mke2fs -n reports', () => {
  for (const c of [...FIXED, ...randomCases(SEED, 60)]) {
    const label = `${c.size} bytes ${c.args.join(' ')} ${(c.options.features ?? []).join(',')}`;
    it(label, async () => {
      const want = await mke2fsDryRun(c.size, c.options, c.args);
      const got = ours(c.size, c.options);
      if (typeof want === 'string') {
        // mke2fs refuses: so must we (seed ${SEED}).
        expect(typeof got, `mke2fs refused (${want.trim().split('\n').pop() ?? ''}) but computeLayout accepted`).toBe('string');
        return;
      }
      if (typeof got === 'string' && got.includes('meta_bg')) {
        // Too many descriptor blocks for the groups: mke2fs switches to meta_bg (dropping the
        // resize inode, so it reports no maximum size); ext4kit does not make meta_bg filesystems.
        expect(want.maxBlocks, `seed ${SEED}`).toBeUndefined();
        return;
      }
      expect(got, `seed ${SEED}`).toEqual(want);
    });
  }
});
