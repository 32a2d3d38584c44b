/**
 * Test fixtures made at test time by the real e2fsprogs tools, which are
 * also the oracles: mkfs.ext4 builds the images, dumpe2fs / debugfs /
 * e2fsck report what is in them. Nothing here is committed output.
 *
 * `useTempImages()` must be called at the top level of a test file: it
 * registers an afterAll hook that deletes everything it created.
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, open, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll } from 'vitest';

/** Tool runs never hang a test run: e2fsck can loop on corrupt images. */
const TOOL_TIMEOUT_MS = 60_000;

export interface RunResult {
  stdout: string;
  stderr: string;
  /** Exit status (0 on success). */
  code: number;
}

/** Runs a program with a C locale and a timeout; resolves even on a non-zero exit. */
export function run(cmd: string, args: string[], timeoutMs = TOOL_TIMEOUT_MS): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    execFile(
      cmd,
      args,
      { timeout: timeoutMs, maxBuffer: 256 * 1024 * 1024, env: { ...process.env, LC_ALL: 'C', TZ: 'UTC' } },
      (err, stdout, stderr) => {
        if (err && (err.killed || typeof err.code !== 'number')) {
          reject(new Error(`${cmd} ${args.join(' ')} failed: ${err.message}\n${stderr}`));
          return;
        }
        resolve({ stdout, stderr, code: err ? (err.code as number) : 0 });
      },
    );
  });
}

/** Like `run`, but a non-zero exit is an error. */
export async function runOk(cmd: string, args: string[], timeoutMs = TOOL_TIMEOUT_MS): Promise<string> {
  const r = await run(cmd, args, timeoutMs);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.code}\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
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

export interface MkfsOptions {
  /** Extra mkfs.ext4 arguments, e.g. ['-O', '^64bit'] or ['-b', '1024']. */
  args?: string[];
  /** Image size as mkfs.ext4 takes it ('64M'). */
  size: string;
  /** A tree to copy in with -d. */
  tree?: TreeEntry[];
  /** File name inside the temp dir (default: a counter). */
  name?: string;
}

export interface TempImages {
  /** The temp directory (created on first use). */
  dir(): Promise<string>;
  /** Makes an image with `mkfs.ext4 -q -F [args] [-d tree] img size`; returns its path. */
  mkfs(opts: MkfsOptions): Promise<string>;
  /** Builds a directory tree for -d; returns its path. */
  tree(entries: TreeEntry[]): Promise<string>;
}

export function useTempImages(): TempImages {
  let dirPromise: Promise<string> | undefined;
  let counter = 0;
  afterAll(async () => {
    if (dirPromise) await rm(await dirPromise, { recursive: true, force: true });
  });
  const dir = (): Promise<string> => (dirPromise ??= mkdtemp(join(tmpdir(), 'ext4kit-test-')));

  const tree = async (entries: TreeEntry[]): Promise<string> => {
    const root = join(await dir(), `tree-${++counter}`);
    await mkdir(root);
    for (const e of entries) {
      const p = join(root, e.path);
      await mkdir(dirname(p), { recursive: true });
      if (e.kind === 'dir') await mkdir(p, { recursive: true });
      else if (e.kind === 'symlink') await runOk('ln', ['-s', e.target ?? '', p]);
      else if (e.kind === 'hardlink') await runOk('ln', [join(root, e.target ?? ''), p]);
      else if (e.kind === 'fifo') await runOk('mkfifo', [p]);
      else if (e.sparseSize !== undefined) {
        const fh = await open(p, 'w');
        try {
          await fh.write(new Uint8Array([1]), 0, 1, e.sparseSize - 1);
        } finally {
          await fh.close();
        }
      } else await writeFile(p, e.data ?? '');
      if (e.mode !== undefined && e.kind !== 'symlink' && e.kind !== 'hardlink') await runOk('chmod', [e.mode.toString(8), p]);
      if (e.uid !== undefined || e.gid !== undefined) {
        await runOk('chown', ['-h', `${e.uid ?? 0}:${e.gid ?? 0}`, p]);
      }
    }
    return root;
  };

  const mkfs = async (opts: MkfsOptions): Promise<string> => {
    const img = join(await dir(), opts.name ?? `image-${++counter}.img`);
    const args = ['-q', '-F', ...(opts.args ?? [])];
    if (opts.tree) args.push('-d', await tree(opts.tree));
    args.push(img, opts.size);
    await runOk('mkfs.ext4', args);
    return img;
  };

  return { dir, mkfs, tree };
}

/** Reads `length` bytes at `offset` of a file. */
export async function readRange(path: string, offset: number, length: number): Promise<Uint8Array> {
  const fh = await open(path, 'r');
  try {
    const buf = new Uint8Array(length);
    const { bytesRead } = await fh.read(buf, 0, length, offset);
    if (bytesRead !== length) throw new Error(`short read of ${path} at ${offset}`);
    return buf;
  } finally {
    await fh.close();
  }
}

/** Writes bytes at `offset` of a file (to corrupt or patch an image). */
export async function writeRange(path: string, offset: number, data: Uint8Array): Promise<void> {
  const fh = await open(path, 'r+');
  try {
    await fh.write(data, 0, data.length, offset);
  } finally {
    await fh.close();
  }
}

/** `dumpe2fs [flags] img` stdout. */
export function dumpe2fs(img: string, flags: string[] = []): Promise<string> {
  return runOk('dumpe2fs', [...flags, img]);
}

/** `debugfs [-w] -R cmd img` stdout. */
export function debugfs(img: string, cmd: string, write = false): Promise<string> {
  return runOk('debugfs', [...(write ? ['-w'] : []), '-R', cmd, img]);
}

/**
 * Several debugfs commands in one session (`debugfs [-w] -f script img`).
 * Separate sessions can undo each other: closing one rewrites the group
 * descriptors from the summary counts it loaded.
 */
export async function debugfsScript(img: string, cmds: string[], write = false): Promise<string> {
  const script = join(dirname(img), `debugfs-${process.pid}-${Date.now()}.cmds`);
  await writeFile(script, cmds.join('\n') + '\n');
  try {
    return await runOk('debugfs', [...(write ? ['-w'] : []), '-f', script, img]);
  } finally {
    await rm(script, { force: true });
  }
}

/** `e2fsck -fn img` under a timeout; code 0 means no problem found. */
export function e2fsckCheck(img: string): Promise<RunResult> {
  return run('e2fsck', ['-fn', img]);
}

/**
 * "Key: value" lines of dumpe2fs -h style output as a map (first occurrence
 * wins; values trimmed).
 */
export function parseKeyValues(text: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const line of text.split('\n')) {
    const i = line.indexOf(':');
    if (i <= 0) continue;
    const key = line.slice(0, i).trim();
    if (!m.has(key)) m.set(key, line.slice(i + 1).trim());
  }
  return m;
}

/** A kind of image the format tests build and check. */
export interface ImageKind {
  name: string;
  args: string[];
  size: string;
}

/**
 * The mkfs variants the format tests cover: default ext4 (4 KiB blocks),
 * the newer upstream defaults, 32-byte descriptors, crc16 descriptor
 * checksums, ext2/ext3, 1 KiB and 2 KiB blocks, 128-byte inodes, inline
 * data, meta_bg (several meta groups), bigalloc with 1 KiB blocks (where
 * block 0 and the superblock share a cluster), and revision 0 (fixed
 * 128-byte inodes, no features).
 */
export const IMAGE_KINDS: readonly ImageKind[] = [
  { name: 'defaults', args: [], size: '600M' },
  { name: 'csum-seed-orphan-file', args: ['-O', 'metadata_csum_seed,orphan_file', '-L', 'ext4kit-label'], size: '64M' },
  { name: 'no-64bit', args: ['-O', '^64bit'], size: '128M' },
  { name: 'gdt-csum', args: ['-O', '^metadata_csum,uninit_bg'], size: '128M' },
  { name: 'ext2', args: ['-t', 'ext2'], size: '64M' },
  { name: 'ext3', args: ['-t', 'ext3'], size: '64M' },
  { name: 'block-1024', args: ['-b', '1024'], size: '64M' },
  { name: 'block-2048', args: ['-b', '2048'], size: '128M' },
  { name: 'inode-128', args: ['-I', '128'], size: '64M' },
  { name: 'inline-data', args: ['-O', 'inline_data'], size: '64M' },
  { name: 'meta-bg', args: ['-b', '1024', '-O', 'meta_bg,^resize_inode'], size: '300M' },
  { name: 'bigalloc', args: ['-O', 'bigalloc', '-C', '16384'], size: '128M' },
  { name: 'revision-0', args: ['-r', '0', '-O', 'none'], size: '64M' },
];
