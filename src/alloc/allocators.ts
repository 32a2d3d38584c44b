/**
 * The allocators of a mounted filesystem, made once per `Ext4Super` on first
 * use. (They live beside the superblock state rather than in it because the
 * allocation layer sits above it.)
 */
import type { Ext4Super } from '../super/ext4-super.js';
import { BlockAllocator } from './block-alloc.js';
import { InodeAllocator } from './inode-alloc.js';

export interface Allocators {
  readonly blocks: BlockAllocator;
  readonly inodes: InodeAllocator;
}

const perFs = new WeakMap<Ext4Super, Allocators>();

export function allocatorsOf(fs: Ext4Super): Allocators {
  let a = perFs.get(fs);
  if (a === undefined) {
    a = { blocks: new BlockAllocator(fs), inodes: new InodeAllocator(fs) };
    perFs.set(fs, a);
  }
  return a;
}
