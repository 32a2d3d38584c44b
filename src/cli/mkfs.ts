/**
 * `ext4kit mkfs IMG [SIZE] [-b BS] [-L LABEL] [-U UUID] [-N INODES]
 * [-i BYTES_PER_INODE] [-I INODE_SIZE] [-O FEATURES] [-J size=MB]
 * [-E EXTENDED] [-m PERCENT] [-f] [-q]`: a new ext4 filesystem with the
 * layout mke2fs 1.47 gives it. Options mean what they mean to mke2fs,
 * except SIZE, which is bytes with an optional K/M/G/T suffix (mke2fs
 * counts blocks).
 */
import { mkfs, type MkfsOptions, type MkfsResult } from '../index.js';
import { canPopulate } from '../mkfs/index.js';
import { progressFor } from './progress.js';
import type { CliEnv } from './env.js';
import { Reporter } from './report.js';
import { checkSourceDir, populateImage } from './populate.js';
import { UsageError } from './target.js';

export interface MkfsCliOptions {
  b?: string;
  L?: string;
  U?: string;
  N?: string;
  i?: string;
  I?: string;
  O?: string[];
  J?: string[];
  E?: string[];
  m?: string;
  force?: boolean;
  quiet?: boolean;
  /** -d: a host folder whose contents the new filesystem gets (as mke2fs -d). */
  d?: string;
}

const SIZE_UNITS: Record<string, number> = {
  '': 1, k: 1024, kib: 1024, m: 1024 ** 2, mib: 1024 ** 2, g: 1024 ** 3, gib: 1024 ** 3, t: 1024 ** 4, tib: 1024 ** 4,
};

/** `64M`, `5G`, `1048576`: bytes, with an optional binary K/M/G/T suffix. */
export function parseSize(text: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/i.exec(text.trim());
  const unit = m === null ? undefined : SIZE_UNITS[m[2].toLowerCase()];
  const value = m === null || unit === undefined ? NaN : Math.floor(Number(m[1]) * unit);
  if (!Number.isSafeInteger(value) || value <= 0) throw new UsageError(`invalid size '${text}' (bytes, or with a K/M/G/T suffix)`);
  return value;
}

function parseCount(text: string, what: string): number {
  if (!/^\d+$/.test(text)) throw new UsageError(`invalid ${what} '${text}'`);
  return Number(text);
}

/** `-J size=MB` (the only journal option ext4kit takes). */
function journalSize(opts: readonly string[]): number | undefined {
  let size: number | undefined;
  for (const opt of opts.flatMap((o) => o.split(','))) {
    const m = /^size=(\d+)$/.exec(opt);
    if (m === null) throw new UsageError(`unsupported journal option '${opt}' (only size=MB)`);
    size = Number(m[1]);
  }
  return size;
}

/** `-E root_owner=UID:GID,lazy_itable_init=0|1,lazy_journal_init=0|1,hash_seed=UUID`. */
function extendedOptions(opts: readonly string[], out: MkfsOptions): void {
  for (const opt of opts.flatMap((o) => o.split(','))) {
    const eq = opt.indexOf('=');
    const key = eq < 0 ? opt : opt.slice(0, eq);
    const value = eq < 0 ? undefined : opt.slice(eq + 1);
    const flag = (): boolean => {
      if (value === undefined || value === '1') return true;
      if (value === '0') return false;
      throw new UsageError(`invalid value for ${key}: '${value}' (0 or 1)`);
    };
    switch (key) {
      case 'root_owner': {
        const m = value === undefined ? null : /^(\d+):(\d+)$/.exec(value);
        if (m === null) throw new UsageError(`invalid root_owner '${value ?? ''}' (UID:GID)`);
        out.rootOwner = { uid: Number(m[1]), gid: Number(m[2]) };
        break;
      }
      case 'lazy_itable_init': out.lazyItableInit = flag(); break;
      case 'lazy_journal_init': out.lazyJournalInit = flag(); break;
      case 'hash_seed':
        if (value === undefined) throw new UsageError('hash_seed needs a UUID');
        out.hashSeed = value;
        break;
      default: throw new UsageError(`unsupported extended option '${opt}'`);
    }
  }
}

/** The library options for a command line. */
export function mkfsOptionsFrom(size: string | undefined, o: MkfsCliOptions): MkfsOptions {
  const out: MkfsOptions = { force: o.force === true };
  if (size !== undefined) out.size = parseSize(size);
  if (o.b !== undefined) out.blockSize = parseCount(o.b, 'block size');
  if (o.L !== undefined) out.label = o.L;
  if (o.U !== undefined) out.uuid = o.U;
  if (o.N !== undefined) out.inodes = parseCount(o.N, 'inode count');
  if (o.i !== undefined) out.bytesPerInode = parseCount(o.i, 'bytes per inode');
  if (o.I !== undefined) out.inodeSize = parseCount(o.I, 'inode size');
  if (o.O !== undefined) out.features = o.O;
  if (o.J !== undefined) out.journalSizeMB = journalSize(o.J);
  if (o.E !== undefined) extendedOptions(o.E, out);
  if (o.m !== undefined) {
    const m = Number(o.m);
    if (o.m.trim() === '' || !Number.isFinite(m)) throw new UsageError(`invalid reserved blocks percentage '${o.m}'`);
    out.reservedPercent = m;
  }
  return out;
}

/** What mke2fs prints about the new filesystem. */
function summary(r: MkfsResult): string {
  const lines = [
    `Creating filesystem with ${r.blocksCount} ${r.blockSize / 1024}k blocks and ${r.inodesCount} inodes`,
    `Filesystem UUID: ${r.uuid}`,
  ];
  const backups = r.superblockBackups;
  if (backups.length > 0) lines.push(`Superblock backups stored on blocks: ${backups.join(', ')}`);
  lines.push(r.journalBlocks > 0 ? `Journal: ${r.journalBlocks} blocks` : 'No journal');
  return `${lines.join('\n')}\n`;
}

export async function mkfsCommand(env: CliEnv, image: string, size: string | undefined, o: MkfsCliOptions): Promise<number> {
  const report = new Reporter(env.stderr, 'mkfs');
  const options = mkfsOptionsFrom(size, o);
  try {
    // A bad -d folder is found before anything is written.
    if (o.d !== undefined) checkSourceDir(o.d);
    // mkfs lays the tree out itself and writes it once; without extents the tree is copied in through the volume.
    const bulk = o.d !== undefined && canPopulate(options);
    if (bulk && o.d !== undefined) {
      const quiet = o.quiet === true;
      options.populate = {
        dir: o.d,
        onError: (path, e) => report.error(path.toString('utf8'), e),
        progress: (bytes, files) => progressFor(env.stdout, bytes, files, quiet),
      };
    }
    const result = await mkfs(image, options);
    if (o.quiet !== true) env.stdout.write(summary(result));
    if (o.d !== undefined && !bulk) await populateImage(env, image, o.d, report, o.quiet === true);
  } catch (e) {
    if ((e as { code?: string }).code === 'EEXIST') {
      report.fail(image, 'already contains an ext2/ext3/ext4 filesystem; use -f to overwrite it', 'EEXIST');
    } else {
      report.error(image, e);
    }
  }
  return report.failed ? 1 : 0;
}
