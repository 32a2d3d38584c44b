/**
 * Where to split a full htree leaf (Linux: do_split with dx_make_map and
 * dx_sort_map). Pure: given the live entries of the leaf with their hashes,
 * it says which entries stay, which move to the new leaf, the hash the new
 * leaf starts at in the index, and which leaf takes the new entry.
 *
 * Linux's rule: sort the entries by hash and move entries from the top
 * while less than half of the block has moved, counting each entry by its
 * rec_len (its slack included); if that never passes half a block, split by
 * count. The new leaf starts at the hash of its first entry; when the entry
 * below the split has the same hash, a run of equal hashes spans both
 * leaves, and the index entry gets its low bit set ("continued") so lookups
 * of that hash go on to the next leaf. The new entry goes to the upper leaf
 * when its hash is at or above the split hash.
 *
 * For a full leaf of two or more entries that rule always leaves room for
 * the new entry (each entry's slack is below the new entry's size, or the
 * leaf would not be full, which bounds both halves to about 5/8 of a 1 KiB
 * block), and Linux relies on it. A leaf whose free space sits in separate
 * unused records, with fewer than two live entries, has no such split; it
 * (and any split that would not fit, should the bound ever fail) is split
 * by packed sizes instead: the most even split, over the entries and the
 * new one in hash order, that leaves both leaves within the block.
 */
import { assert } from '../base/assert.js';
import { dirEntrySize } from '../format/dirent.js';
import type { LeafRecord } from './leaf-block.js';

export interface HashedRecord extends LeafRecord {
  /** Major hash of the name (low bit clear). */
  hash: number;
  /** rec_len as the record sits in the block being split (map size in do_split). */
  recLen: number;
}

export interface LeafSplit {
  /** Entries staying in the old leaf, in their on-disk order (the new one not included). */
  lower: HashedRecord[];
  /** Entries moving to the new leaf, in hash order (the new one not included). */
  upper: HashedRecord[];
  /** Hash value of the new leaf's index entry: its lowest hash, low bit set when continued. */
  indexHash: number;
  /** Whether the new entry goes to the new (upper) leaf. */
  newGoesUpper: boolean;
}

/**
 * Splits `records` (the leaf's live entries in on-disk order) for a new
 * entry of hash `newHash` and name length `newNameLen`, in blocks whose
 * entry area is `capacity` bytes of a `blockSize`-byte block.
 */
export function splitLeaf(records: readonly HashedRecord[], newHash: number, newNameLen: number, blockSize: number, capacity: number): LeafSplit {
  const newSize = dirEntrySize(newNameLen);
  const linux = linuxSplit(records, newHash, blockSize);
  if (linux !== undefined && fits(linux, newSize, capacity)) return linux;
  return balancedSplit(records, newHash, newSize, capacity);
}

function used(rs: readonly HashedRecord[]): number {
  let n = 0;
  for (const r of rs) n += dirEntrySize(r.name.length);
  return n;
}

function fits(s: LeafSplit, newSize: number, capacity: number): boolean {
  const lower = used(s.lower) + (s.newGoesUpper ? 0 : newSize);
  const upper = used(s.upper) + (s.newGoesUpper ? newSize : 0);
  return lower <= capacity && upper <= capacity;
}

/** Records sorted by hash; equal hashes keep their on-disk order (a stable sort). */
function byHash(records: readonly HashedRecord[]): HashedRecord[] {
  return records.map((r, i) => ({ r, i })).sort((a, b) => a.r.hash - b.r.hash || a.i - b.i).map((x) => x.r);
}

function makeSplit(records: readonly HashedRecord[], sorted: readonly HashedRecord[], split: number, newHash: number): LeafSplit {
  const hash2 = sorted[split].hash;
  const continued = split > 0 && sorted[split - 1].hash === hash2;
  const moving = new Set(sorted.slice(split));
  return {
    lower: records.filter((r) => !moving.has(r)),
    upper: sorted.slice(split),
    indexHash: (hash2 | (continued ? 1 : 0)) >>> 0,
    newGoesUpper: newHash >>> 0 >= hash2,
  };
}

function linuxSplit(records: readonly HashedRecord[], newHash: number, blockSize: number): LeafSplit | undefined {
  const count = records.length;
  if (count < 2) return undefined;
  const sorted = byHash(records);
  const half = Math.floor(blockSize / 2);
  let size = 0;
  let move = 0;
  let i = count - 1;
  for (; i >= 0; i--) {
    if (size + Math.floor(sorted[i].recLen / 2) > half) break;
    size += sorted[i].recLen;
    move++;
  }
  const split = i > 0 ? count - move : Math.floor(count / 2);
  return makeSplit(records, sorted, split, newHash);
}

/**
 * The most even split by packed size. The new entry is placed after every
 * entry of an equal hash, matching the rule that it goes up when its hash
 * equals the split hash.
 */
function balancedSplit(records: readonly HashedRecord[], newHash: number, newSize: number, capacity: number): LeafSplit {
  const sorted = byHash(records);
  let at = 0;
  while (at < sorted.length && sorted[at].hash <= newHash >>> 0) at++;
  const sizes = sorted.map((r) => dirEntrySize(r.name.length));
  sizes.splice(at, 0, newSize);
  const n = sizes.length;
  const total = sizes.reduce((a, b) => a + b, 0);
  let best: { split: number; worst: number } | undefined;
  let lowerBytes = 0;
  for (let s = 0; s < n; s++) {
    // s entries (in hash order, the new one included) stay below.
    if (s > 0) lowerBytes += sizes[s - 1];
    const worst = Math.max(lowerBytes, total - lowerBytes);
    if (lowerBytes > capacity || total - lowerBytes > capacity) continue;
    // A split at 0 leaves the old leaf empty; take it only when nothing else fits.
    const score = s === 0 ? worst + 2 * capacity : worst;
    if (best === undefined || score < best.worst) best = { split: s, worst: score };
  }
  assert(best !== undefined, 'no split of a directory leaf leaves room for the new entry');
  // Map the split over (entries + new) back to one over the entries alone.
  const s = best.split;
  if (s > at) return makeSplit(records, sorted, s - 1, newHash);
  if (s < at) return makeSplit(records, sorted, s, newHash);
  // The new entry is the first of the upper leaf, so its hash starts it.
  const staying = new Set(sorted.slice(0, s));
  const h = newHash >>> 0;
  const continued = s > 0 && sorted[s - 1].hash === h;
  return { lower: records.filter((r) => staying.has(r)), upper: sorted.slice(s), indexHash: (h | (continued ? 1 : 0)) >>> 0, newGoesUpper: true };
}
