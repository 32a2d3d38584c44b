/**
 * The used part of every group's inode table, encoded as inodes are put:
 * each group's buffer runs from its first inode to the highest one put so
 * far (grown by doubling), so a tree of a million files is held as the
 * bytes the image gets, not as a million decoded inodes.
 */
import { assert } from '../base/assert.js';
import type { Inode } from '../format/inode.js';
import { encodeNewInode } from './inode-init.js';
import { groupOfInode, type Geometry } from './geometry.js';

export class InodeTables {
  private readonly bufs = new Map<number, { bytes: Uint8Array; used: number }>();
  /** Every inode number put, ascending once `usedInodes` is read. */
  private readonly inos = new Set<number>();

  /** `fsSeed` (metadata_csum) checksums each inode. */
  constructor(private readonly g: Geometry, private readonly fsSeed: number | undefined) {}

  /** Encodes `inode` as number `ino`, replacing what was put there before. */
  put(ino: number, inode: Inode): void {
    const g = this.g;
    assert(ino >= 1 && ino <= g.sb.inodesCount, () => `inode ${ino} outside the filesystem`);
    const group = groupOfInode(g, ino);
    const at = (ino - 1 - group * g.inodesPerGroup) * g.inodeSize;
    let t = this.bufs.get(group);
    if (t === undefined) {
      t = { bytes: new Uint8Array(this.capacity(at, 64 * g.inodeSize)), used: 0 };
      this.bufs.set(group, t);
    }
    if (at + g.inodeSize > t.bytes.length) {
      const grown = new Uint8Array(this.capacity(at, 2 * t.bytes.length));
      grown.set(t.bytes.subarray(0, t.used));
      t.bytes = grown;
    }
    encodeNewInode(inode, g.inodeSize, ino, this.fsSeed, t.bytes.subarray(at, at + g.inodeSize));
    t.used = Math.max(t.used, at + g.inodeSize);
    this.inos.add(ino);
  }

  /** Bytes for a buffer holding the inode at byte `at` and at least `want`: whole blocks, at most the table. */
  private capacity(at: number, want: number): number {
    const bs = this.g.blockSize;
    const bytes = Math.ceil(Math.max(at + this.g.inodeSize, want) / bs) * bs;
    return Math.min(this.g.inodesPerGroup * this.g.inodeSize, bytes);
  }

  /** Inode numbers put, ascending. */
  usedInodes(): number[] {
    return [...this.inos].sort((a, b) => a - b);
  }

  /** The encoded start of a group's table, whole blocks up to its highest inode put; undefined when nothing was put there. */
  groupBytes(group: number): Uint8Array | undefined {
    const t = this.bufs.get(group);
    if (t === undefined) return undefined;
    return t.bytes.subarray(0, Math.ceil(t.used / this.g.blockSize) * this.g.blockSize);
  }
}
