/**
 * Walking an htree index by hash (Linux: dx_probe, ext4_htree_next_block),
 * for the write path. The path records, per index level, the node's entries
 * and the entry taken, so an insert can split nodes bottom up and a lookup
 * can step to the next leaf of a run of equal hashes.
 */
import type { Ext4Super } from '../super/ext4-super.js';
import type { Ext4Inode } from '../inode/ext4-inode.js';
import { corrupted } from '../base/errors.js';
import { dxLookup, DX_MAX_INDIRECT_LEVELS, DX_MAX_INDIRECT_LEVELS_LARGEDIR, type DxEntry, type DxRoot } from '../format/htree.js';
import { DX_HASH_TEA, dirHash, effectiveHashVersion } from '../format/dirhash.js';
import { dirBlockCount, readDxNode, readDxRoot } from './dir-blocks.js';

/** One index block as the write path edits it. */
export interface IndexNode {
  lblk: number;
  /**
   * Live entries (entry 0's hash is meaningless: it is where count/limit
   * sit). As probed, the array is the buffer cache's decoded one: whoever
   * changes it replaces it with a copy first (`ownEntries`).
   */
  entries: DxEntry[];
  limit: number;
}

export interface PathLevel {
  node: IndexNode;
  /** Index of the entry followed. */
  at: number;
}

export interface HtreePath {
  root: DxRoot;
  /** levels[0] is the root, the last is the node whose entries point at leaves. */
  levels: PathLevel[];
  /** The name's major hash. */
  hash: number;
  /** Blocks in the directory when probed. */
  dirBlocks: number;
}

/** Index levels a directory may have, root included (ext4_dir_htree_level): 3 with large_dir, else 2. */
export function htreeMaxLevels(fs: Ext4Super): number {
  return 1 + (fs.hasLargeDir ? DX_MAX_INDIRECT_LEVELS_LARGEDIR : DX_MAX_INDIRECT_LEVELS);
}

/** The hash version a new index gets (make_indexed_dir: s_def_hash_version). */
export function defaultHashVersion(fs: Ext4Super): number {
  const v = fs.sb.defHashVersion;
  // Only legacy, half_md4 and tea can be a default; anything else is corrupt.
  if (v > DX_HASH_TEA) throw corrupted('superblock', undefined, `default hash version ${v} is not one a directory index can use`);
  return v;
}

/** The name's major hash under an index of `hashVersion`, with the superblock's seed and signedness. */
export function nameHash(fs: Ext4Super, name: Uint8Array, hashVersion: number): number {
  return dirHash(name, effectiveHashVersion(hashVersion, fs.sb.flags), fs.sb.hashSeed).hash;
}

function childBlock(dir: Ext4Inode, e: DxEntry, dirBlocks: number): number {
  if (e.block < 1 || e.block >= dirBlocks) {
    throw corrupted('inode', dir.ino, `htree points to block ${e.block}, outside the directory (${dirBlocks} blocks)`);
  }
  return e.block;
}

/** Descends from the root to the leaf whose hash range holds `name` (dx_probe). */
export async function probe(fs: Ext4Super, dir: Ext4Inode, name: Uint8Array): Promise<HtreePath> {
  const dirBlocks = dirBlockCount(fs, dir);
  const root = await readDxRoot(fs, dir);
  const hash = nameHash(fs, name, root.hashVersion);
  const rootNode: IndexNode = { lblk: 0, entries: root.entries, limit: root.limit };
  const levels: PathLevel[] = [{ node: rootNode, at: dxLookup(rootNode.entries, hash) }];
  for (let level = 1; level <= root.indirectLevels; level++) {
    const up = levels[level - 1];
    const lblk = childBlock(dir, up.node.entries[up.at], dirBlocks);
    const node = await readDxNode(fs, dir, lblk);
    levels.push({ node: { lblk, entries: node.entries, limit: node.limit }, at: dxLookup(node.entries, hash) });
  }
  return { root, levels, hash, dirBlocks };
}

/** The leaf the path leads to. */
export function leafOf(dir: Ext4Inode, path: HtreePath): number {
  const bottom = path.levels[path.levels.length - 1];
  return childBlock(dir, bottom.node.entries[bottom.at], path.dirBlocks);
}

/**
 * Moves the path to the next leaf if the run of `path.hash` may continue
 * there (ext4_htree_next_block): the next index entry, at whatever level,
 * starts at the same hash with the continuation bit. Returns false when the
 * hash cannot be further on.
 */
export async function nextLeafOfRun(fs: Ext4Super, dir: Ext4Inode, path: HtreePath): Promise<boolean> {
  const { levels } = path;
  let level = levels.length - 1;
  while (level >= 0 && levels[level].at + 1 >= levels[level].node.entries.length) level--;
  if (level < 0) return false;
  levels[level].at++;
  const next = levels[level].node.entries[levels[level].at].hash;
  if (((next & ~1) >>> 0) !== path.hash) return false;
  for (let l = level + 1; l < levels.length; l++) {
    const up = levels[l - 1];
    const lblk = childBlock(dir, up.node.entries[up.at], path.dirBlocks);
    const node = await readDxNode(fs, dir, lblk);
    levels[l] = { node: { lblk, entries: node.entries, limit: node.limit }, at: 0 };
  }
  return true;
}

/** Gives every node of the path its own entries array, before an insert edits them (entries themselves are never changed, only replaced). */
export function ownEntries(path: HtreePath): void {
  for (const l of path.levels) l.node.entries = l.node.entries.slice();
}
