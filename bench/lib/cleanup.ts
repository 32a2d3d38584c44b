// Everything the harness leaves on the machine is registered here so that it
// is undone however the run ends: normal exit, a thrown error, or Ctrl-C. A
// loop mount left behind would pin a loop device and an image for good, so
// mounts are undone first and, if busy, detached lazily.
import { spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { killActiveChildren, runProc } from './proc.js';

const mounts = new Set<string>();
const dirs: string[] = [];
let handlersInstalled = false;

export function trackMount(mountPoint: string): void {
  mounts.add(mountPoint);
}

export function untrackMount(mountPoint: string): void {
  mounts.delete(mountPoint);
}

export function trackDir(dir: string): void {
  dirs.push(dir);
}

/** Unmount one mount point, falling back to a lazy unmount if it is busy. */
export async function unmount(mountPoint: string): Promise<void> {
  const r = await runProc('umount', [mountPoint], { timeoutMs: 120_000 });
  if (r.code !== 0) {
    const lazy = await runProc('umount', ['-l', mountPoint], { timeoutMs: 60_000 });
    if (lazy.code !== 0) throw new Error(`umount ${mountPoint} failed: ${r.stderr.trim()}`);
  }
  untrackMount(mountPoint);
}

export async function cleanupAll(): Promise<void> {
  // Newest first: a contender's loop mount can sit inside the --out-fs
  // mount, which cannot be unmounted (other than lazily) while it does.
  for (const m of [...mounts].reverse()) {
    try {
      await unmount(m);
    } catch (e) {
      process.stderr.write(`warning: ${(e as Error).message}\n`);
    }
  }
  while (dirs.length > 0) {
    const d = dirs.pop()!;
    await rm(d, { recursive: true, force: true });
  }
}

// Signal handlers cannot wait for promises reliably, so they use the
// synchronous forms, then exit with the conventional 128+signal status.
function cleanupSync(): void {
  // A child still writing into a mount point would make the unmount busy.
  killActiveChildren();
  for (const m of [...mounts].reverse()) {
    const r = spawnSync('umount', [m], { stdio: 'ignore' });
    if (r.status !== 0) spawnSync('umount', ['-l', m], { stdio: 'ignore' });
  }
  mounts.clear();
  while (dirs.length > 0) {
    try {
      rmSync(dirs.pop()!, { recursive: true, force: true });
    } catch {
      // best effort on the way out
    }
  }
}

export function installSignalCleanup(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  const onSignal = (sig: NodeJS.Signals, code: number): void => {
    process.stderr.write(`\n${sig}: cleaning up mounts and temporary files\n`);
    cleanupSync();
    process.exit(code);
  };
  process.once('SIGINT', () => onSignal('SIGINT', 130));
  process.once('SIGTERM', () => onSignal('SIGTERM', 143));
}
