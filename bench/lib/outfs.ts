// The filesystem the copied-out trees are written to. Creating ~9,000 files
// costs very different amounts on different filesystems: next to nothing on
// tmpfs, seconds on an ext4 mounted with `discard` on a busy virtual disk. That
// cost falls on every copy-out contender alike and so sets how far apart
// their times can be. The report therefore always says which filesystem the
// outputs went to, and `--out-fs ext4` gives them a fresh, ordinary ext4 of
// their own, the "local disk" of a normal machine, whatever --work is on.
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { trackMount, unmount } from './cleanup.js';
import { exists } from './context.js';
import { haveCommand, lastLines, runOk, runProc } from './proc.js';
import type { TreeStats } from './tree.js';

export const OUT_FS_KINDS = ['ext4'] as const;
export type OutFsKind = (typeof OUT_FS_KINDS)[number];

export function parseOutFs(v: string | undefined): OutFsKind | undefined {
  if (v === undefined) return undefined;
  if ((OUT_FS_KINDS as readonly string[]).includes(v)) return v as OutFsKind;
  throw new Error(`--out-fs wants one of: ${OUT_FS_KINDS.join(', ')}; got ${v}`);
}

/**
 * Why a loop-mounted output filesystem cannot be made here, or null. Checked
 * before any work starts: the user asked for this filesystem explicitly, so
 * measuring on another one instead would quietly answer a different question.
 */
export async function outFsProblem(): Promise<string | null> {
  if (process.platform !== 'linux') return `loop mounts need Linux, this is ${process.platform}`;
  if (process.getuid === undefined || process.getuid() !== 0) {
    return `mounting the output filesystem needs a loop mount, and loop mounts need root (running as uid ${process.getuid?.() ?? '?'})`;
  }
  if (!(await exists('/dev/loop-control'))) return 'no /dev/loop-control: loop devices are not available here (a container?)';
  if (!(await haveCommand('mkfs.ext4'))) return 'mkfs.ext4 not found (e2fsprogs)';
  return null;
}

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

/**
 * 4G, or four times what the tree needs when that is more. Only one output
 * exists at a time, so this leaves the filesystem mostly empty, as an
 * ordinary disk is; ext4 allocates differently when nearly full. 4G is also
 * well past 512M, so mke2fs picks its "default" usage type (4 KiB blocks)
 * and not "small" (1 KiB blocks, many more inodes).
 */
export function outFsSize(s: TreeStats): string {
  const need = s.bytes * 1.25 + s.entries * 4096;
  const bytes = Math.max(4 * GiB, 4 * need);
  return bytes === 4 * GiB ? '4G' : `${Math.ceil(bytes / MiB)}M`;
}

interface MountInfo {
  target: string;
  fstype: string;
  options: string;
}

function isMountInfo(x: unknown): x is MountInfo {
  if (typeof x !== 'object' || x === null) return false;
  const o = x as Record<string, unknown>;
  return typeof o.target === 'string' && typeof o.fstype === 'string' && typeof o.options === 'string';
}

/**
 * The mount that holds `path`, from the kernel's mount table (via findmnt),
 * or null if findmnt is missing or says nothing usable.
 */
async function mountOf(path: string): Promise<MountInfo | null> {
  try {
    const r = await runProc('findmnt', ['-J', '-T', path, '-o', 'TARGET,FSTYPE,OPTIONS'], { captureStdout: true, timeoutMs: 30_000 });
    if (r.code !== 0) return null;
    const parsed: unknown = JSON.parse(r.stdout);
    if (typeof parsed !== 'object' || parsed === null) return null;
    const list: unknown = (parsed as Record<string, unknown>).filesystems;
    if (!Array.isArray(list)) return null;
    const first: unknown = list[0];
    return isMountInfo(first) ? first : null;
  } catch {
    return null;
  }
}

/**
 * One line naming the filesystem that holds `path`: its type, mount point
 * and mount options (`discard` and the like are exactly what matters here).
 * findmnt is preferred because `stat -f` reports every ext2/3/4 as
 * "ext2/ext3"; `stat -f -c %T` is the fallback where findmnt is missing.
 */
export async function describeFsOf(path: string): Promise<string> {
  const m = await mountOf(path);
  if (m !== null) return `${m.fstype} mounted on ${m.target} (${m.options})`;
  const r = await runProc('stat', ['-f', '-c', '%T', path], { captureStdout: true, timeoutMs: 30_000 });
  const type = r.code === 0 ? r.stdout.trim() : `unknown (stat -f failed: ${lastLines(r.stderr, 1)})`;
  return `${type} (type from stat -f; mount point unknown)`;
}

/** The plain --work case: the outputs go to whatever filesystem holds the work folder. */
export async function describePlainOutputs(dir: string): Promise<string> {
  return `${await describeFsOf(dir)}, the filesystem of the --work folder`;
}

export interface OutFs {
  /** The mounted root, where the contenders' output folders go. */
  dir: string;
  /** For the report: what was made, and what the kernel says it is. */
  description: string;
  /** Unmount and delete the image. */
  close(): Promise<void>;
}

/**
 * Make a fresh ext4 in a sparse image file in `work` and loop-mount it on a
 * folder in `work`. The mount is tracked in cleanup.ts, so Ctrl-C or an error
 * anywhere still unmounts it before `work` is removed.
 */
export async function makeOutFs(work: string, size: string): Promise<OutFs> {
  const why = await outFsProblem();
  if (why !== null) throw new Error(`--out-fs ext4: ${why}`);
  const img = join(work, 'outputs-fs.img');
  const dir = join(work, 'outputs');
  await rm(img, { force: true });
  // Otherwise the defaults of /etc/mke2fs.conf. lazy_itable_init=0 only
  // moves work, it changes nothing on disk: without it the kernel's
  // ext4lazyinit thread would zero the inode tables in the background, during
  // the timed runs, which an ordinary long-lived filesystem never does. On an
  // image file mke2fs zeroes by fallocate, so this costs next to nothing.
  await runOk('mkfs.ext4', ['-q', '-F', '-E', 'lazy_itable_init=0', img, size], { timeoutMs: 600_000 });
  await mkdir(dir, { recursive: true });
  // Plain `-o loop`: no `discard` (which makes every deletion between runs
  // pay for TRIMs) and nothing else beyond the kernel's and the
  // superblock's defaults.
  try {
    await runOk('mount', ['-o', 'loop', img, dir], { timeoutMs: 120_000 });
  } catch (e) {
    await rm(img, { force: true });
    throw new Error(`--out-fs ext4: mounting the output filesystem failed: ${(e as Error).message}`);
  }
  trackMount(dir);
  const mounted = await describeFsOf(dir);
  return {
    dir,
    description:
      `a fresh ext4 filesystem (loop-mounted ${size} image, mkfs.ext4 defaults, inode tables zeroed at mkfs): ${mounted}; ` +
      `its image file is on ${await describeFsOf(work)}`,
    close: async () => {
      await unmount(dir);
      await rm(dir, { recursive: true, force: true });
      await rm(img, { force: true });
    },
  };
}
