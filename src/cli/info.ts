/**
 * `ext4kit info IMG`: the superblock facts a user looks for in
 * `dumpe2fs -h`, under the same labels so the two can be read side by side.
 */
import type { VolumeInfo } from '../vfs/types.js';
import type { CliEnv } from './env.js';
import { ctimeString, humanBytes } from './format.js';
import { Reporter } from './report.js';
import { parseTarget, Volumes } from './target.js';

export interface InfoOptions { json?: boolean; offset: number }

/** The label/value rows of the text output, in dumpe2fs's order where it has the field. */
export function infoRows(i: VolumeInfo): Array<[string, string]> {
  const time = (d: Date | undefined): string => (d === undefined ? 'n/a' : ctimeString(d));
  const rows: Array<[string, string]> = [
    ['Filesystem volume name', i.label === '' ? '<none>' : i.label],
    ['Last mounted on', i.lastMountedOn === '' ? '<not available>' : i.lastMountedOn],
    ['Filesystem UUID', i.uuid],
    ['Filesystem revision #', `${i.revision}${i.revision === 1 ? ' (dynamic)' : i.revision === 0 ? ' (original)' : ''}`],
    ['Filesystem features', i.features.length === 0 ? '(none)' : i.features.join(' ')],
    ['Filesystem state', i.state],
    ['Filesystem OS type', i.creatorOs],
    ['Filesystem size', humanBytes(i.sizeBytes)],
    ['Inode count', String(i.inodesCount)],
    ['Block count', String(i.blocksCount)],
    ['Reserved block count', String(i.reservedBlocksCount)],
    ['Free blocks', String(i.freeBlocksCount)],
    ['Free inodes', String(i.freeInodesCount)],
    ['Block size', String(i.blockSize)],
    ['Block groups', String(i.groupCount)],
    ['Blocks per group', String(i.blocksPerGroup)],
    ['Inodes per group', String(i.inodesPerGroup)],
    ['Filesystem created', time(i.createdTime)],
    ['Last mount time', time(i.lastMountTime)],
    ['Last write time', time(i.lastWriteTime)],
    ['Mount count', String(i.mountCount)],
    ['Inode size', String(i.inodeSize)],
  ];
  // Like dumpe2fs, only filesystems that have a journal / metadata checksums show these.
  if (i.journalInode !== 0) rows.push(['Journal inode', String(i.journalInode)]);
  if (i.checksumType !== undefined) rows.push(['Checksum type', i.checksumType]);
  return rows;
}

/** JSON keeps numbers as numbers and times as ISO strings (null when unset). */
export function infoJson(i: VolumeInfo): Record<string, unknown> {
  const iso = (d: Date | undefined): string | null => (d === undefined ? null : d.toISOString());
  return {
    ...i,
    createdTime: iso(i.createdTime),
    lastMountTime: iso(i.lastMountTime),
    lastWriteTime: iso(i.lastWriteTime),
    checksumType: i.checksumType ?? null,
  };
}

export async function infoCommand(env: CliEnv, operand: string, opts: InfoOptions): Promise<number> {
  const report = new Reporter(env.stderr, 'info');
  const target = parseTarget(operand);
  const volumes = new Volumes(env, opts.offset);
  try {
    const info = (await volumes.get(target.image)).info();
    if (opts.json === true) {
      env.stdout.write(`${JSON.stringify(infoJson(info), null, 2)}\n`);
    } else {
      const rows = infoRows(info);
      // dumpe2fs's value column starts at 26; keep it so the outputs line up.
      const width = Math.max(26, ...rows.map(([k]) => k.length + 2));
      env.stdout.write(rows.map(([k, v]) => `${`${k}:`.padEnd(width)}${v}\n`).join(''));
    }
  } catch (e) {
    report.error(target.image, e);
  } finally {
    await volumes.closeAll();
  }
  return report.failed ? 1 : 0;
}
