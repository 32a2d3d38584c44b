/**
 * mkfs: a new, empty ext4 filesystem laid out block for block as mke2fs
 * 1.47 lays it out for the same options (docs/architecture.md lists where
 * the bytes still differ, and why).
 *
 * Order of work: compute the layout, place the special files, derive every
 * group's state, then write everything in ascending order and flush. The
 * image is left clean and unmounted-looking, ready for a writable volume to
 * open and populate.
 */
import { randomUUID } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { FsError } from '../base/errors.js';
import type { BlockDevice } from '../device/block-device.js';
import { featureNames } from '../format/features.js';
import { fsChecksumSeed, uuidString } from '../format/superblock.js';
import { hasFeature, resolveFeatures, setFeature } from './features.js';
import { groupStart } from './geometry.js';
import { computeGroupStates } from './group-state.js';
import { imageWrites } from './image.js';
import { computeLayout, type Layout } from './layout.js';
import type { MkfsOptions } from './options.js';
import { backupGroups } from './resize-inode.js';
import { buildSpecialFiles, JOURNAL_INO } from './special-files.js';
import { fillSuperblock, setJournalBackup } from './superblock-init.js';
import { openTarget } from './target.js';
import { WriteSet } from './write-set.js';
import { BulkBuild, scanTree, type ScannedTree } from './bulk-build.js';

export interface MkfsResult {
  /** The filesystem UUID, 8-4-4-4-12. */
  uuid: string;
  blockSize: number;
  blocksCount: number;
  inodesCount: number;
  groupCount: number;
  /** Feature names as dumpe2fs lists them. */
  features: string[];
  /** Journal length in blocks (0 without one). */
  journalBlocks: number;
  /** Blocks holding backup superblocks, ascending. */
  superblockBackups: number[];
  /** The layout that was written. */
  layout: Layout;
}

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** A UUID given as text (8-4-4-4-12, or `null`/`clear`/`random` as mke2fs takes them) or as 16 bytes. */
export function parseUuid(value: string | Uint8Array, what: string): Uint8Array {
  if (typeof value !== 'string') {
    if (value.length !== 16) throw new FsError('EINVAL', `${what} must be 16 bytes`);
    return value.slice();
  }
  const text = value.toLowerCase();
  if (text === 'null' || text === 'clear') return new Uint8Array(16);
  if (text === 'random') return parseUuid(randomUUID(), what);
  if (!UUID_RE.test(text)) throw new FsError('EINVAL', `invalid ${what} '${value}' (expected xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)`);
  return Uint8Array.from(Buffer.from(text.replace(/-/g, ''), 'hex'));
}

function labelBytes(label: string | undefined): Uint8Array {
  const bytes = new TextEncoder().encode(label ?? '');
  if (bytes.length > 16) throw new FsError('EINVAL', `the label '${label}' is longer than 16 bytes`);
  if (bytes.includes(0)) throw new FsError('EINVAL', 'the label contains a NUL byte');
  return bytes;
}

function creationTime(time: number | Date | undefined, inodeSize: number): number {
  const t = time === undefined ? Math.floor(Date.now() / 1000) : time instanceof Date ? Math.floor(time.getTime() / 1000) : time;
  // 128-byte inodes have no room for the epoch bits of times past 2038; with them, times reach 2446.
  const max = inodeSize > 128 ? 3 * 2 ** 32 + 2 ** 31 : 2 ** 31;
  if (!Number.isInteger(t) || t < 0 || t >= max) throw new FsError('EINVAL', `creation time ${String(time)} is outside what the inodes can store`);
  return t;
}

function checkOwner(owner: { uid: number; gid: number }): void {
  for (const id of [owner.uid, owner.gid]) {
    if (!Number.isInteger(id) || id < 0 || id >= 2 ** 32) throw new FsError('EINVAL', `invalid root owner ${owner.uid}:${owner.gid}`);
  }
}

/**
 * Makes a new ext4 filesystem on `target`: a path (created sparse at
 * `options.size` when it does not exist) or a BlockDevice. Refuses a
 * target that already holds an ext2/3/4 filesystem unless `options.force`.
 */
export async function mkfs(target: string | BlockDevice, options: MkfsOptions = {}): Promise<MkfsResult> {
  // Everything that can be rejected is checked before the target is touched.
  const uuid = parseUuid(options.uuid ?? randomUUID(), 'UUID');
  let hashSeed = parseUuid(options.hashSeed ?? randomUUID(), 'hash seed');
  // A zero seed means "choose one", as in mke2fs (the kernel would replace it anyway).
  if (hashSeed.every((b) => b === 0)) hashSeed = parseUuid(randomUUID(), 'hash seed');
  const label = labelBytes(options.label);
  const rootOwner = options.rootOwner ?? { uid: 0, gid: 0 };
  checkOwner(rootOwner);
  if (options.populate !== undefined && !canPopulate(options)) {
    throw new FsError('ENOTSUP', 'mkfs -d builds extent-mapped files only: it needs the extent feature');
  }
  // A -d folder that cannot be read is found before the target is touched.
  const tree = options.populate === undefined ? undefined : scanTree(options.populate);
  // The layout is computed before the target is touched (a refused request changes nothing) and reused.
  let checked: { deviceBytes: number; layout: Layout } | undefined;
  let opened: Awaited<ReturnType<typeof openTarget>>;
  try {
    opened = await openTarget(target, options, (deviceBytes) => {
      checked = { deviceBytes, layout: computeLayout(options, deviceBytes) };
    });
  } catch (e) {
    tree?.progress.done();
    throw e;
  }
  try {
    const layout = checked !== undefined && checked.deviceBytes === opened.device.size ? checked.layout : computeLayout(options, opened.device.size);
    const result = await makeFilesystem(opened.device, layout, opened.zeroed, options, { uuid, hashSeed, label, rootOwner }, tree);
    await opened.device.flush();
    return result;
  } catch (e) {
    if (opened.created !== undefined) await rm(opened.created, { force: true });
    throw e;
  } finally {
    tree?.progress.done();
    if (opened.owned) await opened.device.close();
  }
}

/** Whether `mkfs` can fill a filesystem with these options from a host tree (`populate`): it needs extents. */
export function canPopulate(options: MkfsOptions): boolean {
  return hasFeature(resolveFeatures(options.features), 'extent');
}

interface Identity {
  uuid: Uint8Array;
  hashSeed: Uint8Array;
  label: Uint8Array;
  rootOwner: { uid: number; gid: number };
}

async function makeFilesystem(device: BlockDevice, layout: Layout, zeroed: boolean, options: MkfsOptions, id: Identity, tree: ScannedTree | undefined): Promise<MkfsResult> {
  const g = layout.geometry;
  const sb = g.sb;
  const time = creationTime(options.time, g.inodeSize);
  fillSuperblock(sb, { uuid: id.uuid, hashSeed: id.hashSeed, label: id.label, time });
  const fsSeed = fsChecksumSeed(sb);
  const csum = hasFeature(sb, 'metadata_csum');

  const files = buildSpecialFiles(layout, {
    time,
    fsSeed: csum ? fsSeed : undefined,
    rootOwner: id.rootOwner,
    zeroJournal: !zeroed && options.lazyJournalInit !== true,
  });
  // On a device that reads as zeros nothing needs zeroing first: the data goes out as it is placed.
  const bulkCtx = { layout, files, time, uuid: id.uuid, fsSeed: csum ? fsSeed : undefined };
  const bulk = tree === undefined ? undefined : await BulkBuild.plan(tree, bulkCtx, zeroed ? device : undefined);
  if (files.needsLargeFile || bulk?.largeFile === true) setFeature(sb, 'large_file', true);
  // The inodes are encoded (once the xattrs have come) while the queued writes drain.
  const data = bulk !== undefined && zeroed ? bulk.writeData(device) : undefined;
  data?.catch(() => undefined);
  const inodeTables = await bulk?.finish();
  if (data !== undefined) await data;
  const itableZeroed = zeroed || options.lazyItableInit === false;
  const groups = computeGroupStates(layout, {
    usedInodes: inodeTables?.usedInodes() ?? files.usedInodes,
    directories: bulk === undefined ? files.directories : [...new Set([...files.directories, ...bulk.directories])],
    itableZeroed, fsSeed: csum ? fsSeed : undefined,
  });

  sb.freeBlocksCount = groups.reduce((n, s) => n + s.desc.freeBlocksCount, 0);
  sb.freeInodesCount = groups.reduce((n, s) => n + s.desc.freeInodesCount, 0);
  sb.overheadClusters = layout.overheadClusters;
  if (files.journal !== undefined) {
    sb.journalInum = JOURNAL_INO;
    setJournalBackup(sb, files.journal.iblock, files.journal.size);
  }
  sb.orphanFileInum = files.orphanIno;

  const sector0 = zeroed ? undefined : await device.read(0, 512);
  const input = { layout, files, groups, fsSeed, zeroed, zeroInodeTables: itableZeroed && !zeroed, inodeTables };
  // s_kbytes_written: mke2fs starts the count at 1 and adds what it wrote; the superblocks
  // carry the total, so the writes are assembled once to measure them and once for real.
  const measure = new WriteSet();
  imageWrites(sb, input, sector0, measure);
  sb.kbytesWritten = 1n + BigInt(Math.floor((measure.byteCount + (bulk?.dataBytes ?? 0)) / 1024));
  const writes = new WriteSet();
  imageWrites(sb, input, sector0, writes);
  if (bulk !== undefined && !zeroed) {
    await writes.executeZeros(device);
    await bulk.writeData(device);
  }
  await writes.execute(device);

  return {
    uuid: uuidString(sb.uuid),
    blockSize: g.blockSize,
    blocksCount: g.blocksCount,
    inodesCount: sb.inodesCount,
    groupCount: g.groupCount,
    features: featureNames(sb),
    journalBlocks: layout.journalBlocks,
    superblockBackups: backupGroups(g).map((group) => groupStart(g, group)),
    layout,
  };
}
