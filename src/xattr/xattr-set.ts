/**
 * Setting and removing extended attributes (Linux: ext4_xattr_set_handle,
 * ext4_xattr_set and the VFS steps around them).
 *
 * Three levels:
 *  - `setXattrKey`: an on-disk key and stored value inside the caller's
 *    handle (also used for inline data's system.data);
 *  - `setXattr` / `removeXattr`: a user-visible name and value inside the
 *    caller's handle;
 *  - `changeXattr`: the whole operation, as setxattr(2)/removexattr(2) do it:
 *    inode lock, block reservation, handle, ACL mode update, ctime, inode
 *    write.
 *
 * Callers of the first two hold the inode's rwsem exclusively (nothing else
 * may change this inode's attributes meanwhile), reserved a block with
 * `reserveXattrBlock` before starting the handle, gave the handle
 * `XATTR_SET_CREDITS`, and write the inode (InodeTable.writeInode) before the
 * handle stops when the call returns true.
 *
 * Readers never see a half-made change: the in-inode area is replaced in one
 * synchronous step together with the parsed copy readers use
 * (`ibodyXattrCache`), an xattr block is rewritten between two awaits, and
 * when an attribute moves between the inode and the block, the side that
 * gains it is written first.
 */
import type { Ext4Super } from '../super/ext4-super.js';
import type { Ext4Inode } from '../inode/ext4-inode.js';
import type { InodeTable } from '../inode/inode-table.js';
import type { Handle } from '../journal/transaction.js';
import type { BlockReservation } from '../alloc/block-alloc.js';
import type { Timestamp } from '../format/inode.js';
import { allocatorsOf } from '../alloc/allocators.js';
import { assert } from '../base/assert.js';
import { corrupted, FsError, isFsError } from '../base/errors.js';
import {
  encodeInodeXattrs, parseInodeXattrs, XATTR_IBODY_HEADER_SIZE, XATTR_INDEX_POSIX_ACL_ACCESS, type XattrInput,
} from '../format/xattr.js';
import { blockXattrs, ibodyXattrs } from './xattr-read.js';
import { aclModeUpdate, diskValueOf, isAclIndex, xattrKeyOf, type XattrKey } from '../format/xattr-name.js';
import { planXattrSet, type XattrPlacement, type XattrSetFlags, type XattrState } from './xattr-plan.js';
import { writeXattrBlock, xattrBlockCapacity, xattrBlockWriteNeedsBlock } from './xattr-block-write.js';

export type { XattrSetFlags } from './xattr-plan.js';

/**
 * Journal credits of one attribute change: the inode's table block; a new
 * xattr block with its bitmap, descriptor block and the superblock; the old
 * block (refcount update) or, when freed, its bitmap and descriptor block
 * (another group's, at worst) and its revoke record.
 */
export const XATTR_SET_CREDITS = 8;

/**
 * Sets a block aside for a change that may need a new xattr block. On a full
 * disk the reservation is empty rather than an error: most changes need no
 * new block, and one that does then fails with ENOSPC before changing anything.
 */
export function reserveXattrBlock(fs: Ext4Super): BlockReservation {
  const blocks = allocatorsOf(fs).blocks;
  try {
    return blocks.reserve(1, false);
  } catch (e) {
    if (isFsError(e) && e.code === 'ENOSPC') return blocks.reserve(0, false);
    throw e;
  }
}

/**
 * Bytes of the in-inode area for entries and values (after the 4-byte
 * magic); 0 when the inode has none. Like Linux, an inode whose
 * i_extra_isize is 0 keeps no attributes in its body.
 */
export function ibodyCapacity(fs: Ext4Super, inode: Ext4Inode): number {
  if (fs.inodeSize <= 128 || inode.disk.extraIsize === 0) return 0;
  return Math.max(0, inode.disk.xattrSpace.length - XATTR_IBODY_HEADER_SIZE);
}

/** The inode's attributes as the planner sees them. */
export async function readXattrState(fs: Ext4Super, inode: Ext4Inode): Promise<XattrState> {
  const capacity = ibodyCapacity(fs, inode);
  return {
    ibody: capacity > 0 ? ibodyXattrs(fs, inode) : [],
    ibodyCapacity: capacity,
    block: await blockXattrs(fs, inode),
    blockCapacity: xattrBlockCapacity(fs),
  };
}

/** Replaces the in-inode attributes, and the parsed copy readers use, in one step. */
function writeIbodyXattrs(inode: Ext4Inode, entries: readonly XattrInput[]): void {
  const area = new Uint8Array(inode.disk.xattrSpace.length);
  encodeInodeXattrs(entries, area);
  inode.disk.xattrSpace = area;
  inode.ibodyXattrCache = entries.length === 0 ? [] : parseInodeXattrs(area, 0, area.length, inode.ino);
}

function checkCaller(inode: Ext4Inode): void {
  assert(inode.rwsem.writeLocked, () => `xattr change on inode ${inode.ino} without its rwsem held exclusively`);
}

/**
 * Sets the attribute `key` to `value` as stored on disk (undefined:
 * removes it). Returns whether anything changed (then the caller writes
 * the inode). Throws ENODATA / EEXIST for `flags`, ENOSPC when the value
 * fits neither in the inode nor in the block (or, with placement `ibody`,
 * not in the inode), ENOTSUP for a value kept in an EA inode — all before
 * changing anything.
 */
export async function setXattrKey(
  fs: Ext4Super, h: Handle, inode: Ext4Inode, key: XattrKey, value: Uint8Array | undefined,
  flags: XattrSetFlags, r: BlockReservation, placement: XattrPlacement = 'any',
): Promise<boolean> {
  checkCaller(inode);
  const plan = planXattrSet(await readXattrState(fs, inode), key, value, flags, placement);
  if (plan === undefined) return false;
  const block = plan.block;
  if (block !== undefined && r.remaining < 1 && (await xattrBlockWriteNeedsBlock(fs, inode, block))) {
    throw new FsError('ENOSPC', 'no free block for the xattr block');
  }
  // From here on the in-memory inode changes: a failure past this point
  // must abort the journal, or the inode would be written later with half
  // of this change.
  h.changed = true;
  if (plan.addsToIbody) {
    writeIbodyXattrs(inode, plan.ibody!);
    if (block !== undefined) await writeXattrBlock(fs, h, inode, block, r);
  } else {
    if (block !== undefined) await writeXattrBlock(fs, h, inode, block, r);
    if (plan.ibody !== undefined) writeIbodyXattrs(inode, plan.ibody);
  }
  return true;
}

/**
 * An in-inode-only change (system.data of inline data), prepared in two
 * steps so that the caller can make it together with its own changes to the
 * inode in one synchronous step, where no reader can see half of it:
 * planning (which reads, and throws ENODATA / EEXIST / ENOSPC before any
 * change), then the returned function, which changes the in-memory inode
 * (undefined when nothing changes). Nothing else may change the inode's
 * attributes in between: the caller holds its rwsem.
 */
export async function prepareIbodyXattrChange(
  fs: Ext4Super, h: Handle, inode: Ext4Inode, key: XattrKey, value: Uint8Array | undefined, flags: XattrSetFlags,
  opts: { newInode?: boolean } = {},
): Promise<(() => void) | undefined> {
  // An inode made in this very handle is reachable by nobody else yet: it needs no lock.
  if (opts.newInode !== true) checkCaller(inode);
  const plan = planXattrSet(await readXattrState(fs, inode), key, value, flags, 'ibody');
  if (plan === undefined) return undefined;
  if (plan.block !== undefined) throw corrupted('inode', inode.ino, 'an attribute kept in the inode body is also in the xattr block');
  const ibody = plan.ibody!;
  return () => {
    h.changed = true;
    writeIbodyXattrs(inode, ibody);
  };
}

/**
 * setxattr inside the caller's handle: `name` is a full name (`user.x`,
 * `system.posix_acl_access`, ...), `value` as user space passes it (ACLs in
 * their xattr form). Returns whether the inode changed (attributes, or the
 * mode bits an access ACL sets: Linux's posix_acl_update_mode; an ACL the
 * mode expresses exactly is not stored, and an empty ACL value removes it).
 * Errors as Linux: ENOTSUP / EINVAL / ERANGE for the name, E2BIG over
 * 64 KiB, EINVAL for a malformed ACL, EACCES for a default ACL on a
 * non-directory, and those of `setXattrKey`. Linux ignores the create and
 * replace flags for ACLs; so does this.
 */
export async function setXattr(
  fs: Ext4Super, h: Handle, inode: Ext4Inode, name: string, value: Uint8Array, flags: XattrSetFlags, r: BlockReservation,
): Promise<boolean> {
  const key = xattrKeyOf(name);
  let stored = diskValueOf(key, value, inode.isDir);
  if (!isAclIndex(key.nameIndex)) return setXattrKey(fs, h, inode, key, stored, flags, r);
  let mode = inode.disk.mode;
  if (key.nameIndex === XATTR_INDEX_POSIX_ACL_ACCESS && stored !== undefined) {
    const update = aclModeUpdate(mode, value);
    mode = update.mode;
    if (update.equivalent) stored = undefined;
  }
  const changed = await setXattrKey(fs, h, inode, key, stored, 'either', r);
  if (mode === inode.disk.mode) return changed;
  inode.disk.mode = mode;
  return true;
}

/** removexattr inside the caller's handle: ENODATA when absent (but removing an absent ACL succeeds, as on Linux). */
export async function removeXattr(fs: Ext4Super, h: Handle, inode: Ext4Inode, name: string, r: BlockReservation): Promise<boolean> {
  const key = xattrKeyOf(name);
  return setXattrKey(fs, h, inode, key, undefined, isAclIndex(key.nameIndex) ? 'either' : 'replace', r);
}

/**
 * The whole of setxattr(2) (`value` given) or removexattr(2) (`value`
 * undefined) on an inode: takes the inode lock, reserves, runs one handle,
 * and stamps `ctime` and writes the inode when anything changed.
 */
export async function changeXattr(
  fs: Ext4Super, inodes: InodeTable, inode: Ext4Inode, name: string, value: Uint8Array | undefined,
  flags: XattrSetFlags, ctime: Timestamp,
): Promise<void> {
  const journal = fs.journal;
  if (journal === undefined || fs.readOnly) throw new FsError('EROFS');
  xattrKeyOf(name);
  await inode.rwsem.withExclusive(async () => {
    const r = reserveXattrBlock(fs);
    try {
      await journal.run(XATTR_SET_CREDITS, async (h) => {
        const changed = value === undefined
          ? await removeXattr(fs, h, inode, name, r)
          : await setXattr(fs, h, inode, name, value, flags, r);
        if (!changed) return;
        inode.disk.ctime = ctime;
        await inodes.writeInode(h, inode);
      });
    } finally {
      r.release();
    }
  });
}
