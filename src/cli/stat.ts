/**
 * `ext4kit stat [--json] IMG:PATH...`: GNU stat's default output for a file
 * in the image (not following a final symlink, as stat does without -L).
 * Owner names are the host's, as GNU stat on a loop mount would print them.
 */
import type { BigIntStats } from '../vfs/types.js';
import type { CliEnv } from './env.js';
import { devMajor, devMinor, fileTypeWords, kindOfMode, modeString, S_IFBLK, S_IFCHR, S_IFMT, statTime } from './format.js';
import { groupName, userName } from './ids.js';
import { Reporter } from './report.js';
import { parseTarget, Volumes } from './target.js';

export interface StatOptions { json?: boolean; offset: number }

function isDevice(mode: number): boolean {
  const t = mode & S_IFMT;
  return t === S_IFCHR || t === S_IFBLK;
}

/** ext4 inodes without room for a creation time report 0; GNU stat shows `-` for an unknown birth. */
function birth(st: BigIntStats): string {
  return st.birthtimeNs === 0n ? '-' : statTime(st.birthtimeNs);
}

export function statText(path: string, st: BigIntStats, target: string | undefined): string {
  const mode = Number(st.mode);
  const uid = Number(st.uid);
  const gid = Number(st.gid);
  const name = target === undefined ? path : `${path} -> ${target}`;
  const devLine = `Device: ${devMajor(st.dev)},${devMinor(st.dev)}\tInode: ${String(st.ino).padEnd(11)} Links: `;
  const links = isDevice(mode)
    ? `${String(st.nlink).padEnd(5)} Device type: ${devMajor(st.rdev)},${devMinor(st.rdev)}`
    : String(st.nlink);
  const perm = (mode & 0o7777).toString(8).padStart(4, '0');
  return [
    `  File: ${name}`,
    `  Size: ${String(st.size).padEnd(10)}\tBlocks: ${String(st.blocks).padEnd(10)} IO Block: ${String(st.blksize).padEnd(6)} ${fileTypeWords(mode, st.size)}`,
    devLine + links,
    `Access: (${perm}/${modeString(mode)})  Uid: (${String(uid).padStart(5)}/${userName(uid).padStart(8)})   Gid: (${String(gid).padStart(5)}/${groupName(gid).padStart(8)})`,
    `Access: ${statTime(st.atimeNs)}`,
    `Modify: ${statTime(st.mtimeNs)}`,
    `Change: ${statTime(st.ctimeNs)}`,
    ` Birth: ${birth(st)}`,
  ].join('\n') + '\n';
}

export function statJson(path: string, st: BigIntStats, target: string | undefined): Record<string, unknown> {
  const mode = Number(st.mode);
  const j: Record<string, unknown> = {
    path,
    type: kindOfMode(mode),
    size: Number(st.size),
    blocks: Number(st.blocks),
    blksize: Number(st.blksize),
    ino: Number(st.ino),
    nlink: Number(st.nlink),
    mode,
    modeString: modeString(mode),
    uid: Number(st.uid),
    gid: Number(st.gid),
    atimeNs: st.atimeNs.toString(),
    mtimeNs: st.mtimeNs.toString(),
    ctimeNs: st.ctimeNs.toString(),
    birthtimeNs: st.birthtimeNs === 0n ? null : st.birthtimeNs.toString(),
  };
  if (target !== undefined) j.target = target;
  if (isDevice(mode)) { j.major = devMajor(st.rdev); j.minor = devMinor(st.rdev); }
  return j;
}

export async function statCommand(env: CliEnv, operands: string[], opts: StatOptions): Promise<number> {
  const report = new Reporter(env.stderr, 'stat');
  const volumes = new Volumes(env, opts.offset);
  const json: Array<Record<string, unknown>> = [];
  try {
    for (const operand of operands) {
      const t = parseTarget(operand);
      try {
        const vol = await volumes.get(t.image);
        const st = await vol.promises.lstat(t.path, { bigint: true });
        const target = st.isSymbolicLink() ? await vol.promises.readlink(t.path) : undefined;
        if (opts.json === true) json.push(statJson(t.path, st, target));
        else env.stdout.write(statText(t.path, st, target));
      } catch (err) {
        report.error(t.label, err);
      }
    }
    if (opts.json === true) {
      const value = operands.length === 1 ? json[0] : json;
      if (value !== undefined) env.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
    }
  } finally {
    await volumes.closeAll();
  }
  return report.failed ? 1 : 0;
}
