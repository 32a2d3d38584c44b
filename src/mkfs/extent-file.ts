/**
 * The extent tree of a file mkfs creates (journal, lost+found, orphan
 * file), built as blocks are allocated so that its own block lands where
 * libext2fs puts it.
 *
 * Up to four extents fit in the inode. The fifth makes libext2fs split the
 * root: every extent moves to a new leaf block, allocated at the first free
 * block from one before the first extent (ext2fs_extent_node_split tries to
 * put the index block just before the data), and the inode keeps one index
 * entry. mkfs never needs a second level.
 */
import { FsError } from '../base/errors.js';
import {
  encodeExtentNode, extentNodeCapacity, EXTENT_ENTRY_SIZE, EXTENT_ROOT_SIZE, writeExtentBlockChecksum, type ExtentLeaf,
} from '../format/extent.js';
import type { BlockMap } from './block-map.js';
import { appendExtent } from './bulk-extents.js';

const ROOT_SLOTS = 4;

export class ExtentFile {
  readonly extents: ExtentLeaf[] = [];
  /** The leaf block once the root has been split. */
  leafBlock: number | undefined;

  constructor(private readonly map: BlockMap, private readonly blockSize: number) {}

  /** Blocks the tree itself occupies (0 or 1). */
  get treeBlocks(): number {
    return this.leafBlock === undefined ? 0 : 1;
  }

  /** Maps `len` logical blocks from `lblk` to physical blocks from `pblk` (already marked used). */
  append(lblk: number, pblk: number, len: number): void {
    appendExtent(this.extents, lblk, pblk, len);
    this.growIfNeeded();
  }

  private growIfNeeded(): void {
    if (this.extents.length > ROOT_SLOTS && this.leafBlock === undefined) {
      this.leafBlock = this.map.newBlock(this.extents[0].pblk - 1);
      this.map.mark(this.leafBlock);
    }
    if (this.extents.length > extentNodeCapacity(this.blockSize)) {
      throw new FsError('ENOTSUP', `a file of ${this.extents.length} extents needs a deeper extent tree than mkfs builds`);
    }
  }

  /** The 60 bytes of i_block. */
  encodeRoot(): Uint8Array {
    const root = new Uint8Array(EXTENT_ROOT_SIZE);
    if (this.leafBlock === undefined) {
      encodeExtentNode({ kind: 'leaf', header: { magic: 0, entries: 0, max: ROOT_SLOTS, depth: 0, generation: 0 }, leaves: this.extents }, root);
    } else {
      // libext2fs's split rewrites only the header and the first slot: the
      // second to fourth extents stay behind in the unused slots. Harmless
      // (past eh_entries), and kept so the inode is the same bytes.
      encodeExtentNode({ kind: 'leaf', header: { magic: 0, entries: 0, max: ROOT_SLOTS, depth: 0, generation: 0 }, leaves: this.extents.slice(0, ROOT_SLOTS) }, root);
      const index = new Uint8Array(EXTENT_ROOT_SIZE);
      encodeExtentNode({
        kind: 'index',
        header: { magic: 0, entries: 0, max: ROOT_SLOTS, depth: 1, generation: 0 },
        indexes: [{ lblk: this.extents[0].lblk, pblk: this.leafBlock }],
      }, index);
      root.set(index.subarray(0, 2 * EXTENT_ENTRY_SIZE));
    }
    return root;
  }

  /** The leaf block (when the root was split), with its checksum tail when `inodeSeed` is given. */
  encodeLeafBlock(inodeSeed: number | undefined): Uint8Array | undefined {
    if (this.leafBlock === undefined) return undefined;
    const block = new Uint8Array(this.blockSize);
    encodeExtentNode({
      kind: 'leaf',
      header: { magic: 0, entries: 0, max: extentNodeCapacity(this.blockSize), depth: 0, generation: 0 },
      leaves: this.extents,
    }, block);
    if (inodeSeed !== undefined) writeExtentBlockChecksum(inodeSeed, block);
    return block;
  }
}
