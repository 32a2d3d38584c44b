// Checking that a contender's output is a faithful copy of the source tree.
// A contender that silently drops files or truncates them would otherwise post
// the fastest time, so every contender's first output is checked: same
// entries with the same types, sizes and link targets, then a byte-for-byte
// content diff by an independent tool (diff -r).
import { lstat, readdir, readlink, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { runProc, lastLines } from './proc.js';
import { fmtBytes, fmtCount } from './stats.js';

type Kind = 'file' | 'dir' | 'symlink' | 'other';

interface Entry {
  kind: Kind;
  perm: number;
  size: number;
  target?: string;
}

export interface TreeStats {
  entries: number;
  files: number;
  dirs: number;
  symlinks: number;
  other: number;
  bytes: number;
}

export interface Verification {
  ok: boolean;
  /** One line: what was checked and found. */
  summary: string;
  /** Differences that do not fail the check (e.g. permissions not kept). */
  notes: string[];
}

/** Map of relative path → entry for everything under root (root itself excluded). */
async function scan(root: string): Promise<Map<string, Entry>> {
  const out = new Map<string, Entry>();
  // An explicit stack instead of recursion keeps deep trees off the JS stack.
  const stack: string[] = [''];
  while (stack.length > 0) {
    const rel = stack.pop()!;
    const names = await readdir(join(root, rel));
    for (const name of names) {
      const r = rel === '' ? name : `${rel}/${name}`;
      const p = join(root, r);
      const st = await lstat(p);
      const perm = st.mode & 0o7777;
      if (st.isDirectory()) {
        out.set(r, { kind: 'dir', perm, size: 0 });
        stack.push(r);
      } else if (st.isSymbolicLink()) {
        out.set(r, { kind: 'symlink', perm, size: 0, target: await readlink(p) });
      } else if (st.isFile()) {
        out.set(r, { kind: 'file', perm, size: st.size });
      } else {
        out.set(r, { kind: 'other', perm, size: 0 });
      }
    }
  }
  return out;
}

function statsOf(m: Map<string, Entry>): TreeStats {
  const s: TreeStats = { entries: m.size, files: 0, dirs: 0, symlinks: 0, other: 0, bytes: 0 };
  for (const e of m.values()) {
    if (e.kind === 'file') {
      s.files++;
      s.bytes += e.size;
    } else if (e.kind === 'dir') s.dirs++;
    else if (e.kind === 'symlink') s.symlinks++;
    else s.other++;
  }
  return s;
}

export async function treeStats(root: string): Promise<TreeStats> {
  return statsOf(await scan(root));
}

export function describeStats(s: TreeStats): string {
  return `${fmtCount(s.entries)} entries (${fmtCount(s.files)} files, ${fmtCount(s.dirs)} dirs, ${fmtCount(s.symlinks)} symlinks), ${fmtBytes(s.bytes)}`;
}

/**
 * Compare the copy at `out` with the original at `src`. An ext4 image always
 * has /lost+found, which the source folder does not; when the copy carries an
 * empty one that the source lacks it is removed first (the output is thrown
 * away after the check anyway).
 */
export async function verifyTreeCopy(src: string, out: string): Promise<Verification> {
  const notes: string[] = [];
  try {
    await lstat(join(src, 'lost+found'));
  } catch {
    const lf = join(out, 'lost+found');
    try {
      if ((await readdir(lf)).length === 0) await rm(lf, { recursive: true });
    } catch {
      // the copy has none: fine
    }
  }
  let want: Map<string, Entry>;
  let got: Map<string, Entry>;
  try {
    [want, got] = await Promise.all([scan(src), scan(out)]);
  } catch (e) {
    return { ok: false, summary: `cannot read the copy: ${(e as Error).message}`, notes };
  }
  const problems: string[] = [];
  let permDiffs = 0;
  for (const [rel, w] of want) {
    const g = got.get(rel);
    if (g === undefined) problems.push(`missing ${rel}`);
    else if (g.kind !== w.kind) problems.push(`${rel}: ${g.kind}, expected ${w.kind}`);
    else if (w.kind === 'file' && g.size !== w.size) problems.push(`${rel}: ${g.size} bytes, expected ${w.size}`);
    else if (w.kind === 'symlink' && g.target !== w.target) problems.push(`${rel}: link to ${g.target}, expected ${w.target}`);
    else if (w.kind !== 'symlink' && g.perm !== w.perm) permDiffs++;
  }
  for (const rel of got.keys()) if (!want.has(rel)) problems.push(`extra ${rel}`);
  const ws = statsOf(want);
  const gs = statsOf(got);
  if (problems.length > 0) {
    const more = problems.length > 3 ? ` (+${problems.length - 3} more)` : '';
    return {
      ok: false,
      summary: `copy has ${fmtCount(gs.entries)} entries / ${fmtBytes(gs.bytes)}, source ${fmtCount(ws.entries)} / ${fmtBytes(ws.bytes)}: ${problems.slice(0, 3).join('; ')}${more}`,
      notes,
    };
  }
  if (permDiffs > 0) notes.push(`permission bits differ on ${fmtCount(permDiffs)} entries`);
  // --no-dereference compares symlinks as links (their targets) instead of
  // following them out of the tree.
  const d = await runProc('diff', ['-r', '-q', '--no-dereference', src, out], { captureStdout: true, timeoutMs: 600_000 });
  if (d.code !== 0) {
    return { ok: false, summary: `diff -r reports differences: ${lastLines(d.stdout + d.stderr, 2)}`, notes };
  }
  return { ok: true, summary: `${describeStats(gs)}; contents identical (diff -r)`, notes };
}
