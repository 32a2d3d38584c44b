/**
 * One temporary directory per test file, removed after the file's tests
 * unless EXT4KIT_KEEP=1 (then its path is printed so the images can be
 * inspected). It lives under $EXT4KIT_TMP when set, else under /dev/shm when
 * that is a tmpfs with room and xattr support, else under the system temp
 * dir: creating files on a disk filesystem can cost a millisecond each (it
 * does on the development VM), which made generating a 7,000-entry tree take
 * 8 s instead of 1 s.
 *
 * The directory is created on first use, so it can be used from module
 * scope, beforeAll or a test alike. Before removal, anything still mounted
 * below it is unmounted: deleting through a live mount would delete inside
 * the image instead.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll } from 'vitest';
import { cleanupMountsUnder, mountsUnder } from './loop.js';

export interface TmpDir {
  /** The directory itself (created on first access). */
  readonly path: string;
  /** A subdirectory, created (with parents) if missing. */
  sub(...parts: string[]): string;
  /** A path inside the directory; nothing is created. */
  file(...parts: string[]): string;
  /** A new empty subdirectory whose name starts with `prefix` and is unique within the directory. */
  fresh(prefix: string): string;
}

let chosenBase: string | undefined;

/** True when `dir` is writable, has `minFree` bytes available and takes user.* xattrs (tmpfs before Linux 6.6 does not). */
function usable(dir: string, minFree: number): boolean {
  try {
    const st = fs.statfsSync(dir);
    if (st.bavail * st.bsize < minFree) return false;
    const probe = fs.mkdtempSync(path.join(dir, 'ext4kit-probe-'));
    try {
      // Synchronous (not run.ts): the choice is made inside the synchronous `path` getter.
      execFileSync('python3', ['-I', '-S', '-c', 'import os, sys; os.setxattr(sys.argv[1], "user.probe", b"1")', probe], { stdio: 'ignore', timeout: 20_000 });
      return true;
    } finally {
      fs.rmSync(probe, { recursive: true, force: true });
    }
  } catch {
    return false;
  }
}

/** Where per-file temp dirs go; see the file comment. */
export function tmpBase(): string {
  if (chosenBase === undefined) {
    const env = process.env.EXT4KIT_TMP;
    if (env !== undefined && env !== '') chosenBase = env;
    else chosenBase = usable('/dev/shm', 4 << 30) ? '/dev/shm' : os.tmpdir();
  }
  return chosenBase;
}

/** Registers the per-file temp dir; call once at module scope of a test file. */
export function useTmpDir(label: string): TmpDir {
  let dir: string | undefined;
  const get = (): string => {
    if (dir === undefined) {
      const base = tmpBase();
      fs.mkdirSync(base, { recursive: true });
      dir = fs.mkdtempSync(path.join(base, `ext4kit-${label.replace(/[^A-Za-z0-9_.-]/g, '_')}-`));
    }
    return dir;
  };

  afterAll(async () => {
    if (dir === undefined) return;
    await cleanupMountsUnder(dir);
    if (process.env.EXT4KIT_KEEP === '1') {
      console.log(`EXT4KIT_KEEP=1: kept ${dir}`);
      return;
    }
    const still = mountsUnder(dir);
    if (still.length > 0) throw new Error(`not removing ${dir}: still mounted below it: ${still.join(', ')}`);
    await fs.promises.rm(dir, { recursive: true, force: true, maxRetries: 3 });
  });

  return {
    get path() {
      return get();
    },
    sub(...parts: string[]) {
      const p = path.join(get(), ...parts);
      fs.mkdirSync(p, { recursive: true });
      return p;
    },
    file(...parts: string[]) {
      return path.join(get(), ...parts);
    },
    fresh(prefix: string) {
      return fs.mkdtempSync(path.join(get(), `${prefix.replace(/[^A-Za-z0-9_.-]/g, '_')}-`));
    },
  };
}
