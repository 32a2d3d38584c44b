/**
 * Deciding where an attribute goes (Linux: the decisions of
 * ext4_xattr_set_handle and ext4_xattr_set_entry), as a pure function of
 * the inode's current attributes. Nothing here changes anything: every
 * ordinary failure (ENODATA, EEXIST, ENOSPC, ENOTSUP) is found before the
 * caller's handle touches a block, as transaction.ts requires.
 *
 * The rules are Linux's:
 *  - an attribute is looked up in the inode body first, then in the block;
 *  - a value goes into the inode body if it fits there (replacing the entry
 *    in place, or appending a new one: in-inode entries are not sorted), and
 *    a copy of the name left in the block is removed;
 *  - otherwise it goes into the block, whose entries stay sorted by (name
 *    index, name length, name) because the kernel's block lookup stops at
 *    the first entry that sorts after the name it wants; a copy in the
 *    inode body is removed;
 *  - if it fits in neither: ENOSPC (also for values larger than a block;
 *    E2BIG is only for values over 64 KiB, which the VFS refuses first).
 *  - setting the value an attribute already has changes nothing.
 */
import { FsError } from '../base/errors.js';
import {
  compareXattrEntries, xattrSpaceNeeded, type XattrEntry, type XattrInput,
} from '../format/xattr.js';
import { sameKey, type XattrKey } from '../format/xattr-name.js';

/** create: fail with EEXIST if present (XATTR_CREATE); replace: ENODATA if absent (XATTR_REPLACE); either: neither. */
export type XattrSetFlags = 'create' | 'replace' | 'either';

/** Where a value may live: anywhere, or only in the inode body (system.data of inline data). */
export type XattrPlacement = 'any' | 'ibody';

export interface XattrState {
  /** In-inode entries in on-disk order. */
  ibody: readonly XattrEntry[];
  /** Bytes for the in-inode entry list, its terminator and the values (0: the inode has no in-inode area). */
  ibodyCapacity: number;
  /** Entries of the xattr block in on-disk order (empty when there is none). */
  block: readonly XattrEntry[];
  /** Bytes for the block's entry list, terminator and values. */
  blockCapacity: number;
}

/** The new lists to write; a list left undefined is unchanged. An empty block list means: no block. */
export interface XattrPlan {
  ibody?: XattrInput[];
  block?: XattrInput[];
  /** The attribute ends up in the inode body (so write that side first: readers never miss it). */
  addsToIbody: boolean;
}

/** An entry as encoders take it; a value in an EA inode keeps its reference, size and hash. */
export function entryInput(e: XattrEntry): XattrInput {
  if (e.valueInum !== 0) return { nameIndex: e.nameIndex, name: e.name, valueInum: e.valueInum, valueSize: e.valueSize, hash: e.hash };
  return { nameIndex: e.nameIndex, name: e.name, value: e.value };
}

function refuseEaInode(e: XattrEntry | undefined): void {
  if (e !== undefined && e.valueInum !== 0) {
    throw new FsError('ENOTSUP', `changing ${e.fullName}, whose value lives in EA inode ${e.valueInum}, is not supported`);
  }
}

function sameValue(e: XattrEntry, value: Uint8Array): boolean {
  return e.valueInum === 0 && e.value !== undefined && Buffer.from(e.value).equals(value);
}

/**
 * The change that sets `key` to `value` (undefined: removes it) under
 * `flags`, or undefined when nothing changes. Throws ENODATA, EEXIST,
 * ENOSPC or ENOTSUP without side effects.
 */
export function planXattrSet(
  state: XattrState, key: XattrKey, value: Uint8Array | undefined, flags: XattrSetFlags, placement: XattrPlacement = 'any',
): XattrPlan | undefined {
  const iIdx = state.ibody.findIndex((e) => sameKey(e, key));
  const bIdx = state.block.findIndex((e) => sameKey(e, key));
  const inIbody = iIdx >= 0 ? state.ibody[iIdx] : undefined;
  // Like Linux, a name present in the inode body hides a copy in the block.
  const inBlock = inIbody === undefined && bIdx >= 0 ? state.block[bIdx] : undefined;
  const found = inIbody ?? inBlock;
  if (found === undefined) {
    if (flags === 'replace') throw new FsError('ENODATA', 'no such extended attribute');
    if (value === undefined) return undefined;
  } else if (flags === 'create') {
    throw new FsError('EEXIST', `extended attribute ${found.fullName} exists`);
  }
  refuseEaInode(found);
  const ibodyWithout = (): XattrInput[] => state.ibody.filter((_, i) => i !== iIdx).map(entryInput);
  const blockWithout = (): XattrInput[] => state.block.filter((_, i) => i !== bIdx).map(entryInput);

  if (value === undefined) {
    return inIbody !== undefined ? { ibody: ibodyWithout(), addsToIbody: false } : { block: blockWithout(), addsToIbody: false };
  }
  if (found !== undefined && sameValue(found, value)) return undefined;

  const entry: XattrInput = { nameIndex: key.nameIndex, name: key.name, value };
  const ibody = state.ibody.map(entryInput);
  if (inIbody !== undefined) ibody[iIdx] = entry;
  else ibody.push(entry);
  if (state.ibodyCapacity > 0 && xattrSpaceNeeded(ibody) <= state.ibodyCapacity) {
    return inBlock !== undefined ? { ibody, block: blockWithout(), addsToIbody: true } : { ibody, addsToIbody: true };
  }
  if (placement === 'ibody') throw new FsError('ENOSPC', 'no room in the inode for the attribute');

  // Into the block. A stale copy there (behind one in the inode body) is replaced too.
  refuseEaInode(bIdx >= 0 ? state.block[bIdx] : undefined);
  const block = state.block.map(entryInput);
  if (bIdx >= 0) {
    block[bIdx] = entry;
  } else {
    const at = block.findIndex((e) => compareXattrEntries(key, e) <= 0);
    block.splice(at < 0 ? block.length : at, 0, entry);
  }
  if (xattrSpaceNeeded(block) > state.blockCapacity) {
    throw new FsError('ENOSPC', 'no room for the extended attribute in the inode or its xattr block');
  }
  return inIbody !== undefined ? { ibody: ibodyWithout(), block, addsToIbody: false } : { block, addsToIbody: false };
}
