/**
 * Loop mounts of ext4 images, so the Linux kernel can serve as an
 * independent reader and writer. Needs root.
 *
 * Every mount is recorded and undone (umount, then losetup -d) after the
 * test file even when a test fails, and at process exit as a last resort: a
 * leaked mount would keep a loop device busy for every later run on the
 * machine. Every external command runs under a hard timeout.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll } from 'vitest';
import { runChecked, runCommand } from './run.js';

export interface MountOptions {
  /** Mount read-only, on a read-only loop device, so nothing (not even journal recovery) writes the image. Default false. */
  readOnly?: boolean;
  /** Extra mount options, e.g. ['noatime']. */
  options?: string[];
  /** Filesystem type given to mount. Default 'ext4' (which also mounts ext2 and ext3 images). */
  fsType?: string;
  /** Where to mount; default a fresh directory under the system temp dir, removed on unmount. */
  dir?: string;
  /** Timeout for each command. Default 60 s. */
  timeoutMs?: number;
}

export interface MountedImage {
  image: string;
  dir: string;
  device: string;
  readOnly: boolean;
  /** Unmounts and detaches the loop device; safe to call twice. */
  unmount(): Promise<void>;
}

const active = new Set<MountedImage>();

/** Attaches `img` to a loop device and mounts it. Undone automatically after the test file. */
export async function mountImage(img: string, opts: MountOptions = {}): Promise<MountedImage> {
  const timeoutMs = opts.timeoutMs ?? 60_000;
  const readOnly = opts.readOnly ?? false;
  const ownDir = opts.dir === undefined;
  const dir = opts.dir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'ext4kit-mnt-'));
  const lo = await runChecked('losetup', ['--find', '--show', ...(readOnly ? ['--read-only'] : []), img], { timeoutMs });
  const device = lo.stdout.trim();
  const mountOpts = [...(readOnly ? ['ro'] : []), ...(opts.options ?? [])];
  const r = await runCommand('mount', ['-t', opts.fsType ?? 'ext4', ...(mountOpts.length > 0 ? ['-o', mountOpts.join(',')] : []), device, dir], { timeoutMs });
  if (r.code !== 0 || r.timedOut) {
    await runCommand('losetup', ['-d', device], { timeoutMs });
    if (ownDir) fs.rmSync(dir, { recursive: true, force: true });
    throw new Error(`mount ${img} (${device}) on ${dir} failed: ${r.stdout}${r.stderr}${await dmesgTail()}`);
  }
  let done = false;
  const m: MountedImage = {
    image: img, dir, device, readOnly,
    unmount: async () => {
      if (done) return;
      done = true;
      active.delete(m);
      await unmountDir(dir, timeoutMs);
      await detach(device, timeoutMs);
      if (ownDir) fs.rmSync(dir, { recursive: true, force: true });
    },
  };
  active.add(m);
  return m;
}

/** Unmounts a mount made by mountImage. */
export async function unmount(m: MountedImage): Promise<void> {
  await m.unmount();
}

/** Mounts, runs `fn`, and unmounts whatever `fn` did. */
export async function withMountedImage<T>(img: string, opts: MountOptions, fn: (m: MountedImage) => Promise<T>): Promise<T> {
  const m = await mountImage(img, opts);
  try {
    return await fn(m);
  } finally {
    await m.unmount();
  }
}

/** Unmounts every mount this process made that is still mounted. */
export async function unmountAll(): Promise<void> {
  const errors: string[] = [];
  for (const m of [...active]) {
    try {
      await m.unmount();
    } catch (e) {
      errors.push(String(e));
    }
  }
  if (errors.length > 0) throw new Error(`unmount failed:\n${errors.join('\n')}`);
}

/** Mount points at or below `dir`, deepest first, from /proc/self/mountinfo. */
export function mountsUnder(dir: string): string[] {
  let text: string;
  try {
    text = fs.readFileSync('/proc/self/mountinfo', 'utf8');
  } catch {
    return [];
  }
  const base = path.resolve(dir);
  const found: string[] = [];
  for (const line of text.split('\n')) {
    const fields = line.split(' ');
    if (fields.length < 5) continue;
    // mountinfo escapes space, tab, newline and backslash as octal.
    const mp = fields[4].replace(/\\([0-7]{3})/g, (_s, o: string) => String.fromCharCode(parseInt(o, 8)));
    if (mp === base || mp.startsWith(base + '/')) found.push(mp);
  }
  return found.sort((a, b) => b.length - a.length);
}

/**
 * Makes sure nothing is mounted below `dir` and no loop device is backed by
 * a file below it, so that `dir` can be deleted without deleting through a
 * mount into an image.
 */
export async function cleanupMountsUnder(dir: string): Promise<void> {
  const base = path.resolve(dir);
  for (const m of [...active]) {
    if (path.resolve(m.dir).startsWith(base + '/') || path.resolve(m.image).startsWith(base + '/')) await m.unmount();
  }
  for (const mp of mountsUnder(base)) await unmountDir(mp, 60_000);
  const lo = await runCommand('losetup', ['--list', '--noheadings', '--output', 'NAME,BACK-FILE'], { timeoutMs: 30_000 }).catch(() => null);
  for (const line of lo?.stdout.split('\n') ?? []) {
    const m = /^(\S+)\s+(.*)$/.exec(line.trim());
    if (m && path.resolve(m[2].replace(/ \(deleted\)$/, '')).startsWith(base + '/')) await detach(m[1], 30_000);
  }
}

async function unmountDir(dir: string, timeoutMs: number): Promise<void> {
  let last = '';
  for (let attempt = 0; attempt < 10; attempt++) {
    if (!mountsUnder(dir).includes(path.resolve(dir))) return;
    const r = await runCommand('umount', [dir], { timeoutMs });
    if (r.code === 0) return;
    last = r.stderr;
    // A process that still has a file open (e.g. a just-killed child) makes umount fail with EBUSY for a moment.
    await sleep(200);
  }
  // Detach it from the namespace at least, so the test run does not leave a visible mount behind.
  await runCommand('umount', ['-l', dir], { timeoutMs });
  throw new Error(`umount ${dir} kept failing (lazily detached): ${last}`);
}

async function detach(device: string, timeoutMs: number): Promise<void> {
  for (let attempt = 0; attempt < 10; attempt++) {
    const r = await runCommand('losetup', ['-d', device], { timeoutMs });
    if (r.code === 0 || /No such device/i.test(r.stderr)) return;
    await sleep(200);
  }
}

async function dmesgTail(): Promise<string> {
  const r = await runCommand('dmesg', [], { timeoutMs: 10_000 }).catch(() => null);
  if (!r || r.code !== 0) return '';
  return '\nkernel log:\n' + r.stdout.split('\n').slice(-15).join('\n');
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

let loopCheck: Promise<{ ok: boolean; reason: string }> | undefined;

function checkLoop(): Promise<{ ok: boolean; reason: string }> {
  loopCheck ??= (async () => {
    if (process.platform !== 'linux') return { ok: false, reason: `loop mounts need Linux (this is ${process.platform})` };
    if (process.getuid?.() !== 0) return { ok: false, reason: 'loop mounts need root (run the tests as root)' };
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ext4kit-loopcheck-'));
    try {
      const img = path.join(dir, 'probe.img');
      fs.closeSync(fs.openSync(img, 'w'));
      fs.truncateSync(img, 8 << 20);
      const mk = await runCommand('mkfs.ext4', ['-q', '-F', img], { timeoutMs: 60_000 }).catch((e: unknown) => ({ code: -1, stderr: String(e) }));
      if (mk.code !== 0) return { ok: false, reason: `mkfs.ext4 failed: ${mk.stderr.trim()}` };
      try {
        await withMountedImage(img, { readOnly: true }, async () => undefined);
      } catch (e) {
        return { ok: false, reason: `loop mount does not work here: ${String(e).split('\n')[0]}` };
      }
      return { ok: true, reason: '' };
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  })();
  return loopCheck;
}

/** True when this process can loop-mount images (root, loop devices, mount). Checked once. */
export async function canLoopMount(): Promise<boolean> {
  return (await checkLoop()).ok;
}

/** Why loop-mount tests are skipped, to print as a visible 'SKIPPED:' line; empty when they can run. */
export async function describeLoopSkip(): Promise<string> {
  const r = await checkLoop();
  return r.ok ? '' : `SKIPPED: kernel loop-mount checks: ${r.reason}`;
}

if (process.env.VITEST) afterAll(unmountAll);

// Last resort when the process exits with mounts still active (an aborted run): synchronous, best effort.
process.on('exit', () => {
  for (const m of active) {
    try {
      execFileSync('umount', [m.dir], { stdio: 'ignore', timeout: 20_000 });
      execFileSync('losetup', ['-d', m.device], { stdio: 'ignore', timeout: 20_000 });
    } catch {
      // Nothing more can be done while exiting.
    }
  }
});
