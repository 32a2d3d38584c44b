/**
 * Linear directory blocks and inline directories against debugfs `ls` on
 * images made by mkfs.ext4 -d (and, for inline directories that spill into
 * system.data, by the kernel through a loop mount).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  dirBlockTailChecksum, dirEntrySize, encodeDirEntry, hasDirTail, parseDirBlock, parseDirRecords, recLenFromDisk, recLenToDisk,
  verifyDirBlock, writeDirBlockChecksum, writeDirTail, EXT4_FT_DIR_CSUM, type DirEntry,
} from '../../src/format/dirent.js';
import { parseInlineDir, findSystemData, EXT4_MIN_INLINE_DATA_SIZE } from '../../src/format/inline-data.js';
import { parseInodeXattrs } from '../../src/format/xattr.js';
import { isCorruption } from '../../src/base/errors.js';
import {
  dataBlocks, debugfs, fsChecksumSeed, hasMetadataCsum, iblockOf, inodeChecksumSeed, parseLs, parseLsLong, parseStat, readBlock,
  readRawInode, readRawSuper, type RawSuper,
} from '../helpers/debugfs.js';
import { expectFsckClean } from '../helpers/fsck.js';
import { mkfs } from '../helpers/images.js';
import { Rng } from '../helpers/prng.js';
import { canLoopMount, withMountedImage } from '../helpers/loop.js';
import { runChecked } from '../helpers/run.js';
import { useTmpDir } from '../helpers/tmp.js';

const tmp = useTmpDir('dirent');

const INCOMPAT_FILETYPE = 0x2;

/** File type expected in a dirent for a mode (S_IFMT >> 12 -> EXT4_FT_*). */
const FT_OF_MODE: Record<number, number> = { 0o10: 1, 0o04: 2, 0o02: 3, 0o06: 4, 0o01: 5, 0o14: 6, 0o12: 7 };

/** Deterministic names of 1..255 bytes, some with UTF-8 bytes >= 0x80, none with spaces or backslashes. */
function makeNames(count: number): string[] {
  const alphabet = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-+=,~é';
  const names: string[] = [];
  for (let i = 0; i < count; i++) {
    const want = 1 + ((i * 37) % 255);
    let n = i.toString(36) + '_';
    let k = i;
    while (Buffer.byteLength(n) < want) {
      n += alphabet[k % alphabet.length];
      k = (k * 7 + 3) % 1000003;
    }
    while (Buffer.byteLength(n) > 255) n = n.slice(0, -1);
    names.push(n);
  }
  return names;
}

function asLatin1(b: Uint8Array): string {
  return Buffer.from(b).toString('latin1');
}

async function populate(root: string): Promise<string[]> {
  const d = join(root, 'd');
  await mkdir(d, { recursive: true });
  const names = makeNames(300);
  for (const n of names) await writeFile(join(d, n), '');
  await mkdir(join(d, 'subdir'));
  // Special files the dirent file_type distinguishes.
  await runChecked('python3', ['-c', [
    'import os, socket, sys',
    'd = sys.argv[1]',
    "os.mkfifo(os.path.join(d, 'fifo'))",
    "os.mknod(os.path.join(d, 'chr'), 0o600 | 0o020000, os.makedev(1, 3))",
    "os.mknod(os.path.join(d, 'blk'), 0o600 | 0o060000, os.makedev(7, 0))",
    "os.symlink('target', os.path.join(d, 'link'))",
    "s = socket.socket(socket.AF_UNIX); s.bind(os.path.join(d, 'sock')); s.close()",
  ].join('\n'), d]);
  return names;
}

const kinds = [
  { name: '4k metadata_csum', mk: ['-b', '4096'] },
  { name: '1k metadata_csum', mk: ['-b', '1024'] },
  { name: '4k without metadata_csum', mk: ['-b', '4096', '-O', '^metadata_csum'] },
  { name: 'ext2 without filetype', mk: ['-t', 'ext2', '-b', '1024', '-O', '^filetype'] },
];

describe.each(kinds)('directory blocks on $name', ({ mk }) => {
  let dir = '';
  let image = '';
  let sb: RawSuper;
  let names: string[] = [];
  const opts = (): { hasFileType: boolean; hasTail: boolean; inodesCount: number } => ({
    hasFileType: (sb.incompat & INCOMPAT_FILETYPE) !== 0, hasTail: hasMetadataCsum(sb), inodesCount: sb.inodesCount,
  });
  beforeAll(async () => {
    dir = tmp.fresh('blocks');
    names = await populate(join(dir, 'root'));
    image = join(dir, 'img');
    await mkfs(image, { args: mk, size: '32M', root: join(dir, 'root') });
    sb = await readRawSuper(image);
    // Deleted entries: debugfs merges them into the previous entry's
    // rec_len, or zeroes the inode when the entry starts a block (the first
    // entry of the second block is removed on purpose for that).
    const listed = parseLs(await debugfs(image, 'ls /d'));
    const victims = listed.filter((_e, i) => i > 2 && i % 7 === 0).map((e) => e.name);
    const second = (await dataBlocks(image, '/d'))[1];
    const head = parseDirBlock(await readBlock(image, second.pblk, sb.blockSize), { ino: 0 }, opts())[0];
    victims.push(asLatin1(head.name));
    for (const v of new Set(victims)) await debugfs(image, `rm /d/${v}`, true);
    sb = await readRawSuper(image);
  });

  async function dirBlocks(): Promise<Array<{ pblk: number; data: Uint8Array }>> {
    const blocks = await dataBlocks(image, '/d');
    expect(blocks.length).toBeGreaterThan(1);
    blocks.forEach((b, i) => expect(b.lblk).toBe(i));
    return Promise.all(blocks.map(async ({ pblk }) => ({ pblk, data: await readBlock(image, pblk, sb.blockSize) })));
  }

  it('records of all blocks equal debugfs ls (inode, rec_len, name) and ls -l (file type)', async () => {
    const blocks = await dirBlocks();
    const st = parseStat(await debugfs(image, 'stat /d'));
    const records: DirEntry[] = [];
    const live: DirEntry[] = [];
    blocks.forEach(({ pblk, data }, lblk) => {
      records.push(...parseDirRecords(data, { ino: st.ino, lblk, blockNr: pblk }, opts()));
      live.push(...parseDirBlock(data, { ino: st.ino, lblk, blockNr: pblk }, opts()));
    });
    const ls = parseLs(await debugfs(image, 'ls /d'));
    const view = (e: DirEntry): { inode: number; recLen: number; name: string } => ({ inode: e.inode, recLen: e.recLen, name: asLatin1(e.name) });
    expect(records.map(view)).toEqual(ls);
    expect(live.map(view)).toEqual(ls.filter((e) => e.inode !== 0));
    expect(live.length).toBeLessThan(records.length);
    const long = parseLsLong(await debugfs(image, 'ls -l /d'));
    expect(long.length).toBe(records.length);
    expect(records.map((e) => e.fileType)).toEqual(long.map((e) => e.fileType));
    if (opts().hasFileType) {
      for (const e of long) if (e.inode !== 0) expect(e.fileType, String(e.inode)).toBe(FT_OF_MODE[e.mode >> 12]);
    } else {
      expect(records.every((e) => e.fileType === 0)).toBe(true);
    }
    // Every name made on the host is there, bytes intact, except those removed.
    const present = new Set(live.map((e) => asLatin1(e.name)));
    const deleted = names.filter((n) => !present.has(Buffer.from(n).toString('latin1')));
    expect(deleted.length).toBeGreaterThan(30);
    expect(deleted.length).toBeLessThan(60);
  });

  it('block checksums verify, and fail on any change', async () => {
    const blocks = await dirBlocks();
    const st = parseStat(await debugfs(image, 'stat /d'));
    const seed = inodeChecksumSeed(fsChecksumSeed(sb), st.ino, st.generation);
    for (const { data } of blocks) {
      expect(hasDirTail(data)).toBe(opts().hasTail);
      if (!opts().hasTail) continue;
      expect(verifyDirBlock(seed, data)).toBe(true);
      expect(dirBlockTailChecksum(seed, data)).toBe(Buffer.from(data).readUInt32LE(data.length - 4));
      const bad = data.slice();
      bad[100] ^= 1;
      expect(verifyDirBlock(seed, bad)).toBe(false);
      expect(verifyDirBlock(seed + 1, data)).toBe(false);
    }
  });

  it('round trip: re-encoding every record reproduces headers, names and tail', async () => {
    const blocks = await dirBlocks();
    const st = parseStat(await debugfs(image, 'stat /d'));
    const seed = inodeChecksumSeed(fsChecksumSeed(sb), st.ino, st.generation);
    let unused = 0;
    for (const [lblk, { data }] of blocks.entries()) {
      const records = parseDirRecords(data, { ino: st.ino, lblk }, opts());
      const copy = new Uint8Array(data.length);
      for (const r of records) {
        encodeDirEntry(r, copy, r.offset);
        if (r.inode === 0) unused++;
        // The bytes a record defines: header and name.
        const end = r.offset + 8 + r.nameLen;
        expect(Buffer.from(copy.subarray(r.offset, end)).equals(Buffer.from(data.subarray(r.offset, end)))).toBe(true);
      }
      const last = records[records.length - 1];
      if (opts().hasTail) {
        expect(last.offset + last.recLen).toBe(data.length - 12);
        writeDirTail(copy, Buffer.from(data).readUInt32LE(data.length - 4));
        expect(Buffer.from(copy.subarray(-12)).equals(Buffer.from(data.subarray(-12)))).toBe(true);
      } else {
        expect(last.offset + last.recLen).toBe(data.length);
      }
      // Where the block has no stale bytes (e2fsprogs zeroes fresh blocks),
      // the whole block and its checksum come back.
      const meaningful = new Uint8Array(data.length);
      for (const r of records) meaningful.set(data.subarray(r.offset, r.offset + 8 + r.nameLen), r.offset);
      if (opts().hasTail) meaningful.set(data.subarray(-12), data.length - 12);
      if (Buffer.from(meaningful).equals(Buffer.from(data)) && opts().hasTail) {
        writeDirBlockChecksum(seed, copy);
        expect(Buffer.from(copy).equals(Buffer.from(data))).toBe(true);
      }
    }
    // The unlinks made at least one block start with an unused record.
    expect(unused).toBeGreaterThan(0);
  });

  it('the image is consistent (the oracle images are sane)', async () => {
    await expectFsckClean(image);
  });

  it('corrupt entries give EFSCORRUPTED naming the block and offset; random damage never crashes', async () => {
    const [, second] = await dirBlocks();
    const block = second.data;
    const records = parseDirRecords(block, { ino: 11 }, opts());
    const live = records.find((r) => r.inode !== 0 && r.nameLen >= 2 && r.offset > 0)!;
    const at = live.offset;
    const dv = (b: Uint8Array): DataView => new DataView(b.buffer, b.byteOffset, b.byteLength);
    const mutations: Array<[string, (b: Uint8Array) => void, RegExp]> = [
      ['rec_len % 4', (b) => dv(b).setUint16(at + 4, live.recLen + 2, true), /multiple of 4/],
      ['rec_len < 12', (b) => dv(b).setUint16(at + 4, 8, true), /smaller than the minimum/],
      ['rec_len past end', (b) => dv(b).setUint16(at + 4, block.length - at + 4, true), /runs past the end/],
      ['name_len > rec_len', (b) => { b[at + 6] = Math.min(255, live.recLen); dv(b).setUint16(at + 4, dirEntrySize(live.nameLen), true); }, /too small for name_len|too small|past/],
      ['live name_len 0', (b) => { b[at + 6] = 0; }, /name_len 0/],
      ['slash in name', (b) => { b[at + 9] = 0x2f; }, /'\/'/],
      ['NUL in name', (b) => { b[at + 8] = 0; }, /NUL/],
      ['gap under 12 bytes', (b) => dv(b).setUint16(at + 4, live.recLen - 4 >= dirEntrySize(live.nameLen) ? live.recLen - 4 : live.recLen + 4, true), /too few|past the end|rec_len/],
      ['inode beyond count', (b) => dv(b).setUint32(at, sb.inodesCount + 1, true), /beyond the inode count/],
    ];
    for (const [what, mutate, msg] of mutations) {
      const b = block.slice();
      mutate(b);
      let err: unknown;
      try {
        parseDirBlock(b, { ino: 11, lblk: 1, blockNr: second.pblk }, opts());
      } catch (e) {
        err = e;
      }
      expect(isCorruption(err), what).toBe(true);
      expect(String(err), what).toMatch(msg);
      expect(String(err), what).toMatch(new RegExp(`directory block ${second.pblk}: inode 11 logical block 1, entry at offset \\d+`));
    }
    const rng = new Rng(99);
    for (let i = 0; i < 3000; i++) {
      const b = block.slice();
      for (let k = 0; k < 3; k++) b[rng.int(0, b.length - 1)] ^= 1 << rng.int(0, 7);
      try {
        parseDirRecords(b, { ino: 11 }, opts());
      } catch (e) {
        expect(isCorruption(e)).toBe(true);
      }
    }
  });
});

describe('rec_len encoding for blocks of 64 KiB and more', () => {
  it('follows ext4_rec_len_from_disk / to_disk', () => {
    expect(recLenFromDisk(4096, 4096)).toBe(4096);
    expect(recLenFromDisk(0xffff, 65536)).toBe(65536);
    expect(recLenFromDisk(0, 65536)).toBe(65536);
    expect(recLenToDisk(65536, 65536)).toBe(0xffff);
    expect(recLenToDisk(65532, 65536)).toBe(65532);
    // 256 KiB blocks fold bits 16-17 into the low two bits.
    expect(recLenToDisk(65536, 1 << 18)).toBe(1);
    expect(recLenFromDisk(1, 1 << 18)).toBe(65536);
    expect(recLenToDisk(3 * 65536 + 12, 1 << 18)).toBe(12 | 3);
    expect(recLenFromDisk(12 | 3, 1 << 18)).toBe(3 * 65536 + 12);
    expect(recLenToDisk(1 << 18, 1 << 18)).toBe(0);
  });

  it('an empty 64 KiB block made by debugfs expand_dir decodes to one 65536-byte record and re-encodes exactly', async () => {
    const image = join(tmp.fresh('64k'), 'img');
    await mkfs(image, { args: ['-b', '65536', '-O', '^metadata_csum'], size: '64M' });
    await debugfs(image, 'mkdir /e', true);
    await debugfs(image, 'expand_dir /e', true);
    const blocks = (await dataBlocks(image, '/e')).map((b) => b.pblk);
    expect(blocks.length).toBe(2);
    const data = await readBlock(image, blocks[1], 65536);
    const records = parseDirRecords(data, { ino: 12, lblk: 1 }, { hasFileType: true, hasTail: false });
    expect(records).toHaveLength(1);
    expect(records[0]).toMatchObject({ inode: 0, recLen: 65536, offset: 0 });
    const copy = new Uint8Array(65536);
    encodeDirEntry(records[0], copy, 0);
    expect(Buffer.from(copy.subarray(0, 8)).equals(Buffer.from(data.subarray(0, 8)))).toBe(true);
    // And the first block: "." and ".." covering the rest, as debugfs lists them.
    const first = await readBlock(image, blocks[0], 65536);
    const live = parseDirBlock(first, { ino: 12, lblk: 0 }, { hasFileType: true, hasTail: false });
    const ls = parseLs(await debugfs(image, 'ls /e'));
    expect(live.map((e) => ({ inode: e.inode, recLen: e.recLen, name: asLatin1(e.name) }))).toEqual(ls.slice(0, 2));
    // debugfs prints the second block's record with its raw on-disk rec_len.
    expect(ls[2]).toEqual({ inode: 0, recLen: 0xffff, name: '' });
    expect(Buffer.from(data).readUInt16LE(4)).toBe(0xffff);
  });
});

describe('dirent tail', () => {
  it('writeDirTail lays out the 12-byte fake entry the kernel looks for', () => {
    const b = new Uint8Array(1024);
    writeDirTail(b, 0x12345678);
    expect([...b.subarray(1012)]).toEqual([0, 0, 0, 0, 12, 0, 0, EXT4_FT_DIR_CSUM, 0x78, 0x56, 0x34, 0x12]);
    expect(hasDirTail(b)).toBe(true);
  });
});

describe('inline directories', () => {
  let dir = '';
  let image = '';
  let sb: RawSuper;
  let kernel = false;
  beforeAll(async () => {
    dir = tmp.fresh('inline');
    const root = join(dir, 'root');
    await mkdir(join(root, 'i1'), { recursive: true });
    for (const n of ['a', 'bb', 'ccc']) await writeFile(join(root, 'i1', n), '');
    image = join(dir, 'img');
    await mkfs(image, { args: ['-O', 'inline_data', '-I', '256'], size: '16M', root });
    // e2fsprogs turns a full inline directory into a block directory; the
    // kernel first grows it into the system.data xattr.
    kernel = await canLoopMount();
    if (kernel) {
      await withMountedImage(image, {}, async ({ dir: mnt }) => {
        await mkdir(join(mnt, 'k'));
        for (const n of ['alpha_0001', 'beta_00002', 'gamma_0003', 'delta_0004']) await writeFile(join(mnt, 'k', n), '');
      });
    }
    sb = await readRawSuper(image);
  });

  async function check(path: string): Promise<number> {
    const st = parseStat(await debugfs(image, `stat ${path}`));
    expect(st.flags & 0x10000000).not.toBe(0);
    const raw = await readRawInode(image, st.ino, sb);
    const xattrs = parseInodeXattrs(raw, 128 + st.extraIsize!, sb.inodeSize, st.ino);
    const sysData = findSystemData(xattrs);
    expect(sysData).toBeDefined();
    const { parent, entries } = parseInlineDir(iblockOf(raw), sysData!.value, st.ino, true);
    const ls = parseLs(await debugfs(image, `ls ${path}`));
    // debugfs shows a made-up "." and ".." first.
    expect(ls[0].name).toBe('.');
    expect(ls[1]).toMatchObject({ name: '..', inode: parent });
    expect(entries.map((e) => ({ inode: e.inode, recLen: e.recLen, name: asLatin1(e.name) }))).toEqual(ls.slice(2));
    expect(st.size).toBe(EXT4_MIN_INLINE_DATA_SIZE + sysData!.valueSize);
    return sysData!.valueSize;
  }

  it('a directory held in i_block (e2fsprogs) parses to what debugfs ls shows', async () => {
    expect(await check('/i1')).toBe(0);
  });

  it('a directory spilling into system.data (kernel) parses to what debugfs ls shows', async (ctx) => {
    if (!kernel) {
      console.warn('SKIPPED (inline directory grown by the kernel): needs root and a working loop mount');
      ctx.skip();
    }
    expect(await check('/k')).toBeGreaterThan(0);
    await expectFsckClean(image);
  });

  it('bad inline entries are corruption of the inode', async () => {
    const st = parseStat(await debugfs(image, 'stat /i1'));
    const raw = await readRawInode(image, st.ino, sb);
    const ib = iblockOf(raw);
    const bad = ib.slice();
    bad[4 + 4] = 3; // rec_len 3 for the first entry
    expect(() => parseInlineDir(bad, undefined, st.ino, true)).toThrow(new RegExp(`inode ${st.ino}: directory inline i_block, entry at offset 4`));
    const noParent = ib.slice();
    noParent.fill(0, 0, 4);
    expect(() => parseInlineDir(noParent, undefined, st.ino, true)).toThrow(/parent inode 0/);
    expect(() => parseInlineDir(ib, new Uint8Array([1, 0, 0, 0, 8, 0, 0, 0]), st.ino, true)).toThrow(/inline system.data/);
  });
});
