/**
 * The end of a copy: what could not or must not happen while files were
 * still being written, applied once all contents are in place:
 *
 *  1. special files (one mknod batch), their owners, then later names of
 *     special files as hard links: these create directory entries, so they
 *     come before any directory's times are set;
 *  2. extended attributes (after every write: a write drops
 *     `security.capability`) and, at the same time, atimes and mtimes of
 *     everything to the nanosecond (neither disturbs the other);
 *  3. directory permissions, deepest first: a directory the copy had to
 *     write into gets its real, possibly read-only or unsearchable, mode
 *     only when nothing below it needs to be reached any more.
 *
 * Steps that need system calls Node lacks (exact-nanosecond times, xattrs,
 * mknod) go through host-ops, one python3 process per batch.
 */
import { lutimes } from 'node:fs/promises';
import { chmodSync, lchownSync, lutimesSync } from 'node:fs';
import { replaceWithLink } from './cp-apply.js';
import { pathKey, shown } from './cp-paths.js';
import type { Deferred, DirFinish, TimesItem } from './cp-tree.js';
import { hostOpsAvailable, mknodBatch, setTimesNs, setXattrs, type HostOpError } from '../host/host-ops.js';
import type { Reporter } from './report.js';

export interface FinishOptions {
  archive: boolean;
  root: boolean;
  /** hostOpsAvailable(), started early by the caller so that finding python overlaps the copy. */
  hostReady?: Promise<boolean>;
}

function reportHostErrors(report: Reporter, errors: HostOpError[], labels: readonly string[]): void {
  for (const e of errors) report.fail(labels[e.index] ?? String(e.path), e.message, e.code);
}

export async function finishCopy(d: Deferred, report: Reporter, opts: FinishOptions): Promise<void> {
  const needsHost = d.specials.length > 0 || d.xattrs.length > 0 ||
    (opts.archive && (d.times.some((t) => !wholeSeconds(t)) || d.dirs.some((t) => !wholeSeconds(t))));
  const host = needsHost && (await (opts.hostReady ?? hostOpsAvailable()));
  if (needsHost && !host) {
    report.fail(undefined, 'python3 was not found: special files and extended attributes are not copied, times are kept to the microsecond only');
  }

  // 1. Special files, then their owners (chown clears set-ID bits, so those are set again).
  const missing = new Set<string>();
  if (host && d.specials.length > 0) {
    const errors = await mknodBatch(d.specials.map((s) => ({ path: s.dest, mode: s.mode, rdev: s.rdev })));
    reportHostErrors(report, errors, d.specials.map((s) => shown(s.dest)));
    const failed = new Set(errors.map((e) => e.index));
    for (const i of failed) missing.add(pathKey(d.specials[i].dest));
    if (opts.archive && opts.root) {
      for (const [i, s] of d.specials.entries()) {
        if (failed.has(i)) continue;
        try {
          lchownSync(s.dest, s.uid, s.gid);
          if ((s.mode & 0o6000) !== 0) chmodSync(s.dest, s.mode & 0o7777);
        } catch (e) {
          report.error(shown(s.dest), e);
        }
      }
    }
  } else if (d.specials.length > 0) {
    for (const s of d.specials) {
      report.fail(s.label, 'special file not copied (needs python3)', 'ENOTSUP');
      missing.add(pathKey(s.dest));
    }
  }
  for (const l of d.specialLinks) {
    try {
      replaceWithLink(l.target, l.dest);
    } catch (e) {
      report.error(shown(l.dest), e);
    }
  }

  // 2. Extended attributes and times together: neither moves the other (an xattr changes only
  // the ctime), and nothing creates directory entries any more, so directory mtimes stay as set.
  const dirs = [...d.dirs].sort((a, b) => b.depth - a.depth);
  await Promise.all([
    setAllXattrs(d, host),
    opts.archive ? setAllTimes(d, dirs, missing, host, report) : Promise.resolve(),
  ]);

  // 3. Directory permissions last and deepest first: a directory without search or write
  // permission for us would block what is done below it (chmod changes only the ctime).
  for (const dir of dirs) {
    if (dir.mode === undefined) continue;
    try {
      chmodSync(dir.dest, dir.mode);
    } catch (e) {
      report.error(shown(dir.dest), e);
    }
  }
}

const NS = 1_000_000_000n;

/**
 * Both times fall on whole seconds at or after 1970 (as most of an image made
 * by mke2fs -d): exact through Node's utimes, which takes a double and
 * replaces a negative time with the current time.
 */
function wholeSeconds(t: { atimeNs?: bigint; mtimeNs?: bigint }): boolean {
  const a = t.atimeNs ?? 0n;
  const m = t.mtimeNs ?? 0n;
  return a >= 0n && m >= 0n && a % NS === 0n && m % NS === 0n;
}

/** Like GNU cp -a, a host that refuses an xattr (a namespace it does not allow) is not an error. */
async function setAllXattrs(d: Deferred, host: boolean): Promise<void> {
  if (host && d.xattrs.length > 0) {
    await setXattrs(d.xattrs.map((x) => ({ path: x.dest, name: x.name, value: x.value })));
  }
}

async function setAllTimes(d: Deferred, dirs: readonly DirFinish[], missing: ReadonlySet<string>, host: boolean, report: Reporter): Promise<void> {
  // A special file that could not be made has no times to set (its failure was reported).
  const times = d.times.filter((t) => !missing.has(pathKey(t.dest)));
  for (const dir of dirs) {
    if (dir.atimeNs === undefined || dir.mtimeNs === undefined) continue;
    times.push({ dest: dir.dest, atimeNs: dir.atimeNs, mtimeNs: dir.mtimeNs, label: dir.label, id: dir.id });
  }
  // Whole seconds pass exactly through the double Node's utimes takes: those are
  // set here, and only finer times need the host-ops batch.
  const fine: TimesItem[] = [];
  for (const t of times) {
    if (!wholeSeconds(t)) {
      fine.push(t);
      continue;
    }
    try {
      lutimesSync(t.dest, Number(t.atimeNs / NS), Number(t.mtimeNs / NS));
    } catch (e) {
      report.error(shown(t.dest), e);
    }
  }
  if (host) {
    const errors = await setTimesNs(fine.map((t) => ({ path: t.dest, atimeNs: t.atimeNs, mtimeNs: t.mtimeNs })));
    reportHostErrors(report, errors, fine.map((t) => shown(t.dest)));
    return;
  }
  for (const t of fine) {
    try {
      // Node takes seconds as a double: close to, not exactly, the nanosecond.
      await lutimes(t.dest, Number(t.atimeNs) / 1e9, Number(t.mtimeNs) / 1e9);
    } catch (e) {
      report.error(shown(t.dest), e);
    }
  }
}
