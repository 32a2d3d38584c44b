/**
 * `ext4kit ls [-l] [-a] [-R] [--json] IMG[:PATH]...`: GNU ls's output in the
 * C locale with numeric owners (`LC_ALL=C ls -n`), not on a terminal: one
 * name per line, names byte-sorted and unquoted, long lines aligned per
 * listing, the `+`/`.` marker after the mode for ACLs/security labels, and
 * `total` in KiB. Matching GNU exactly lets tests use it as the oracle on a
 * loop mount of the same image.
 */
import { posix } from 'node:path';
import type { BigIntStats, Volume } from '../vfs/types.js';
import type { CliEnv } from './env.js';
import { devMajor, devMinor, kindOfMode, lsTime, modeString, S_IFBLK, S_IFCHR, S_IFMT } from './format.js';
import { Reporter } from './report.js';
import { joinPath, parseTarget, Volumes, type Target } from './target.js';

export interface LsOptions { long?: boolean; all?: boolean; recursive?: boolean; json?: boolean; offset: number }

interface Entry {
  /** What the listing shows: a name inside a directory, or an operand as typed. */
  shown: string;
  path: string;
  isDir: boolean;
  st?: BigIntStats;
  target?: string;
  /** GNU's marker after the mode: `+` ACL, `.` security label only, `` none. */
  marker: string;
}

export interface LsJsonEntry {
  name: string;
  path: string;
  type: string;
  ino: number;
  mode: number;
  nlink: number;
  uid: number;
  gid: number;
  size: number;
  mtimeNs: string;
  target?: string;
  major?: number;
  minor?: number;
}

class Lister {
  private out: string[] = [];
  readonly json: LsJsonEntry[] = [];
  /** Whether a block was already printed, so the next one is preceded by a blank line. */
  private printedBlock = false;

  constructor(private readonly env: CliEnv, private readonly opts: LsOptions, private readonly report: Reporter) {}

  private get needStat(): boolean { return this.opts.long === true || this.opts.json === true; }

  /** Reads what the listing needs about one file: its stat, link target and ACL marker. */
  private async fill(vol: Volume, e: Entry, label: string): Promise<boolean> {
    try {
      e.st = await vol.promises.lstat(e.path, { bigint: true });
      e.isDir = e.st.isDirectory();
      if (e.st.isSymbolicLink()) e.target = await vol.promises.readlink(e.path);
      if (this.opts.long === true && this.opts.json !== true) e.marker = await aclMarker(vol, e.path);
      return true;
    } catch (err) {
      this.report.error(label, err);
      return false;
    }
  }

  /** One aligned block of entries (a directory's contents, or the file operands). */
  private emitBlock(entries: Entry[], header: string | undefined, total: boolean): void {
    if (this.opts.json === true) {
      for (const e of entries) if (e.st !== undefined) this.json.push(jsonEntry(e));
      return;
    }
    const lines: string[] = [];
    if (this.printedBlock && header !== undefined) lines.push('');
    if (header !== undefined) lines.push(`${header}:`);
    if (this.opts.long === true) {
      const shown = entries.filter((e) => e.st !== undefined);
      if (total) {
        const blocks = shown.reduce((sum, e) => sum + e.st!.blocks, 0n);
        lines.push(`total ${(blocks + 1n) / 2n}`);
      }
      lines.push(...longLines(shown, this.env.nowNs()));
    } else {
      for (const e of entries) lines.push(e.shown);
    }
    if (lines.length > 0) this.out.push(lines.join('\n') + '\n');
    this.printedBlock = true;
    this.flush();
  }

  flush(): void {
    if (this.out.length > 0) this.env.stdout.write(this.out.join(''));
    this.out = [];
  }

  async listOperands(vol: Volume, targets: Target[], forceHeaders: boolean): Promise<void> {
    const files: Entry[] = [];
    const dirs: Entry[] = [];
    for (const t of targets) {
      const e: Entry = { shown: t.path, path: t.path, isDir: false, marker: '' };
      try {
        // GNU ls follows a symlink operand to a directory unless the long format shows the link itself.
        const follow = !this.needStat;
        const st = follow ? await statOrLstat(vol, t.path) : await vol.promises.lstat(t.path, { bigint: true });
        e.isDir = st.isDirectory();
      } catch (err) {
        this.report.error(t.label, err);
        continue;
      }
      if (!e.isDir && this.needStat && !(await this.fill(vol, e, t.label))) continue;
      (e.isDir ? dirs : files).push(e);
    }
    sortEntries(files);
    sortEntries(dirs);
    if (files.length > 0) this.emitBlock(files, undefined, false);
    const headers = forceHeaders || files.length > 0 || dirs.length > 1 || this.opts.recursive === true;
    for (const d of dirs) await this.listDir(vol, d.path, headers, d.path);
  }

  private async listDir(vol: Volume, dirPath: string, header: boolean, label: string): Promise<void> {
    let entries: Entry[];
    try {
      const dirents = await vol.promises.readdir(dirPath, { withFileTypes: true });
      entries = dirents
        .filter((d) => this.opts.all === true || !d.name.startsWith('.'))
        .map((d) => ({ shown: d.name, path: joinPath(dirPath, d.name), isDir: d.isDirectory(), marker: '' }));
      if (this.opts.all === true) {
        entries.push({ shown: '.', path: dirPath, isDir: true, marker: '' });
        entries.push({ shown: '..', path: posix.dirname(dirPath.replace(/\/+$/, '') || '/'), isDir: true, marker: '' });
      }
    } catch (err) {
      if (header) this.emitBlock([], label, false);
      this.report.error(label, err);
      return;
    }
    sortEntries(entries);
    if (this.needStat) {
      const ok = await Promise.all(entries.map((e) => this.fill(vol, e, joinPath(label, e.shown))));
      entries = entries.filter((_, i) => ok[i]);
    }
    this.emitBlock(entries, header ? label : undefined, true);
    if (this.opts.recursive !== true) return;
    for (const e of entries) {
      if (!e.isDir || e.shown === '.' || e.shown === '..') continue;
      await this.listDir(vol, e.path, true, e.path);
    }
  }
}

async function statOrLstat(vol: Volume, path: string): Promise<BigIntStats> {
  try {
    return await vol.promises.stat(path, { bigint: true });
  } catch (err) {
    // A dangling symlink is still listed, as itself.
    if ((err as { code?: string }).code === 'ENOENT') return vol.promises.lstat(path, { bigint: true });
    throw err;
  }
}

async function aclMarker(vol: Volume, path: string): Promise<string> {
  let names: string[];
  try {
    names = await vol.promises.listxattr(path, { noFollow: true });
  } catch {
    return '';
  }
  if (names.includes('system.posix_acl_access') || names.includes('system.posix_acl_default')) return '+';
  return names.includes('security.selinux') ? '.' : '';
}

function sortEntries(entries: Entry[]): void {
  const keyed = entries.map((e) => ({ e, k: Buffer.from(e.shown) }));
  keyed.sort((a, b) => Buffer.compare(a.k, b.k));
  for (let i = 0; i < keyed.length; i++) entries[i] = keyed[i].e;
}

function isDevice(st: BigIntStats): boolean {
  const t = Number(st.mode) & S_IFMT;
  return t === S_IFCHR || t === S_IFBLK;
}

/** The `-l` lines of one block, with GNU's column widths taken over the block. */
function longLines(entries: Entry[], nowNs: bigint): string[] {
  let wLinks = 0, wUid = 0, wGid = 0, wSize = 0, wMajor = 0, wMinor = 0;
  const anyMarker = entries.some((e) => e.marker !== '');
  for (const { st } of entries) {
    wLinks = Math.max(wLinks, String(st!.nlink).length);
    wUid = Math.max(wUid, String(st!.uid).length);
    wGid = Math.max(wGid, String(st!.gid).length);
    if (isDevice(st!)) {
      wMajor = Math.max(wMajor, String(devMajor(st!.rdev)).length);
      wMinor = Math.max(wMinor, String(devMinor(st!.rdev)).length);
    } else {
      wSize = Math.max(wSize, String(st!.size).length);
    }
  }
  // A device shows "major, minor" in the size column, each part aligned on its own.
  if (wMajor > 0) wSize = Math.max(wSize, wMajor + 2 + wMinor);
  return entries.map((e) => {
    const st = e.st!;
    const size = isDevice(st)
      ? `${String(devMajor(st.rdev)).padStart(wMajor)}, ${String(devMinor(st.rdev)).padStart(wMinor)}`
      : String(st.size);
    const marker = anyMarker ? (e.marker || ' ') : '';
    const link = e.target === undefined ? '' : ` -> ${e.target}`;
    return `${modeString(Number(st.mode))}${marker} ${String(st.nlink).padStart(wLinks)} `
      + `${String(st.uid).padStart(wUid)} ${String(st.gid).padStart(wGid)} ${size.padStart(wSize)} `
      + `${lsTime(st.mtimeNs, nowNs)} ${e.shown}${link}`;
  });
}

function jsonEntry(e: Entry): LsJsonEntry {
  const st = e.st!;
  const mode = Number(st.mode);
  const j: LsJsonEntry = {
    name: e.shown === e.path ? posix.basename(e.path) || '/' : e.shown,
    path: e.path,
    type: kindOfMode(mode),
    ino: Number(st.ino),
    mode,
    nlink: Number(st.nlink),
    uid: Number(st.uid),
    gid: Number(st.gid),
    size: Number(st.size),
    mtimeNs: st.mtimeNs.toString(),
  };
  if (e.target !== undefined) j.target = e.target;
  if (isDevice(st)) { j.major = devMajor(st.rdev); j.minor = devMinor(st.rdev); }
  return j;
}

export async function lsCommand(env: CliEnv, operands: string[], opts: LsOptions): Promise<number> {
  const report = new Reporter(env.stderr, 'ls');
  const volumes = new Volumes(env, opts.offset);
  const lister = new Lister(env, opts, report);
  try {
    const targets = operands.map(parseTarget);
    // Operands on the same image are listed together, as GNU ls lists its operands.
    const byImage = new Map<string, Target[]>();
    for (const t of targets) byImage.set(t.image, [...(byImage.get(t.image) ?? []), t]);
    for (const [image, group] of byImage) {
      let vol: Volume;
      try {
        vol = await volumes.get(image);
      } catch (err) {
        for (const t of group) report.error(t.label, err);
        continue;
      }
      await lister.listOperands(vol, group, targets.length > 1);
    }
    if (opts.json === true) env.stdout.write(`${JSON.stringify(lister.json, null, 2)}\n`);
  } finally {
    lister.flush();
    await volumes.closeAll();
  }
  return report.failed ? 1 : 0;
}
