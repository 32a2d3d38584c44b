/**
 * getxattr / listxattr / setxattr / removexattr for volumes. Names are the full names Linux shows
 * (`user.x`, `security.selinux`, `system.posix_acl_access`); ext4's private
 * `system.data` (inline data) is never listed or returned. POSIX ACLs are
 * stored in ext4's compact form and returned in the form userspace sees.
 */
import { corrupted, FsError } from '../base/errors.js';
import type { Ext4Inode } from '../inode/ext4-inode.js';
import { allXattrs, ibodyXattrs, xattrValue, SYSTEM_DATA_INDEX, SYSTEM_DATA_NAME, type EaInodeReader } from '../xattr/xattr-read.js';
import { aclDiskToXattr, type XattrEntry } from '../format/xattr.js';
import { EXT4_EA_INODE_FL } from '../format/inode.js';
import type { Mounted } from './mounted.js';
import { changeXattr, type XattrSetFlags } from '../xattr/xattr-set.js';
import { nowTimestamp } from '../inode/inode-context.js';

const ACL_ACCESS_INDEX = 2;
const ACL_DEFAULT_INDEX = 3;

function isHidden(e: XattrEntry): boolean {
  return e.nameIndex === SYSTEM_DATA_INDEX && Buffer.from(e.name).toString('latin1') === SYSTEM_DATA_NAME;
}

function eaInodeReader(m: Mounted): EaInodeReader {
  return async (valueInum, valueSize, owner) => {
    const ea = await m.inodes.get(valueInum);
    if ((ea.flags & EXT4_EA_INODE_FL) === 0 || ea.size !== valueSize) {
      throw corrupted('inode', owner.ino, `xattr value inode ${valueInum} is not a matching EA inode`);
    }
    const buf = Buffer.alloc(valueSize);
    await m.reader.read(ea, 0, buf, 0, valueSize);
    return buf;
  };
}

export async function listXattrNames(m: Mounted, inode: Ext4Inode): Promise<string[]> {
  return (await allXattrs(m.fs, inode)).filter((e) => !isHidden(e)).map((e) => e.fullName);
}

/** The value as getxattr returns it: ACLs in the form userspace sees, everything else as stored. */
async function shownValue(m: Mounted, inode: Ext4Inode, e: XattrEntry): Promise<Buffer> {
  const value = await xattrValue(m.fs, inode, e, eaInodeReader(m));
  if (e.nameIndex === ACL_ACCESS_INDEX || e.nameIndex === ACL_DEFAULT_INDEX) return Buffer.from(aclDiskToXattr(value));
  return Buffer.from(value);
}

export async function getXattr(m: Mounted, inode: Ext4Inode, name: string): Promise<Buffer> {
  for (const e of await allXattrs(m.fs, inode)) {
    if (isHidden(e) || e.fullName !== name) continue;
    return shownValue(m, inode, e);
  }
  throw new FsError('ENODATA');
}

/**
 * Linux's xattr_permission for the user namespace: user attributes exist
 * only on regular files and directories (on a symlink or device node they
 * would let anyone with write access to the name annotate what they do not
 * own), so setting or removing one elsewhere is EPERM.
 */
function checkUserNamespace(inode: Ext4Inode, name: string): void {
  if (name.startsWith('user.') && !inode.isReg && !inode.isDir) throw new FsError('EPERM');
}

/** setxattr(2): `flag` 'create' is XATTR_CREATE (EEXIST if present), 'replace' XATTR_REPLACE (ENODATA if absent). */
export async function setXattrOf(m: Mounted, inode: Ext4Inode, name: string, value: Uint8Array, flag?: 'create' | 'replace'): Promise<void> {
  checkUserNamespace(inode, name);
  const flags: XattrSetFlags = flag ?? 'either';
  await changeXattr(m.fs, m.inodes, inode, name, value, flags, nowTimestamp(m));
}

/** removexattr(2): ENODATA if absent. */
export async function removeXattrOf(m: Mounted, inode: Ext4Inode, name: string): Promise<void> {
  checkUserNamespace(inode, name);
  await changeXattr(m.fs, m.inodes, inode, name, undefined, 'replace', nowTimestamp(m));
}

/**
 * Whether `xattrPairs` can find anything, answered without I/O: not when
 * there is no xattr block and the in-inode area holds nothing but the
 * hidden system.data.
 */
export function mayHaveXattrs(m: Mounted, inode: Ext4Inode): boolean {
  if (inode.disk.fileAcl !== 0) return true;
  return ibodyXattrs(m.fs, inode).some((e) => !isHidden(e));
}

/** Every attribute listxattr shows, each with what getxattr returns for it, in one pass. */
export async function xattrPairs(m: Mounted, inode: Ext4Inode): Promise<Array<{ name: string; value: Buffer }>> {
  const out: Array<{ name: string; value: Buffer }> = [];
  for (const e of await allXattrs(m.fs, inode)) {
    if (!isHidden(e)) out.push({ name: e.fullName, value: await shownValue(m, inode, e) });
  }
  return out;
}
