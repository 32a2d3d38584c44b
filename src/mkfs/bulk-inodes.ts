/**
 * The last step of mkfs -d's bulk builder: each placed inode becomes its
 * on-disk inode, with the host's mode, owner and times (to the nanosecond,
 * in the extra fields), its link count, a generation number, and its
 * extended attributes in the inode body or an attribute block (allocated
 * here, after the data, because the attributes arrive last from the
 * host).
 */
import { isFsError } from '../base/errors.js';
import { crc32c, crc32cU32 } from '../format/crc32c.js';
import { GOOD_OLD_INODE_SIZE, S_IFDIR, S_IFMT, type Inode, type Timestamp } from '../format/inode.js';
import type { HostNode, NsTime } from '../host/host-scan.js';
import type { BulkAllocator } from './bulk-alloc.js';
import type { PlacedInode } from './bulk-layout.js';
import { systemData } from './bulk-layout.js';
import { blockCapacityOf, encodeIbody, ibodyCapacityOf, placeXattrs, XattrBlocks } from './bulk-xattr.js';
import type { InodeTables } from './inode-tables.js';
import { zeroInode } from './inode-init.js';

/** Seconds ext4 can store: signed 32 bits, and with the extra fields' two epoch bits up to 2446. */
const MIN_SEC = -(2 ** 31);
const MAX_SEC_BASE = 2 ** 31 - 1;
const MAX_SEC_EXTRA = 3 * 2 ** 32 + 2 ** 31 - 1;

/** A host time as the inode can hold it: clamped to ext4's range (as Linux clamps), nanoseconds only with extra fields. */
export function inodeTime(t: NsTime, extra: boolean): Timestamp {
  const max = extra ? MAX_SEC_EXTRA : MAX_SEC_BASE;
  if (t.sec < MIN_SEC) return { sec: MIN_SEC, nsec: 0 };
  if (t.sec > max) return { sec: max, nsec: extra ? 999_999_999 : 0 };
  return { sec: t.sec, nsec: extra ? t.nsec : 0 };
}

/**
 * i_generation of a new inode: a hash of the filesystem UUID and the inode
 * number (Linux draws a random number; a hash keeps images reproducible for
 * a given UUID).
 */
export function generationOf(uuid: Uint8Array, ino: number): number {
  return crc32cU32(crc32c(~0 >>> 0, uuid), ino);
}

export interface InodeFinishInput {
  inodeSize: number;
  /** i_extra_isize of new inodes (0 for 128-byte inodes). */
  extraIsize: number;
  blockSize: number;
  /** Creation time: ctime and crtime of every inode. */
  time: number;
  uuid: Uint8Array;
  /** The xattrs of a host entry (the first name of each inode). */
  xattrs: (node: HostNode) => ReadonlyMap<string, Uint8Array> | undefined;
  alloc: BulkAllocator;
  tables: InodeTables;
  /** Metadata checksum seed (metadata_csum), else undefined. */
  fsSeed: number | undefined;
  onError(path: Buffer, e: unknown): void;
}

/** Encodes every placed inode into `tables`; returns the attribute blocks to write. */
export function finishInodes(placed: readonly PlacedInode[], nodes: readonly HostNode[], o: InodeFinishInput): Array<{ block: number; bytes: Uint8Array }> {
  const extra = o.inodeSize > GOOD_OLD_INODE_SIZE;
  const area = extra ? o.inodeSize - GOOD_OLD_INODE_SIZE - o.extraIsize : 0;
  const capacity = { ibody: extra && o.extraIsize > 0 ? ibodyCapacityOf(area) : 0, block: blockCapacityOf(o.blockSize) };
  const xblocks = new XattrBlocks(o.blockSize, () => o.alloc.takeOne());
  const now = { sec: o.time, nsec: 0 };
  const perBlock = o.blockSize / 512;
  const emptyArea = new Uint8Array(area);
  // One inode record, refilled for each inode: `tables.put` encodes it at once.
  const inode: Inode = zeroInode(o.inodeSize);
  inode.ctime = now;
  inode.extraIsize = extra ? o.extraIsize : 0;
  inode.crtime = extra && o.extraIsize >= 24 ? now : { sec: 0, nsec: 0 };
  for (const p of placed) {
    const node = nodes[p.t.node];
    const { path, st: s } = node;
    const x = placeXattrs(o.xattrs(node), p.inline === undefined ? [] : [systemData(p.inline)], (p.t.mode & S_IFMT) === S_IFDIR, capacity,
      (name, e) => o.onError(path, new XattrError(name, e)));
    inode.mode = p.t.mode;
    inode.uid = s.uid;
    inode.gid = s.gid;
    inode.size = p.size;
    inode.atime = inodeTime(s.atime, extra);
    inode.mtime = inodeTime(s.mtime, extra);
    inode.linksCount = p.t.links;
    inode.flags = p.flags;
    inode.block = p.iblock;
    inode.generation = generationOf(o.uuid, p.t.ino);
    inode.fileAcl = x.block.length > 0 ? xblocks.blockFor(x.block) : 0;
    inode.blocks = (p.blocks + (x.block.length > 0 ? 1 : 0)) * perBlock;
    inode.xattrSpace = !extra ? new Uint8Array(0) : x.ibody.length === 0 ? emptyArea : encodeIbody(x.ibody, area);
    o.tables.put(p.t.ino, inode);
  }
  return xblocks.encode(o.fsSeed);
}

/** An attribute that could not be copied, named in the message. */
export class XattrError extends Error {
  readonly code: string | undefined;
  constructor(readonly attribute: string, cause: unknown) {
    const c = (cause as { code?: unknown }).code;
    const detail = isFsError(cause) ? cause.detail : cause instanceof Error ? cause.message : String(cause);
    super(`extended attribute ${attribute}: ${detail}`, { cause });
    this.code = typeof c === 'string' ? c : undefined;
  }
}
