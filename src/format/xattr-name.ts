/**
 * From the names and values user space passes to setxattr to what ext4
 * stores (Linux: the xattr handlers of fs/ext4/xattr_*.c and fs/xattr.c).
 *
 * A full name such as `user.mime_type` is split into a name index (the
 * prefix) and the suffix that goes on disk. ext4 accepts the `user.`,
 * `trusted.`, `security.` and `gnu.` namespaces and the two POSIX ACL names;
 * any other name, including the private `system.data` of inline data, is
 * refused with EOPNOTSUPP as Linux does, so nobody can forge inline data
 * through the xattr interface.
 *
 * ACL values arrive in the form the kernel exchanges with user space
 * (version 2, 8-byte entries) and are stored in ext4's compact form
 * (version 1, 4-byte entries for the owner, group, mask and other).
 */
import { FsError } from '../base/errors.js';
import { readU16LE, readU32LE } from './le.js';
import {
  ACL_GROUP, ACL_GROUP_OBJ, ACL_MASK, ACL_OTHER, ACL_USER, ACL_USER_OBJ,
  aclXattrToDisk, splitXattrName, POSIX_ACL_XATTR_VERSION,
  XATTR_INDEX_HURD, XATTR_INDEX_POSIX_ACL_ACCESS, XATTR_INDEX_POSIX_ACL_DEFAULT,
  XATTR_INDEX_SECURITY, XATTR_INDEX_TRUSTED, XATTR_INDEX_USER,
} from './xattr.js';

/** XATTR_SIZE_MAX: the VFS refuses larger values with E2BIG before the filesystem sees them. */
export const XATTR_SIZE_MAX = 65536;
/** Longest name suffix an entry can hold (e_name_len is a byte); longer names get ERANGE. */
export const XATTR_NAME_MAX = 255;

/** An attribute as ext4 identifies it on disk: the prefix's index and the suffix bytes. */
export interface XattrKey {
  /** e_name_index */
  nameIndex: number;
  /** e_name */
  name: Uint8Array;
}

/** Namespaces a user may set; the ACL indexes stand for a whole name. */
const SETTABLE = new Set([
  XATTR_INDEX_USER, XATTR_INDEX_TRUSTED, XATTR_INDEX_SECURITY, XATTR_INDEX_HURD,
  XATTR_INDEX_POSIX_ACL_ACCESS, XATTR_INDEX_POSIX_ACL_DEFAULT,
]);

export function isAclIndex(nameIndex: number): boolean {
  return nameIndex === XATTR_INDEX_POSIX_ACL_ACCESS || nameIndex === XATTR_INDEX_POSIX_ACL_DEFAULT;
}

/**
 * The on-disk key of a full attribute name, with Linux's errors: EOPNOTSUPP
 * for a namespace ext4 does not store, EINVAL for an empty suffix or a NUL
 * in the name (a C string ends there), ERANGE for a suffix over 255 bytes.
 */
export function xattrKeyOf(fullName: string): XattrKey {
  if (fullName.includes('\0')) throw new FsError('EINVAL', `xattr name contains NUL`);
  const split = splitXattrName(fullName);
  if (split === undefined || !SETTABLE.has(split.nameIndex)) {
    throw new FsError('ENOTSUP', `extended attribute namespace of '${fullName}' is not supported`);
  }
  if (!isAclIndex(split.nameIndex) && split.name.length === 0) throw new FsError('EINVAL', `empty xattr name after the prefix in '${fullName}'`);
  if (split.name.length > XATTR_NAME_MAX) throw new FsError('ERANGE', `xattr name '${fullName}' is longer than ${XATTR_NAME_MAX} bytes`);
  return split;
}

/**
 * The bytes to store for a value user space passed (undefined: remove).
 * ACLs are checked and converted to ext4's form; an empty ACL value means
 * "no ACL", as for Linux's posix_acl_from_xattr. A default ACL belongs to
 * directories only (ext4_set_acl: EACCES elsewhere; removing it is a no-op).
 */
export function diskValueOf(key: XattrKey, value: Uint8Array | undefined, isDir: boolean): Uint8Array | undefined {
  if (value !== undefined && value.length > XATTR_SIZE_MAX) {
    throw new FsError('E2BIG', `xattr value of ${value.length} bytes exceeds ${XATTR_SIZE_MAX}`);
  }
  if (!isAclIndex(key.nameIndex)) return value;
  const acl = value === undefined || value.length === 0 || !validAcl(value) ? undefined : aclXattrToDisk(value);
  if (key.nameIndex === XATTR_INDEX_POSIX_ACL_DEFAULT && !isDir && acl !== undefined) {
    throw new FsError('EACCES', 'a default ACL can only be set on a directory');
  }
  return acl;
}

/**
 * Checks an ACL in its user-space form as Linux's posix_acl_from_xattr and
 * posix_acl_valid do: version 2, whole 8-byte entries, permissions within
 * rwx, and the entries in order: one owner entry, named users, one owning
 * group entry, named groups, a mask (required once there are named
 * entries), one other entry. Returns false for a header with no entries
 * (which means "no ACL"); throws EINVAL for anything malformed.
 */
function validAcl(value: Uint8Array): boolean {
  const bad = (): FsError => new FsError('EINVAL', 'invalid POSIX ACL');
  if (value.length < 4 || readU32LE(value, 0) !== POSIX_ACL_XATTR_VERSION || (value.length - 4) % 8 !== 0) throw bad();
  if (value.length === 4) return false;
  const enum S { USER_OBJ, USER, GROUP, OTHER, DONE }
  let state: S = S.USER_OBJ;
  let needsMask = false;
  for (let off = 4; off < value.length; off += 8) {
    const tag = readU16LE(value, off);
    if ((readU16LE(value, off + 2) & ~7) !== 0) throw bad();
    if (tag === ACL_USER_OBJ && state === S.USER_OBJ) state = S.USER;
    else if (tag === ACL_USER && state === S.USER) needsMask = true;
    else if (tag === ACL_GROUP_OBJ && state === S.USER) state = S.GROUP;
    else if (tag === ACL_GROUP && state === S.GROUP) needsMask = true;
    else if (tag === ACL_MASK && state === S.GROUP) state = S.OTHER;
    else if (tag === ACL_OTHER && (state === S.OTHER || (state === S.GROUP && !needsMask))) state = S.DONE;
    else throw bad();
  }
  if (state !== S.DONE) throw bad();
  return true;
}

export function sameKey(a: XattrKey, b: XattrKey): boolean {
  if (a.nameIndex !== b.nameIndex || a.name.length !== b.name.length) return false;
  for (let i = 0; i < a.name.length; i++) if (a.name[i] !== b.name[i]) return false;
  return true;
}

/**
 * What setting an access ACL does to the file mode (Linux:
 * posix_acl_update_mode via posix_acl_equiv_mode). The owner, group and
 * other permission bits come from the USER_OBJ, GROUP_OBJ (or, when
 * present, MASK) and OTHER entries; the file type and the set-id and sticky
 * bits stay. An ACL the mode bits express exactly (no named users or groups,
 * no mask) is not stored at all: `equivalent` is then true.
 * `xattrValue` is the user-space form, already checked by `diskValueOf`.
 */
export function aclModeUpdate(mode: number, xattrValue: Uint8Array): { mode: number; equivalent: boolean } {
  let perms = 0;
  let mask: number | undefined;
  let equivalent = true;
  for (let off = 4; off + 8 <= xattrValue.length; off += 8) {
    const tag = readU16LE(xattrValue, off);
    const perm = readU16LE(xattrValue, off + 2) & 7;
    if (tag === ACL_USER_OBJ) perms |= perm << 6;
    else if (tag === ACL_GROUP_OBJ) perms |= perm << 3;
    else if (tag === ACL_OTHER) perms |= perm;
    else if (tag === ACL_MASK) {
      mask = perm;
      equivalent = false;
    } else if (tag === ACL_USER || tag === ACL_GROUP) equivalent = false;
  }
  if (mask !== undefined) perms = (perms & ~0o070) | (mask << 3);
  return { mode: (mode & ~0o777) | perms, equivalent };
}
