/**
 * Reading extended attributes (Linux: fs/ext4/xattr.c, the get/list side).
 * An inode's attributes live in two places: the space after the inode's
 * fixed fields (in-inode, "ibody") and one xattr block named by i_file_acl,
 * which may be shared by many inodes (reference-counted). A value may also
 * live in its own inode (ea_inode feature).
 */
import type { Ext4Super } from '../super/ext4-super.js';
import type { Ext4Inode } from '../inode/ext4-inode.js';
import { corrupted } from '../base/errors.js';
import { inodeXattrArea } from '../format/inode.js';
import { parseInodeXattrs, parseXattrBlock, verifyXattrBlock, type XattrEntry } from '../format/xattr.js';

/** system.data holds the tail of inline data; ext4 never lists it. */
export const SYSTEM_DATA_INDEX = 7;
export const SYSTEM_DATA_NAME = 'data';

/** Reads the value of an attribute stored in an EA inode; supplied by the layer that can read file data. */
export type EaInodeReader = (valueInum: number, valueSize: number, owner: Ext4Inode) => Promise<Uint8Array>;

/** Attributes stored in the inode body, with their values. */
export function ibodyXattrs(fs: Ext4Super, inode: Ext4Inode): XattrEntry[] {
  if (inode.ibodyXattrCache !== undefined) return inode.ibodyXattrCache as XattrEntry[];
  let entries: XattrEntry[] = [];
  if (fs.inodeSize > 128) {
    const { start, end } = inodeXattrArea(inode.raw, fs.inodeSize);
    if (end - start >= 4) entries = parseInodeXattrs(inode.raw, start, end, inode.ino);
  }
  inode.ibodyXattrCache = entries;
  return entries;
}

/** Attributes in the inode's xattr block (none when i_file_acl is 0). */
export async function blockXattrs(fs: Ext4Super, inode: Ext4Inode): Promise<XattrEntry[]> {
  const blockNr = inode.disk.fileAcl;
  if (blockNr === 0) return [];
  fs.checkBlocks(blockNr, 1, 'inode', inode.ino);
  return fs.cache.readDecoded(blockNr, 'xattr', (data) => {
    if (fs.metadataCsum && !verifyXattrBlock(fs.csumSeed, blockNr, data)) {
      throw corrupted('xattr block', blockNr, 'checksum does not match');
    }
    return parseXattrBlock(data, blockNr);
  });
}

/** Every attribute of the inode, in-inode first, as stored (values not yet resolved for EA inodes). */
export async function allXattrs(fs: Ext4Super, inode: Ext4Inode): Promise<XattrEntry[]> {
  return [...ibodyXattrs(fs, inode), ...(await blockXattrs(fs, inode))];
}

/** The value bytes of one entry, reading its EA inode when the value lives there. */
export async function xattrValue(fs: Ext4Super, inode: Ext4Inode, e: XattrEntry, readEaInode: EaInodeReader): Promise<Uint8Array> {
  if (e.valueInum !== 0) {
    if (!fs.hasEaInode) throw corrupted('inode', inode.ino, `xattr ${e.fullName} names a value inode without the ea_inode feature`);
    return readEaInode(e.valueInum, e.valueSize, inode);
  }
  if (e.value === undefined) throw corrupted('inode', inode.ino, `xattr ${e.fullName} has no value`);
  return e.value;
}

/** The in-inode `system.data` value that holds the part of inline data beyond i_block. */
export function inlineDataXattr(fs: Ext4Super, inode: Ext4Inode): Uint8Array | undefined {
  for (const e of ibodyXattrs(fs, inode)) {
    if (e.nameIndex === SYSTEM_DATA_INDEX && e.name.length === 4 && Buffer.from(e.name).toString('latin1') === SYSTEM_DATA_NAME) {
      return e.value;
    }
  }
  return undefined;
}
