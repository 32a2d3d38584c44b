/**
 * Test images made by the real tools: `mkfs.ext4 -d` (userspace, e2fsprogs)
 * and the Linux kernel through a loop mount. ext4kit must read both, and the
 * two writers lay out the same tree differently (the kernel's delayed
 * allocation, indexed directories grown entry by entry, deep extent trees).
 *
 * What each kind stores was checked against the kernel reading the image
 * (test/oracles.test.ts re-checks it): mke2fs 1.47.0 -d stores whole seconds
 * (rounded toward -infinity) and wraps seconds after 2038 to a signed 32-bit
 * number on every inode size; the kernel stores nanoseconds and years
 * 1901-2446 in 256-byte inodes, whole seconds and 1901-2038 in 128-byte ones.
 * mke2fs -d does not index directories, and does not keep hard links between
 * symlinks; on inline_data images it also turns a file that is all hole into
 * an inline inode with a large size, which e2fsck and the kernel accept.
 *
 * The format codec tests use the same kinds, and three more (meta_bg,
 * bigalloc, revision 0), as small empty images (`useImages`).
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { setTimesNs, type TimesEntry } from '../../src/host/host-ops.js';
import { fsckIndexDirs } from './fsck.js';
import { withMountedImage } from './loop.js';
import { keystream } from './prng.js';
import { TOOL_ENV, runChecked } from './run.js';
import { useTmpDir, type TmpDir } from './tmp.js';

export type ImageKindName =
  | 'default' | 'csum_seed_orphan_file' | 'inline_data' | 'no64bit' | 'gdt_csum'
  | 'ext2' | 'ext3' | 'bs1024' | 'bs2048' | 'inode128'
  | 'meta_bg' | 'bigalloc' | 'rev0';

/**
 * A kind of image: how mkfs.ext4 makes it, and what images of it built by
 * `buildImage` (at least 1 GiB, so mke2fs's "default" profile) store. For
 * the e2e kinds oracles.test re-checks those facts; the three format-only
 * kinds state what dumpe2fs reports for them at 1 GiB.
 */
export interface ImageKind {
  name: ImageKindName;
  /** Arguments to mkfs.ext4 besides -q -F -d and the image. */
  mkfsArgs: string[];
  /** Read end to end (E2E_IMAGE_KINDS); otherwise only the format codec tests make it. */
  e2e: boolean;
  /**
   * Size of the empty image the format tests make of this kind. Below 512
   * MiB mke2fs uses its "small" profile (1 KiB blocks unless -b says
   * otherwise): those images are meant to differ from the e2e ones.
   */
  formatSize: string;
  /** Arguments the format tests add to mkfsArgs (a label whose decoding they check). */
  formatArgs: string[];
  /** Time precision of images built by mke2fs -d. */
  timePrecision: 'ns' | 's';
  /** mke2fs -d wraps seconds after 2038 to signed 32 bits (compare with `wrapTimes32`). */
  wrapTimes32: boolean;
  /** Time precision of what the kernel writes into this kind. */
  kernelTimePrecision: 'ns' | 's';
  /** The kernel can store times after 2038 (256-byte inodes). */
  kernelTimesAfter2038: boolean;
  /** Small files and directories are stored inside the inode. */
  inline: boolean;
  blockSize: 1024 | 2048 | 4096;
  inodeSize: 128 | 256;
  journal: boolean;
  /** Files are mapped by extent trees (else by ext2/ext3 block maps). */
  extents: boolean;
  /**
   * mke2fs 1.47.0 -d cuts a file that ends in a hole short to the end of its
   * last data block (inline_data images only); TreeManifest.trailingHoleFiles
   * lists the files this hits.
   */
  mkfsLosesTrailingHoles: boolean;
  /** Features dumpe2fs must list for this kind. */
  features: string[];
  /** Features dumpe2fs must not list. */
  absentFeatures: string[];
}

const EXT4_BASE = ['has_journal', 'ext_attr', 'resize_inode', 'dir_index', 'filetype', 'extent', 'flex_bg', 'sparse_super', 'large_file', 'huge_file', 'dir_nlink', 'extra_isize'];

function kind(name: ImageKindName, mkfsArgs: string[], formatSize: string, over: Partial<ImageKind>): ImageKind {
  return {
    name, mkfsArgs, e2e: true, formatSize, formatArgs: [],
    timePrecision: 's', wrapTimes32: true, kernelTimePrecision: 'ns', kernelTimesAfter2038: true,
    inline: false, mkfsLosesTrailingHoles: false, blockSize: 4096, inodeSize: 256, journal: true, extents: true,
    features: [...EXT4_BASE, '64bit', 'metadata_csum'], absentFeatures: ['inline_data', 'metadata_csum_seed', 'orphan_file', 'uninit_bg'],
    ...over,
  };
}

/**
 * Every kind. The e2e ones are the kinds the read path must support;
 * `gdt_csum` adds uninit_bg: without it `-O ^metadata_csum` leaves the group
 * descriptors with no checksum at all (mke2fs 1.47.0 does not turn
 * uninit_bg on by itself). The format tests also cover meta_bg (several
 * meta groups), bigalloc (with 1 KiB blocks in the format tests' small
 * image, where block 0 and the superblock share a cluster), and revision 0
 * (fixed 128-byte inodes, no features).
 */
export const IMAGE_KINDS: readonly ImageKind[] = [
  kind('default', [], '600M', {}),
  kind('csum_seed_orphan_file', ['-O', 'metadata_csum_seed,orphan_file'], '64M', {
    formatArgs: ['-L', 'ext4kit-label'],
    features: [...EXT4_BASE, '64bit', 'metadata_csum', 'metadata_csum_seed', 'orphan_file'], absentFeatures: ['inline_data', 'uninit_bg'],
  }),
  kind('inline_data', ['-O', 'inline_data'], '64M', {
    inline: true, mkfsLosesTrailingHoles: true, features: [...EXT4_BASE, '64bit', 'metadata_csum', 'inline_data'], absentFeatures: ['uninit_bg'],
  }),
  kind('no64bit', ['-O', '^64bit'], '128M', { features: [...EXT4_BASE, 'metadata_csum'], absentFeatures: ['64bit', 'inline_data'] }),
  kind('gdt_csum', ['-O', '^metadata_csum,uninit_bg'], '128M', { features: [...EXT4_BASE, '64bit', 'uninit_bg'], absentFeatures: ['metadata_csum', 'inline_data'] }),
  kind('ext2', ['-t', 'ext2'], '64M', {
    journal: false, extents: false,
    features: ['ext_attr', 'resize_inode', 'dir_index', 'filetype', 'sparse_super', 'large_file'],
    absentFeatures: ['has_journal', 'extent', '64bit', 'flex_bg', 'metadata_csum', 'huge_file', 'dir_nlink', 'extra_isize'],
  }),
  kind('ext3', ['-t', 'ext3'], '64M', {
    extents: false,
    features: ['has_journal', 'ext_attr', 'resize_inode', 'dir_index', 'filetype', 'sparse_super', 'large_file'],
    absentFeatures: ['extent', '64bit', 'flex_bg', 'metadata_csum', 'huge_file'],
  }),
  kind('bs1024', ['-b', '1024'], '64M', { blockSize: 1024 }),
  kind('bs2048', ['-b', '2048'], '128M', { blockSize: 2048 }),
  kind('inode128', ['-I', '128'], '64M', { inodeSize: 128, kernelTimePrecision: 's', kernelTimesAfter2038: false }),
  kind('meta_bg', ['-b', '1024', '-O', 'meta_bg,^resize_inode'], '300M', {
    e2e: false, blockSize: 1024,
    features: [...EXT4_BASE.filter((f) => f !== 'resize_inode'), 'meta_bg', '64bit', 'metadata_csum'],
    absentFeatures: ['resize_inode', 'inline_data', 'metadata_csum_seed', 'orphan_file', 'uninit_bg'],
  }),
  kind('bigalloc', ['-O', 'bigalloc', '-C', '16384'], '128M', {
    e2e: false,
    features: [...EXT4_BASE, '64bit', 'metadata_csum', 'bigalloc'],
    absentFeatures: ['inline_data', 'metadata_csum_seed', 'orphan_file', 'uninit_bg'],
  }),
  kind('rev0', ['-r', '0', '-O', 'none'], '64M', {
    e2e: false, journal: false, extents: false, inodeSize: 128, kernelTimePrecision: 's', kernelTimesAfter2038: false,
    features: [], absentFeatures: [...EXT4_BASE, '64bit', 'metadata_csum'],
  }),
];

/** The kinds read end to end (and re-checked by oracles.test): the first ten, in that order. */
export const E2E_IMAGE_KINDS: readonly ImageKind[] = IMAGE_KINDS.filter((k) => k.e2e);

export function imageKind(name: ImageKindName): ImageKind {
  const k = IMAGE_KINDS.find((x) => x.name === name);
  if (!k) throw new Error(`unknown image kind ${name}`);
  return k;
}

// ---------------------------------------------------------------------------
// mkfs.ext4, and small images for the format tests

export interface MkfsOptions {
  /** Image size as mkfs.ext4 takes it ('64M', '65536k'); omitted, the size of the existing file. */
  size?: string;
  /** Arguments besides -q -F -d and the image, e.g. ['-O', '^64bit'] or ['-b', '1024']. */
  args?: readonly string[];
  /** A host directory to copy in with -d. */
  root?: string;
  /** Default 120 s. */
  timeoutMs?: number;
}

/** `mkfs.ext4 -q -F [args] [-d root] img [size]` (mke2fs creates the file if needed); returns `img`. */
export async function mkfs(img: string, o: MkfsOptions = {}): Promise<string> {
  const args = ['-q', '-F', ...(o.args ?? [])];
  if (o.root !== undefined) args.push('-d', o.root);
  args.push(img);
  if (o.size !== undefined) args.push(o.size);
  await runChecked('mkfs.ext4', args, { timeoutMs: o.timeoutMs, env: TOOL_ENV });
  return img;
}

/** A file to put in a tree given to `mkfs.ext4 -d`. */
export interface TreeEntry {
  /** Path relative to the tree root. */
  path: string;
  /** Regular file contents (default: empty file). */
  data?: Uint8Array | string;
  /** 'dir', 'symlink' or 'hardlink' (to `target`, relative to the tree root for hard links) or 'fifo'; regular file when absent. */
  kind?: 'dir' | 'symlink' | 'hardlink' | 'fifo';
  target?: string;
  /** Sparse regular file of this size (written as a hole plus one byte at the end). */
  sparseSize?: number;
  mode?: number;
  uid?: number;
  gid?: number;
}

/** Makes `entries` below `root` (created); returns `root`. */
export async function makeTree(root: string, entries: readonly TreeEntry[]): Promise<string> {
  await fs.promises.mkdir(root, { recursive: true });
  for (const e of entries) {
    const p = path.join(root, e.path);
    await fs.promises.mkdir(path.dirname(p), { recursive: true });
    if (e.kind === 'dir') await fs.promises.mkdir(p, { recursive: true });
    else if (e.kind === 'symlink') await runChecked('ln', ['-s', e.target ?? '', p]);
    else if (e.kind === 'hardlink') await runChecked('ln', [path.join(root, e.target ?? ''), p]);
    else if (e.kind === 'fifo') await runChecked('mkfifo', [p]);
    else if (e.sparseSize !== undefined) {
      const fh = await fs.promises.open(p, 'w');
      try {
        await fh.write(new Uint8Array([1]), 0, 1, e.sparseSize - 1);
      } finally {
        await fh.close();
      }
    } else await fs.promises.writeFile(p, e.data ?? '');
    if (e.mode !== undefined && e.kind !== 'symlink' && e.kind !== 'hardlink') await runChecked('chmod', [e.mode.toString(8), p]);
    if (e.uid !== undefined || e.gid !== undefined) {
      await runChecked('chown', ['-h', `${e.uid ?? 0}:${e.gid ?? 0}`, p]);
    }
  }
  return root;
}

export interface TestImages {
  /** The test file's temp dir, where the images go. */
  readonly tmp: TmpDir;
  /** Makes an image `name` (default: a counter) with mkfs, from `tree` when given; returns its path. */
  mkfs(opts: MkfsOptions & { tree?: readonly TreeEntry[]; name?: string }): Promise<string>;
  /** The format tests' image of a kind: `<kind>.img`, formatSize, mkfsArgs + formatArgs. */
  mkfsKind(k: ImageKind, tree?: readonly TreeEntry[]): Promise<string>;
}

/** Images in the test file's temp dir (useTmpDir: removed after the file); call at module scope. */
export function useImages(label: string): TestImages {
  const tmp = useTmpDir(label);
  let counter = 0;
  const make: TestImages['mkfs'] = async ({ tree, name, ...o }) => {
    const root = tree === undefined ? o.root : await makeTree(tmp.file(`tree-${++counter}`), tree);
    return mkfs(tmp.file(name ?? `image-${++counter}.img`), { ...o, root });
  };
  return {
    tmp,
    mkfs: make,
    mkfsKind: (k, tree) => make({ args: [...k.mkfsArgs, ...k.formatArgs], size: k.formatSize, tree, name: `${k.name}.img` }),
  };
}

const MiB = 1 << 20;

/**
 * A size that holds `srcDir` with room to spare, and at least 1 GiB: below
 * 512 MiB mke2fs switches to its "small" profile (1 KiB blocks, more inodes),
 * which would make `default` no longer the default. Listing a directory moves
 * its atime (relatime), so the directories' times are put back afterwards:
 * sizing must not change what mke2fs then copies.
 */
export async function defaultImageSize(srcDir: string): Promise<number> {
  let used = 0;
  let count = 0;
  const dirTimes: TimesEntry[] = [];
  const walk = (d: string, st: fs.BigIntStats): void => {
    dirTimes.push({ path: d, atimeNs: st.atimeNs, mtimeNs: st.mtimeNs });
    for (const name of fs.readdirSync(d)) {
      const p = path.join(d, name);
      const cst = fs.lstatSync(p, { bigint: true });
      used += Number(cst.blocks) * 512;
      count++;
      if (cst.isDirectory()) walk(p, cst);
    }
  };
  walk(srcDir, fs.lstatSync(srcDir, { bigint: true }));
  const errors = await setTimesNs(dirTimes);
  if (errors.length > 0) throw new Error(`defaultImageSize: could not restore times of ${String(errors[0].path)}: ${errors[0].message}`);
  const want = 2 * used + count * 4096 + 256 * MiB;
  return Math.max(1024 * MiB, Math.ceil(want / MiB) * MiB);
}

export interface BuiltImage {
  path: string;
  kind: ImageKind;
  sizeBytes: number;
}

/** A file of `sizeBytes` that is all hole (parent directories created). */
export function createSparse(imgPath: string, sizeBytes: number): void {
  fs.mkdirSync(path.dirname(imgPath), { recursive: true });
  const fd = fs.openSync(imgPath, 'w');
  try {
    fs.ftruncateSync(fd, sizeBytes);
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * `disk`: a sparse file of `diskBytes` with `img` copied in at 1 MiB, like a
 * partition in a disk image (dd keeps the holes).
 */
export async function embedInDisk(img: string, disk: string, diskBytes: number): Promise<void> {
  createSparse(disk, diskBytes);
  await runChecked('dd', [`if=${img}`, `of=${disk}`, 'bs=1M', 'seek=1', 'conv=notrunc,sparse', 'status=none']);
}

const kindOf = (k: ImageKindName | ImageKind): ImageKind => (typeof k === 'string' ? imageKind(k) : k);

export interface BuildImageOptions {
  /** Image size; default defaultImageSize(srcDir). */
  sizeBytes?: number;
  /**
   * Index directories larger than one block afterwards with `e2fsck -fyD`
   * (default true). mke2fs 1.47.0 -d leaves every directory linear however
   * big, so without this no mkfs-built image has an htree.
   */
  indexDirs?: boolean;
}

/**
 * Builds `imgPath` (a sparse file) with `mkfs.ext4 -q -F <kind args> -d
 * srcDir`, then (by default) indexes its big directories with e2fsck -D.
 */
export async function buildImage(k: ImageKindName | ImageKind, srcDir: string, imgPath: string, sizeOrOpts?: number | BuildImageOptions): Promise<BuiltImage> {
  const kd = kindOf(k);
  const opts: BuildImageOptions = typeof sizeOrOpts === 'number' ? { sizeBytes: sizeOrOpts } : (sizeOrOpts ?? {});
  const size = opts.sizeBytes ?? (await defaultImageSize(srcDir));
  createSparse(imgPath, size);
  await mkfs(imgPath, { args: kd.mkfsArgs, root: srcDir, size: `${Math.floor(size / 1024)}k`, timeoutMs: 300_000 });
  if (opts.indexDirs ?? true) {
    const r = await fsckIndexDirs(imgPath, { timeoutMs: 300_000 });
    if (!r.ok) throw new Error(`e2fsck -fyD ${imgPath} exited ${r.code}:\n${r.output}`);
  }
  return { path: imgPath, kind: kd, sizeBytes: size };
}

/** The top-level directory of a kernel image that holds what buildKernelImage adds. */
export const KERNEL_EXTRAS_DIR = 'kernel-extras';

export interface KernelExtraFile {
  /** Path inside the image, '/'-separated, without a leading slash. */
  path: string;
  size: number;
  /** sha256 (hex) of the whole file as a reader must see it, holes as zeros. */
  sha256: string;
}

export interface KernelImageInfo extends BuiltImage {
  /** Appended to in many small writes with an fsync after each (interleaved with `appendedB`), so allocated piecemeal. */
  appended: KernelExtraFile & { appends: number };
  appendedB: KernelExtraFile;
  /** A directory grown entry by entry to ~3,000 entries: the kernel converts it to an htree. */
  indexedDir: { path: string; entries: number };
  /** Every other 4 KiB block of a 40 MiB file written: thousands of extents, so an extent tree of depth >= 1. */
  fragmented: KernelExtraFile & { dataChunks: number };
}

export interface KernelImageOptions {
  kind?: ImageKindName | ImageKind;
  sizeBytes?: number;
  /** Entries in the indexed directory (default 3000). */
  dirEntries?: number;
}

/** Deterministic bytes for the kernel extras (the same on every run). */
function extraBytes(label: string, size: number): Buffer {
  return keystream(`ext4kit-kernel-extra/${label}`, size);
}

/**
 * Builds an image the way a user's machine would: mkfs.ext4 an empty image,
 * mount it, `cp` the source tree in (modes, owners, ns times, hard links,
 * xattrs and ACLs preserved; holes kept), then let the kernel make what
 * mke2fs never does (see KernelImageInfo), and unmount. Needs root and loop
 * devices: check canLoopMount() first.
 */
export async function buildKernelImage(srcDir: string, imgPath: string, opts: KernelImageOptions = {}): Promise<KernelImageInfo> {
  const kd = kindOf(opts.kind ?? 'default');
  const size = opts.sizeBytes ?? (await defaultImageSize(srcDir)) + 256 * MiB;
  createSparse(imgPath, size);
  await mkfs(imgPath, { args: kd.mkfsArgs, size: `${Math.floor(size / 1024)}k`, timeoutMs: 300_000 });
  const dirEntries = opts.dirEntries ?? 3000;
  const rel = (p: string): string => `${KERNEL_EXTRAS_DIR}/${p}`;

  return withMountedImage(imgPath, { timeoutMs: 120_000 }, async (m) => {
    // Explicit --preserve (not -a) so that failing to copy an xattr is an error, not silence.
    await runChecked('cp', ['-dR', '--preserve=mode,ownership,timestamps,links,xattr', `${srcDir}/.`, `${m.dir}/`], { timeoutMs: 300_000 });
    const extras = path.join(m.dir, KERNEL_EXTRAS_DIR);
    fs.mkdirSync(extras);

    const appends = 200;
    const a = path.join(extras, 'appended');
    const b = path.join(extras, 'appended-b');
    const fa = fs.openSync(a, 'w');
    const fb = fs.openSync(b, 'w');
    const dataA: Buffer[] = [];
    const dataB: Buffer[] = [];
    try {
      for (let i = 0; i < appends; i++) {
        const x = extraBytes(`a${i}`, 500 + ((i * 2654435761) % 7000));
        const y = extraBytes(`b${i}`, 4096);
        fs.writeSync(fa, x);
        fs.fsyncSync(fa);
        fs.writeSync(fb, y);
        fs.fsyncSync(fb);
        dataA.push(x);
        dataB.push(y);
      }
    } finally {
      fs.closeSync(fa);
      fs.closeSync(fb);
    }

    const idx = path.join(extras, 'indexed');
    fs.mkdirSync(idx);
    for (let i = 0; i < dirEntries; i++) fs.writeFileSync(path.join(idx, `entry-${String(i).padStart(5, '0')}-${'k'.repeat(i % 40)}`), i % 10 === 0 ? `${i}` : '');

    const fragSize = 40 * MiB;
    const chunk = 4096;
    const frag = path.join(extras, 'fragmented');
    const ff = fs.openSync(frag, 'w');
    const whole = Buffer.alloc(fragSize);
    let dataChunks = 0;
    try {
      for (let off = 0; off < fragSize; off += 2 * chunk) {
        const d = extraBytes(`f${off}`, chunk);
        fs.writeSync(ff, d, 0, chunk, off);
        d.copy(whole, off);
        dataChunks++;
      }
      // Ends in a hole, so the size is set explicitly.
      fs.ftruncateSync(ff, fragSize);
      fs.fsyncSync(ff);
    } finally {
      fs.closeSync(ff);
    }

    const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
    const all = (bs: Buffer[]): Buffer => Buffer.concat(bs);
    return {
      path: imgPath, kind: kd, sizeBytes: size,
      appended: { path: rel('appended'), size: all(dataA).length, sha256: sha(all(dataA)), appends },
      appendedB: { path: rel('appended-b'), size: all(dataB).length, sha256: sha(all(dataB)) },
      indexedDir: { path: rel('indexed'), entries: dirEntries },
      fragmented: { path: rel('fragmented'), size: fragSize, sha256: sha(whole), dataChunks },
    };
  });
}
