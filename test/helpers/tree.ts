/**
 * A deterministic host directory tree, the source that test images are built
 * from. Everything is derived from `seed`: names and shapes from a small PRNG,
 * file contents from an AES-CTR keystream keyed by the seed (fast, and
 * identical on every machine). Running it twice with one seed gives trees
 * that compareTrees finds equal.
 *
 * Creation order matters: contents first, then links, special files, owners
 * (chown clears setuid bits), modes, xattrs (an ACL rewrites the mode), and
 * times last of all in one batch, because every earlier step moves a
 * directory's mtime.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { mknodBatch, setTimesNs, setXattrs, type HostOpError, type MknodEntry, type TimesEntry, type XattrEntry } from '../../src/host/host-ops.js';
import { ACL_UNDEFINED_ID as ACL_UNDEF, aclXattrValue as aclValue } from './host-xattr.js';
import { Rng, keystream } from './prng.js';

export type TreeScale = 'full' | 'small';

export interface TreeOptions {
  seed: number;
  scale?: TreeScale;
  /**
   * Block size of the images the tree is meant for. mke2fs refuses a symlink
   * target as long as a block, and an xattr that does not fit one block, so
   * slow symlinks and the big xattr value are sized to fit. Default 4096.
   */
  blockSize?: number;
}

export interface EntryTimes { atimeNs: bigint; mtimeNs: bigint }

/** What generateTree made. Paths are relative to `root`, '/'-separated. */
export interface TreeManifest {
  root: string;
  seed: number;
  scale: TreeScale;
  blockSize: number;
  /** Root-only items (devices, foreign owners, trusted.* and security.* xattrs, mode 0000) exist only when true. */
  asRoot: boolean;
  counts: {
    /** Every entry below the root (each hard-link name counts). */
    entries: number;
    dirs: number; files: number; symlinks: number;
    fifos: number; charDevices: number; blockDevices: number; sockets: number;
    /** Extra names created with link(). */
    hardLinks: number;
    xattrs: number;
    /** Bytes of file data written (holes excluded, hard links once). */
    dataBytes: number;
    maxDepth: number;
  };
  /**
   * The directory with many entries: 5,000 in 'full', 40 in 'small'. mke2fs
   * -d leaves it linear; buildImage indexes it (e2fsck -D) unless told not to.
   */
  htreeDir: string;
  htreeEntries: number;
  /** 5 GiB sparse file with data at the start, middle and end ('full' only). */
  sparseFile: string | null;
  /** Data, a 1 MiB hole, data. */
  holeFile: string;
  /** Many separate data chunks between holes, so mkfs gives it more than 4 extents. */
  manyExtentsFile: string;
  /**
   * Files with data followed by a hole up to their size. mke2fs 1.47.0 -d on
   * an inline_data image cuts such a file short to the end of its last data
   * block (see ImageKind.mkfsLosesTrailingHoles).
   */
  trailingHoleFiles: string[];
  bigFiles: string[];
  mediumFiles: string[];
  /** 1-60 bytes: stored inline on inline_data images. */
  smallFiles: string[];
  emptyFiles: string[];
  fastSymlinks: string[];
  slowSymlinks: string[];
  danglingSymlinks: string[];
  hardLinkGroups: string[][];
  fifos: string[]; charDevices: string[]; blockDevices: string[]; sockets: string[];
  longNames: string[];
  utf8Names: string[];
  oddModes: Array<{ path: string; mode: number }>;
  owners: Array<{ path: string; uid: number; gid: number }>;
  bigXattr: { path: string; name: string; size: number };
  manyXattrs: { path: string; count: number };
  aclPaths: string[];
  /** Entries whose atime or mtime is before 1970. */
  pre1970: string[];
  /** Entries whose atime or mtime does not fit a signed 32-bit second count (after 2038-01-19). */
  post2038: string[];
  /** The times every entry was given (every name of a hard-linked inode appears). */
  times: Map<string, EntryTimes>;
}

const S_IFIFO = 0o010000, S_IFCHR = 0o020000, S_IFBLK = 0o060000, S_IFSOCK = 0o140000;

const NAME_CHARS = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.,+=@ ';
const UTF8_BITS = ['é', 'ü', 'ß', 'Ω', 'я', '日本', 'ファイル', '😀', '中文', 'ñ'];

/** Linux's makedev encoding (glibc `gnu_dev_makedev`). */
export function makedev(major: number, minor: number): number {
  return (minor & 0xff) + ((major & 0xfff) << 8) + (minor & ~0xff) * 4096 + (major & ~0xfff) * 2 ** 32;
}

const S = 1_000_000_000n;
const INT32_MAX = 2n ** 31n - 1n;

class Builder {
  readonly rng: Rng;
  private serial = 0;
  readonly m: TreeManifest;
  readonly mknods: MknodEntry[] = [];
  readonly xattrs: XattrEntry[] = [];
  readonly chowns: Array<{ rel: string; uid: number; gid: number }> = [];
  readonly chmods: Array<{ rel: string; mode: number }> = [];
  /** Relative paths whose times are set; the first name of each inode only. */
  readonly timed: string[] = [];

  constructor(readonly root: string, seed: number, scale: TreeScale, blockSize: number, asRoot: boolean) {
    this.rng = new Rng(seed);
    this.m = {
      root, seed, scale, blockSize, asRoot,
      counts: { entries: 0, dirs: 0, files: 0, symlinks: 0, fifos: 0, charDevices: 0, blockDevices: 0, sockets: 0, hardLinks: 0, xattrs: 0, dataBytes: 0, maxDepth: 0 },
      htreeDir: 'htree', htreeEntries: 0, sparseFile: null, holeFile: '', manyExtentsFile: '', trailingHoleFiles: [],
      bigFiles: [], mediumFiles: [], smallFiles: [], emptyFiles: [], fastSymlinks: [], slowSymlinks: [], danglingSymlinks: [],
      hardLinkGroups: [], fifos: [], charDevices: [], blockDevices: [], sockets: [], longNames: [], utf8Names: [],
      oddModes: [], owners: [], bigXattr: { path: '', name: '', size: 0 }, manyXattrs: { path: '', count: 0 }, aclPaths: [],
      pre1970: [], post2038: [], times: new Map(),
    };
  }

  abs(rel: string): string { return path.join(this.root, rel); }

  private entry(rel: string): void {
    this.m.counts.entries++;
    this.m.counts.maxDepth = Math.max(this.m.counts.maxDepth, rel.split('/').length);
    if (/[^\x20-\x7e]/.test(rel.split('/').pop()!)) this.m.utf8Names.push(rel);
    if (Buffer.byteLength(rel.split('/').pop()!) >= 250) this.m.longNames.push(rel);
    this.timed.push(rel);
  }

  /** Deterministic random bytes for file number `serial`. */
  data(size: number): Buffer {
    return keystream(`ext4kit-tree/${this.m.seed}`, size, ++this.serial);
  }

  dir(rel: string): string {
    fs.mkdirSync(this.abs(rel));
    this.m.counts.dirs++;
    this.entry(rel);
    return rel;
  }

  file(rel: string, size: number): string {
    fs.writeFileSync(this.abs(rel), size === 0 ? Buffer.alloc(0) : this.data(size));
    this.m.counts.files++;
    this.m.counts.dataBytes += size;
    this.entry(rel);
    if (size === 0) this.m.emptyFiles.push(rel);
    else if (size <= 60) this.m.smallFiles.push(rel);
    else if (size < 1 << 20) this.m.mediumFiles.push(rel);
    else this.m.bigFiles.push(rel);
    return rel;
  }

  /** A file of `size` bytes holding data only in the given [offset, length) chunks; the rest are holes. */
  sparse(rel: string, size: number, chunks: Array<[number, number]>): string {
    const fd = fs.openSync(this.abs(rel), 'w');
    try {
      for (const [off, len] of chunks) {
        fs.writeSync(fd, this.data(len), 0, len, off);
        this.m.counts.dataBytes += len;
      }
      fs.ftruncateSync(fd, size);
    } finally {
      fs.closeSync(fd);
    }
    this.m.counts.files++;
    this.entry(rel);
    return rel;
  }

  symlink(rel: string, target: string, dangling = false): string {
    fs.symlinkSync(target, this.abs(rel));
    this.m.counts.symlinks++;
    this.entry(rel);
    (Buffer.byteLength(target) < 60 ? this.m.fastSymlinks : this.m.slowSymlinks).push(rel);
    if (dangling) this.m.danglingSymlinks.push(rel);
    return rel;
  }

  /** Extra names for the inode at `rel`; made after the special files exist, and not timed again. */
  link(rel: string, names: string[]): void {
    this.m.counts.entries += names.length;
    this.m.counts.hardLinks += names.length;
    this.m.hardLinkGroups.push([rel, ...names]);
  }

  special(rel: string, type: 'fifo' | 'chr' | 'blk' | 'sock', perm: number, rdev = 0): string {
    const bits = { fifo: S_IFIFO, chr: S_IFCHR, blk: S_IFBLK, sock: S_IFSOCK }[type];
    this.mknods.push({ path: this.abs(rel), mode: bits | perm, rdev });
    const key = ({ fifo: 'fifos', chr: 'charDevices', blk: 'blockDevices', sock: 'sockets' } as const)[type];
    this.m[key].push(rel);
    this.m.counts[key]++;
    this.entry(rel);
    return rel;
  }

  xattr(rel: string, name: string, value: Buffer): void {
    this.xattrs.push({ path: this.abs(rel), name, value });
    this.m.counts.xattrs++;
  }

  /** A random name of `len` bytes or so, unique through `tag`. */
  name(tag: string | number, len: number): string {
    let s = '';
    while (Buffer.byteLength(s) < len) s += this.rng.chance(0.06) ? this.rng.pick(UTF8_BITS) : NAME_CHARS[this.rng.int(0, NAME_CHARS.length - 1)];
    s = `${tag}-${s}`;
    while (Buffer.byteLength(s) > Math.max(len, 8)) s = [...s].slice(0, -1).join('');
    return s.replace(/^[ .]+|[ ]+$/g, 'x');
  }

  randomTimes(): EntryTimes {
    const r = this.rng;
    const mtimeNs = r.bigint(1_000_000_000n * S, 2_000_000_000n * S);
    const atimeNs = r.chance(0.7) ? mtimeNs + r.bigint(0n, 86_400n * 365n * S) : r.bigint(1_000_000_000n * S, 2_000_000_000n * S);
    // Some whole seconds too: a reader that garbles nanoseconds must not pass only by chance.
    return r.chance(0.1) ? { atimeNs: atimeNs - (atimeNs % S), mtimeNs: mtimeNs - (mtimeNs % S) } : { atimeNs, mtimeNs };
  }
}

function throwIfErrors(what: string, errors: HostOpError[]): void {
  if (errors.length > 0) throw new Error(`generateTree: ${what} failed for ${errors.length} entries, first: ${String(errors[0].path)}: ${errors[0].code} ${errors[0].message}`);
}

/**
 * Creates the tree under `root` (which must not exist or be empty) and
 * returns what it made. 'full' has a 5,000-entry directory, a 5 GiB sparse
 * file and several thousand entries; 'small' has ~200 entries of the same
 * kinds, for quick tests.
 */
export async function generateTree(root: string, opts: TreeOptions): Promise<TreeManifest> {
  const scale = opts.scale ?? 'full';
  const blockSize = opts.blockSize ?? 4096;
  const full = scale === 'full';
  const asRoot = process.getuid?.() === 0;
  fs.mkdirSync(root, { recursive: true });
  if (fs.readdirSync(root).length > 0) throw new Error(`generateTree: ${root} is not empty`);
  const b = new Builder(root, opts.seed, scale, blockSize, asRoot);
  const r = b.rng;
  const m = b.m;

  // The big directory: mkfs turns 5,000 entries into an htree; names of every length up to 255 bytes.
  b.dir('htree');
  const htreeCount = full ? 5000 : 40;
  for (let i = 0; i < htreeCount; i++) {
    const len = r.chance(0.05) ? r.int(100, 255) : r.int(1, 40);
    const rel = `htree/${b.name(i, len)}`;
    if (i % 97 === 5) b.dir(rel);
    else if (i % 53 === 7) b.symlink(rel, `target-${i}`, true);
    else b.file(rel, r.chance(0.7) ? 0 : r.int(1, 60));
  }
  m.htreeEntries = htreeCount;

  // A random nested tree, up to depth 8 (the root's children are depth 1).
  b.dir('tree');
  const dirs: Array<{ rel: string; depth: number }> = [{ rel: 'tree', depth: 1 }];
  const treeItems = full ? 2000 : 70;
  const mediumMax = full ? 200 << 10 : 24 << 10;
  for (let i = 0; i < treeItems; i++) {
    const parent = r.pick(dirs.filter((d) => d.depth < 8));
    const rel = `${parent.rel}/${b.name(i, r.int(1, 24))}`;
    const k = r.int(0, 99);
    if (k < 18) dirs.push({ rel: b.dir(rel), depth: parent.depth + 1 });
    else if (k < 40) b.file(rel, 0);
    else if (k < 75) b.file(rel, r.int(1, 60));
    else if (k < 90) b.file(rel, r.chance(0.5) ? r.int(61, mediumMax) : Math.round(Math.exp(r.int(0, 1000) / 1000 * Math.log(mediumMax / 61))) * 61);
    else if (k < 95) b.symlink(rel, r.chance(0.5) ? b.name('t', r.int(1, 59)) : b.name('slow', r.int(60, Math.min(300, blockSize - 1))), true);
    else b.symlink(rel, '../'.repeat(parent.depth - 1) || '.');
  }
  // A chain that reaches depth 8 for sure.
  let deep = b.dir('deep');
  for (let d = 2; d <= 8; d++) deep = b.dir(`${deep}/level${d}`);
  b.file(`${deep}/bottom`, 17);

  // Sizes around the block-map and block boundaries of 1 KiB and 4 KiB blocks.
  b.dir('sizes');
  const sizes = [1, 59, 60, 61, 1023, 1024, 1025, 4095, 4096, 4097, 12 * 1024, 12 * 1024 + 1, 12 * 4096, 12 * 4096 + 1, (12 + 256) * 1024 + 1];
  if (full) sizes.push((12 + 1024) * 4096 + 1);
  for (const s of sizes) b.file(`sizes/size-${s}`, s);
  // Into the triple-indirect range of a 1 KiB block map, sparsely: data just before and after each boundary.
  const ind1 = (12 + 256) * 1024, ind2 = ind1 + 256 * 256 * 1024;
  b.sparse(`sizes/size-${ind2 + 5}`, ind2 + 5, [[0, 4096], [ind1 - 100, 200], [ind2 - 100, 105]]);

  b.dir('big');
  const bigCount = full ? 3 : 1;
  for (let i = 0; i < bigCount; i++) b.file(`big/big-${i}`, full ? r.int(1 << 20, 5 << 20) : (1 << 20) + r.int(1, 4096));

  b.dir('sparse');
  const MiB = 1 << 20;
  if (full) {
    const size = 5 * 1024 * MiB;
    m.sparseFile = b.sparse('sparse/huge-5g', size, [[0, 256 << 10], [size / 2 + 12345, 100 << 10], [size - (64 << 10) - 7, (64 << 10) + 7]]);
  }
  m.holeFile = b.sparse('sparse/hole-middle', 2 * (96 << 10) + MiB, [[0, 96 << 10], [(96 << 10) + MiB, 96 << 10]]);
  const stride = 64 << 10;
  // Ends with data: see trailingHoleFiles.
  m.manyExtentsFile = b.sparse('sparse/many-extents', 15 * stride + 8192, Array.from({ length: 16 }, (_x, i): [number, number] => [i * stride + (i % 2) * 4096, 4096]));
  m.trailingHoleFiles.push(b.sparse('sparse/trailing-hole', 3 * MiB, [[0, 5000]]));
  // Small: Linux reads an all-hole file that mke2fs made inline (inline_data images) at only a few MB/s.
  b.sparse('sparse/all-hole', MiB + 3, []);

  b.dir('links');
  const maxTarget = Math.min(4000, blockSize - 1);
  for (const len of [1, 30, 59, 60, 61, 200, 1000, maxTarget]) {
    if (len <= maxTarget) b.symlink(`links/len-${len}`, 'x'.repeat(len), true);
  }
  b.symlink('links/to-file', '../sizes/size-1');
  b.symlink('links/to-dir', '../tree');
  b.symlink('links/absolute', '/etc/hostname');
  b.symlink('links/dotdot', '..');
  b.symlink('links/utf8-target', 'ファイル/é ü', true);
  b.symlink('links/slow-utf8', 'ディレクトリ/'.repeat(Math.floor(Math.min(400, maxTarget) / 19)), true);

  // Hard links: groups of 2-4 names, some across directories, some of unusual inodes.
  b.dir('hardlinks');
  b.dir('hardlinks/other');
  const groups = full ? 12 : 4;
  for (let g = 0; g < groups; g++) {
    const first = b.file(`hardlinks/g${g}-a`, g % 3 === 0 ? 0 : r.int(1, 100_000));
    const names = [`hardlinks/g${g}-b`];
    if (g % 2 === 1) names.push(`hardlinks/other/g${g}-c`);
    if (g % 4 === 3) names.push(`${r.pick(dirs).rel}/hl-g${g}-d`);
    b.link(first, names);
  }
  // No hard-linked symlink: mke2fs -d (1.47.0) copies each name of one as a separate symlink.
  b.link(b.special('hardlinks/fifo', 'fifo', 0o644), ['hardlinks/other/fifo-link']);

  // Modes: the setuid, setgid and sticky bits, and permissions nobody (but root) can use.
  b.dir('modes');
  const fileModes = asRoot ? [0o000, 0o777, 0o4755, 0o2755, 0o6755, 0o1755, 0o7777, 0o400, 0o640] : [0o777, 0o4755, 0o2755, 0o6755, 0o1755, 0o7777, 0o400, 0o640];
  for (const mode of fileModes) b.chmods.push({ rel: b.file(`modes/file-${mode.toString(8)}`, 3), mode });
  const dirModes = asRoot ? [0o700, 0o1777, 0o2775, 0o3777, 0o555, 0o000] : [0o700, 0o1777, 0o2775, 0o3777, 0o755];
  for (const mode of dirModes) {
    const d = b.dir(`modes/dir-${mode.toString(8)}`);
    b.file(`${d}/inside`, 5);
    b.chmods.push({ rel: d, mode });
  }
  m.oddModes = b.chmods.map(({ rel, mode }) => ({ path: rel, mode }));

  if (asRoot) {
    b.dir('owners');
    const ids: Array<[number, number]> = [[0, 0], [1000, 1000], [65534, 65534], [100000, 100000], [1000, 100000], [3_000_000_000, 65535], [65536, 4_294_967_294]];
    for (const [uid, gid] of ids) {
      b.chowns.push({ rel: b.file(`owners/f-${uid}-${gid}`, 4), uid, gid });
      b.chowns.push({ rel: b.dir(`owners/d-${uid}-${gid}`), uid, gid });
    }
    b.chowns.push({ rel: b.symlink('owners/link-100000', 'f-100000-100000'), uid: 100000, gid: 1000 });
    // chown clears setuid; the chmod afterwards puts it back.
    b.chowns.push({ rel: 'modes/file-6755', uid: 100000, gid: 100000 });
    m.owners = b.chowns.map(({ rel, uid, gid }) => ({ path: rel, uid, gid }));
  }

  b.dir('special');
  b.special('special/fifo', 'fifo', 0o644);
  b.special('special/fifo-private', 'fifo', 0o600);
  b.special('special/socket', 'sock', 0o755);
  if (asRoot) {
    b.special('special/null-like', 'chr', 0o666, makedev(1, 3));
    b.special('special/chr-big', 'chr', 0o600, makedev(300, 70000));
    b.special('special/chr-max', 'chr', 0o620, makedev(4095, 0xfffff));
    b.special('special/blk', 'blk', 0o660, makedev(8, 1));
    b.special('special/blk-big', 'blk', 0o640, makedev(259, 70000));
  }

  b.dir('names');
  for (const n of ['with space', ' leading space', 'trailing space ', 'café', '日本語のファイル', '😀 emoji', 'Ωμέγα', "quote's", 'double"quote', 'dollar$sign', 'back\\slash', 'star*', '-dash', '...', '.hidden', 'a=b', 'percent%20', 'a', 'UPPER', 'upper']) {
    b.file(`names/${n}`, r.int(0, 40));
  }
  b.file(`names/${'n'.repeat(255)}`, 9);
  b.file(`names/${'n'.repeat(254)}`, 8);
  b.file(`names/${'あ'.repeat(85)}`, 7);
  b.file(`names/${'é'.repeat(127)}x`, 6);
  const longDir = b.dir(`names/${'d'.repeat(255)}`);
  b.file(`${longDir}/${'f'.repeat(255)}`, 5);
  b.dir('names/ディレクトリ with space');
  b.file('names/ディレクトリ with space/ファイル', 12);

  b.dir('xattrs');
  b.xattr(b.file('xattrs/small', 10), 'user.comment', Buffer.from('hello'));
  b.xattr('xattrs/small', 'user.empty', Buffer.alloc(0));
  b.xattr('xattrs/small', 'user.binary', Buffer.from([0, 1, 2, 255, 254, 0]));
  b.xattr('xattrs/small', `user.${'long-name-'.repeat(20)}`, Buffer.from('v'));
  const bigSize = Math.min(3000, blockSize - 300);
  m.bigXattr = { path: b.file('xattrs/big-value', 100), name: 'user.big', size: bigSize };
  b.xattr(m.bigXattr.path, 'user.big', b.data(bigSize));
  const manyCount = 24;
  m.manyXattrs = { path: b.file('xattrs/many', 0), count: manyCount };
  for (let i = 0; i < manyCount; i++) b.xattr('xattrs/many', `user.attr-${String(i).padStart(2, '0')}`, Buffer.from(`value ${i}`));
  b.xattr(b.dir('xattrs/dir'), 'user.on-dir', Buffer.from('d'));
  b.xattr(b.file('xattrs/dir/inline-and-xattr', 40), 'user.x', Buffer.from('both inline data and an xattr'));
  b.xattr('hardlinks/g1-a', 'user.shared', Buffer.from('one inode, many names'));
  const acl = b.file('xattrs/acl-file', 20);
  b.xattr(acl, 'system.posix_acl_access', aclValue([[1, 6, ACL_UNDEF], [2, 4, 1000], [4, 4, ACL_UNDEF], [0x10, 4, ACL_UNDEF], [0x20, 0, ACL_UNDEF]]));
  const aclDir = b.dir('xattrs/acl-dir');
  b.xattr(aclDir, 'system.posix_acl_default', aclValue([[1, 7, ACL_UNDEF], [4, 5, ACL_UNDEF], [8, 5, 1000], [0x10, 5, ACL_UNDEF], [0x20, 5, ACL_UNDEF]]));
  m.aclPaths = [acl, aclDir];
  if (asRoot) {
    b.xattr(b.file('xattrs/root-only', 3), 'trusted.t', Buffer.from('trusted value'));
    b.xattr('xattrs/root-only', 'security.ext4kit', Buffer.from('security value'));
    b.xattr('xattrs/root-only', 'user.u', Buffer.from('user value'));
    b.xattr(b.symlink('xattrs/link', 'root-only'), 'trusted.on-link', Buffer.from('L'));
    b.xattr('special/fifo', 'trusted.on-fifo', Buffer.from('F'));
    b.xattr('xattrs/dir', 'security.on-dir', Buffer.from('S'));
  }

  // Times at the edges: the epoch, one ns either side, and both ends of 32-bit seconds and of ext4's range.
  b.dir('times');
  const special: Array<[string, bigint, bigint]> = [
    ['epoch', 0n, 0n], ['minus-1ns', -1n, -1n], ['plus-1ns', 1n, 1n],
    ['pre-1970', -1_234_567_890_123_456_789n / 1000n, -99_999_999_995n],
    // Linux drops the nanoseconds of a time in the very first second of ext4's range (-2^31 s), so none here.
    ['int32-min', -(2n ** 31n) * S, -(2n ** 31n - 1n) * S + 999_999_999n],
    ['int32-max', INT32_MAX * S + 999_999_999n, INT32_MAX * S],
    ['first-post-2038', (INT32_MAX + 1n) * S, (INT32_MAX + 1n) * S + 1n],
    ['year-2100', 4_102_444_800n * S + 123_456_789n, 4_102_444_800n * S + 987_654_321n],
    ['year-2400', 13_569_465_600n * S + 1n, 13_569_465_600n * S + 999_999_999n],
  ];
  const fixed = new Map<string, EntryTimes>();
  for (const [n, atimeNs, mtimeNs] of special) fixed.set(b.file(`times/${n}`, 2), { atimeNs, mtimeNs });
  fixed.set(b.dir('times/dir-pre-1970'), { atimeNs: -86_400n * S + 5n, mtimeNs: -86_400n * 365n * S + 123n });
  fixed.set(b.dir('times/dir-2100'), { atimeNs: 4_102_444_800n * S, mtimeNs: 4_102_444_800n * S + 7n });
  fixed.set(b.symlink('times/link-pre-1970', '../sizes/size-1'), { atimeNs: -5n * S - 1n, mtimeNs: -5n * S - 2n });
  fixed.set(b.symlink('times/link-2100', '../sizes/size-1'), { atimeNs: 4_102_444_800n * S + 3n, mtimeNs: 4_102_444_800n * S + 4n });

  // Apply, in the order that keeps each step from undoing an earlier one.
  throwIfErrors('mknod', await mknodBatch(b.mknods));
  for (const [first, ...names] of m.hardLinkGroups) {
    for (const n of names) fs.linkSync(b.abs(first), b.abs(n));
  }
  for (const { rel, uid, gid } of b.chowns) fs.lchownSync(b.abs(rel), uid, gid);
  for (const { rel, mode } of b.chmods) fs.chmodSync(b.abs(rel), mode);
  throwIfErrors('setxattr', await setXattrs(b.xattrs));

  const timesEntries: TimesEntry[] = [];
  const groupOf = new Map<string, string[]>();
  for (const g of m.hardLinkGroups) groupOf.set(g[0], g);
  for (const rel of b.timed) {
    const t = fixed.get(rel) ?? b.randomTimes();
    timesEntries.push({ path: b.abs(rel), ...t });
    for (const name of groupOf.get(rel) ?? [rel]) {
      m.times.set(name, t);
      if (t.atimeNs < 0n || t.mtimeNs < 0n) m.pre1970.push(name);
      if (t.atimeNs >= (INT32_MAX + 1n) * S || t.mtimeNs >= (INT32_MAX + 1n) * S) m.post2038.push(name);
    }
  }
  throwIfErrors('utime', await setTimesNs(timesEntries));
  return m;
}

/**
 * Sets every entry's atime and mtime back to the manifest's values, in the
 * generated tree or in a copy of it at `root`. Anything that reads a tree
 * (mke2fs -d, cp, compareTrees listing a directory) moves atimes under
 * relatime; call this before building an image and before comparing atimes.
 */
export async function restoreTimes(m: TreeManifest, root: string = m.root, opts: { ignoreMissing?: boolean } = {}): Promise<void> {
  const entries = [...m.times].map(([rel, t]) => ({ path: path.join(root, rel), ...t }));
  const errors = await setTimesNs(entries);
  throwIfErrors('utime', opts.ignoreMissing ? errors.filter((e) => e.code !== 'ENOENT') : errors);
}

/** Every path below `root` on the host, '/'-prefixed and relative to it, each directory before its entries. */
export async function hostPathsBelow(root: string, rel = ''): Promise<string[]> {
  const out: string[] = [];
  for (const e of await fs.promises.readdir(path.join(root, rel), { withFileTypes: true })) {
    const r = `${rel}/${e.name}`;
    out.push(r);
    if (e.isDirectory()) out.push(...(await hostPathsBelow(root, r)));
  }
  return out;
}
