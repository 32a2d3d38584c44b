/**
 * The end of a copy: what could not or must not happen while files were
 * still being written, applied once, in an order where no step undoes an
 * earlier one:
 *
 *  1. special files (one mknod batch), their owners, then later names of
 *     special files as hard links;
 *  2. extended attributes (after every write: writing a file drops its
 *     `security.capability`);
 *  3. directory permissions, deepest first (a directory the copy had to
 *     write into gets its real, possibly read-only, mode only now);
 *  4. times, files first and directories deepest first: creating an entry
 *     changes its directory's mtime, so each directory is stamped only
 *     after nothing below it changes any more.
 *
 * Steps that need system calls Node lacks (exact-nanosecond times, xattrs,
 * mknod) go through host-ops, one python3 process per batch.
 */
import { chmod, lchown, lutimes } from 'node:fs/promises';
import type { Deferred } from './cp-tree.js';
import { replaceWithLink } from './cp-tree.js';
import { hostOpsAvailable, mknodBatch, setTimesNs, setXattrs, type HostOpError } from './host-ops.js';
import type { Reporter } from './report.js';

export interface FinishOptions { archive: boolean; root: boolean }

function reportHostErrors(report: Reporter, errors: HostOpError[], labels: readonly string[]): void {
  for (const e of errors) report.fail(labels[e.index] ?? String(e.path), e.message, e.code);
}

export async function finishCopy(d: Deferred, report: Reporter, opts: FinishOptions): Promise<void> {
  const needsHost = d.specials.length > 0 || d.xattrs.length > 0 || (opts.archive && (d.times.length > 0 || d.dirs.length > 0));
  const host = needsHost && (await hostOpsAvailable());
  if (needsHost && !host) {
    report.fail(undefined, 'python3 was not found: special files and extended attributes are not copied, times are kept to the microsecond only');
  }

  // 1. Special files, then their owners (chown clears set-ID bits, so those are set again).
  const missing = new Set<string>();
  if (host && d.specials.length > 0) {
    const errors = await mknodBatch(d.specials.map((s) => ({ path: s.dest, mode: s.mode, rdev: s.rdev })));
    reportHostErrors(report, errors, d.specials.map((s) => s.dest));
    const failed = new Set(errors.map((e) => e.index));
    for (const i of failed) missing.add(d.specials[i].dest);
    if (opts.archive && opts.root) {
      for (const [i, s] of d.specials.entries()) {
        if (failed.has(i)) continue;
        try {
          await lchown(s.dest, s.uid, s.gid);
          if ((s.mode & 0o6000) !== 0) await chmod(s.dest, s.mode & 0o7777);
        } catch (e) {
          report.error(s.dest, e);
        }
      }
    }
  } else if (d.specials.length > 0) {
    for (const s of d.specials) {
      report.fail(s.label, 'special file not copied (needs python3)', 'ENOTSUP');
      missing.add(s.dest);
    }
  }
  for (const l of d.specialLinks) {
    try {
      replaceWithLink(l.target, l.dest);
    } catch (e) {
      report.error(l.dest, e);
    }
  }

  // 2. Extended attributes. Like GNU cp -a, a host that refuses one is not an error.
  if (host && d.xattrs.length > 0) {
    await setXattrs(d.xattrs.map((x) => ({ path: x.dest, name: x.name, value: x.value })));
  }

  // 3. Directory permissions, deepest first.
  const dirs = [...d.dirs].sort((a, b) => b.depth - a.depth);
  for (const dir of dirs) {
    if (dir.mode === undefined) continue;
    try {
      await chmod(dir.dest, dir.mode);
    } catch (e) {
      report.error(dir.dest, e);
    }
  }

  // 4. Times: everything that is not a directory, then directories deepest first.
  if (!opts.archive) return;
  // A special file that could not be made has no times to set (its failure was reported).
  const times = d.times.filter((t) => !missing.has(t.dest));
  const labels = times.map((t) => t.dest);
  for (const dir of dirs) {
    if (dir.atimeNs === undefined || dir.mtimeNs === undefined) continue;
    times.push({ dest: dir.dest, atimeNs: dir.atimeNs, mtimeNs: dir.mtimeNs, label: dir.label });
    labels.push(dir.dest);
  }
  if (host) {
    const errors = await setTimesNs(times.map((t) => ({ path: t.dest, atimeNs: t.atimeNs, mtimeNs: t.mtimeNs })));
    reportHostErrors(report, errors, labels);
    return;
  }
  for (const t of times) {
    try {
      // Node takes seconds as a double: close to, not exactly, the nanosecond.
      await lutimes(t.dest, Number(t.atimeNs) / 1e9, Number(t.mtimeNs) / 1e9);
    } catch (e) {
      report.error(t.dest, e);
    }
  }
}
