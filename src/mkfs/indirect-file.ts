/**
 * A block-mapped file mkfs creates (on filesystems without extents), laid
 * out as libext2fs's bmap allocates one: each block first fit after the
 * previous one, and an indirect block allocated just before the first data
 * block that needs it (top down: triple, double, single).
 */
import { assert } from '../base/assert.js';
import { BLOCK_MAP_SLOTS, DIND_SLOT, DIRECT_BLOCKS, IND_SLOT, TIND_SLOT, writeU32Array } from '../format/indirect.js';
import type { BlockMap } from './block-map.js';

/** An indirect block: its location and the addresses it holds. */
interface IndirectNode {
  block: number;
  slots: Uint32Array;
}

export class IndirectFile {
  /** i_block: 12 direct addresses, then the single, double and triple indirect blocks. */
  readonly slots = new Uint32Array(BLOCK_MAP_SLOTS);
  /** Every indirect block, in allocation order. */
  readonly nodes: IndirectNode[] = [];
  private cursor: number;
  private count = 0;
  private readonly apb: number;
  private ind: IndirectNode | undefined;
  private dind: IndirectNode | undefined;
  private tind: IndirectNode | undefined;

  constructor(private readonly map: BlockMap, blockSize: number, goal: number) {
    this.apb = blockSize / 4;
    this.cursor = goal;
  }

  /** Blocks taken by indirect blocks. */
  get treeBlocks(): number {
    return this.nodes.length;
  }

  private take(): number {
    const b = this.map.newBlock(this.cursor);
    this.map.mark(b);
    this.cursor = b;
    return b;
  }

  private newNode(): IndirectNode {
    const node = { block: this.take(), slots: new Uint32Array(this.apb) };
    this.nodes.push(node);
    return node;
  }

  /** Allocates the next logical block (and any indirect block it needs first); returns its physical block. */
  appendBlock(): number {
    const lblk = this.count++;
    const a = this.apb;
    if (lblk < DIRECT_BLOCKS) {
      const b = this.take();
      this.slots[lblk] = b;
      return b;
    }
    let rel = lblk - DIRECT_BLOCKS;
    if (rel < a) {
      if (rel === 0) {
        this.ind = this.newNode();
        this.slots[IND_SLOT] = this.ind.block;
      }
      return this.leaf(rel);
    }
    rel -= a;
    if (rel < a * a) {
      if (rel === 0) {
        this.dind = this.newNode();
        this.slots[DIND_SLOT] = this.dind.block;
      }
      assert(this.dind !== undefined, 'double indirect block');
      return this.viaParent(this.dind, rel);
    }
    rel -= a * a;
    assert(rel < a * a * a, 'file too large for a block map');
    if (rel === 0) {
      this.tind = this.newNode();
      this.slots[TIND_SLOT] = this.tind.block;
    }
    assert(this.tind !== undefined, 'triple indirect block');
    if (rel % (a * a) === 0) {
      this.dind = this.newNode();
      this.tind.slots[rel / (a * a)] = this.dind.block;
    }
    return this.viaParent(this.dind as IndirectNode, rel % (a * a));
  }

  private viaParent(parent: IndirectNode, rel: number): number {
    if (rel % this.apb === 0) {
      this.ind = this.newNode();
      parent.slots[rel / this.apb] = this.ind.block;
    }
    return this.leaf(rel % this.apb);
  }

  private leaf(index: number): number {
    assert(this.ind !== undefined, 'single indirect block');
    const b = this.take();
    this.ind.slots[index] = b;
    return b;
  }

  /** The 60 bytes of i_block. */
  encodeRoot(): Uint8Array {
    const root = new Uint8Array(BLOCK_MAP_SLOTS * 4);
    writeU32Array(this.slots, root);
    return root;
  }

  /** Each indirect block's contents. */
  encodeNodes(): Array<{ block: number; bytes: Uint8Array }> {
    return this.nodes.map((n) => {
      const bytes = new Uint8Array(n.slots.length * 4);
      writeU32Array(n.slots, bytes);
      return { block: n.block, bytes };
    });
  }
}
