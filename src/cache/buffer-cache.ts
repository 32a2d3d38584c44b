/**
 * The buffer cache: metadata blocks (inode tables, extent index blocks,
 * directory blocks, xattr blocks, bitmaps, group descriptors, the
 * superblock) kept in memory under a byte budget (CLOCK replacement, see
 * clock-cache.ts).
 *
 * Each cached block remembers whether it has been verified (checksum and
 * structure) by whoever read it first, so hot metadata is checked once per
 * load rather than on every use. Concurrent readers of the same missing block
 * share one device read.
 *
 * Writing (Linux: buffer_head + jbd2's journal_head). A block is never
 * written home straight after a change: the journal layer
 * (src/journal/transaction.ts) owns the journaling fields of `MetaBuffer`.
 * A changed block belongs to the running transaction until that commits;
 * the commit takes a snapshot of it (`checkpointData`), logs the snapshot,
 * and the checkpoint later writes that same snapshot home. Writing the
 * committed snapshot rather than the live bytes is what keeps a checkpoint
 * from ever putting changes of a newer, uncommitted transaction on disk.
 * Blocks with a transaction or a pending checkpoint are pinned: evicting one
 * and reading it back from the device would lose the change.
 */
import type { BlockDevice } from '../device/block-device.js';
import { assert } from '../base/assert.js';
import { ClockCache } from './clock-cache.js';

export class MetaBuffer {
  /** Set once the block's checksum and structure were checked (by `readVerified`/`readDecoded`, or because we wrote it). */
  verified = false;
  /**
   * The block decoded by `readDecoded`, tagged with the decoder's kind so a
   * block read as two different structures (a corrupt cross-link) is never
   * handed out as the wrong type. Cleared whenever the bytes change.
   */
  decoded: { kind: string; value: unknown } | undefined = undefined;

  /**
   * Id of the running transaction this block has been joined to
   * (jbd2: jh->b_transaction); undefined when no open transaction changed it.
   */
  runningTid: number | undefined = undefined;
  /**
   * The newest committed (or committing) contents of the block that are not
   * yet written home, and the transaction that logged them (jbd2: the
   * checkpoint list). The checkpoint writes exactly these bytes.
   */
  checkpointData: Uint8Array | undefined = undefined;
  checkpointTid = 0;

  constructor(
    readonly blockNr: number,
    /** The live bytes. Modify only between `handle.getWriteAccess` and `handle.dirtyMetadata`. */
    readonly data: Uint8Array,
  ) {}

  /** Whether evicting this block would lose a change. */
  get pinned(): boolean {
    return this.runningTid !== undefined || this.checkpointData !== undefined;
  }
}

export class BufferCache {
  private readonly entries: ClockCache<number, MetaBuffer>;
  private readonly loading = new Map<number, Promise<MetaBuffer>>();

  constructor(
    readonly device: BlockDevice,
    readonly blockSize: number,
    /** Memory budget in bytes for cached blocks. */
    readonly budget: number,
  ) {
    assert(blockSize >= 1024 && (blockSize & (blockSize - 1)) === 0, 'block size is a power of two >= 1024');
    this.entries = new ClockCache(budget, (b) => b.pinned);
  }

  /** Number of whole blocks on the device. */
  get deviceBlocks(): number {
    return Math.floor(this.device.size / this.blockSize);
  }

  /** Bytes cached, pinned ones included. */
  get cachedBytes(): number {
    return this.entries.weight;
  }

  /**
   * The block's bytes. The returned array is shared with the cache: callers
   * must not modify it (writers go through a journal handle).
   */
  async read(blockNr: number): Promise<Uint8Array> {
    return (await this.buffer(blockNr)).data;
  }

  /** The cached block, read from the device if needed. */
  buffer(blockNr: number): Promise<MetaBuffer> {
    const hit = this.entries.get(blockNr);
    if (hit) return Promise.resolve(hit);
    let pending = this.loading.get(blockNr);
    if (!pending) {
      pending = this.load(blockNr);
      this.loading.set(blockNr, pending);
    }
    return pending;
  }

  /** The cached block if it is in memory (no I/O). */
  cached(blockNr: number): MetaBuffer | undefined {
    return this.entries.get(blockNr);
  }

  /**
   * A buffer for a block that was just allocated (Linux: sb_getblk + zeroing):
   * zero-filled, not read from the device, since its old contents are garbage
   * to us. Any stale cached copy is replaced; it must not be pinned (a freed
   * block is forgotten through the journal first).
   */
  newBuffer(blockNr: number): MetaBuffer {
    assert(!this.loading.has(blockNr), () => `block ${blockNr} is being read while allocated anew`);
    const old = this.entries.peek(blockNr);
    assert(old === undefined || !old.pinned, () => `newly allocated block ${blockNr} still has journaled contents`);
    const b = new MetaBuffer(blockNr, new Uint8Array(this.blockSize));
    b.verified = true;
    this.entries.set(blockNr, b, this.blockSize);
    return b;
  }

  /**
   * Like `read`, but runs `verify` (which throws on a bad checksum or
   * structure) the first time the block is loaded. A block that fails
   * verification is dropped from the cache, so it is checked again (and fails
   * again) next time rather than being served as good.
   */
  async readVerified(blockNr: number, verify: (data: Uint8Array) => void): Promise<Uint8Array> {
    return (await this.bufferVerified(blockNr, verify)).data;
  }

  async bufferVerified(blockNr: number, verify: (data: Uint8Array) => void): Promise<MetaBuffer> {
    const e = await this.buffer(blockNr);
    if (!e.verified) {
      try {
        verify(e.data);
      } catch (err) {
        this.forgetClean(e);
        throw err;
      }
      e.verified = true;
    }
    return e;
  }

  /**
   * The block decoded (and verified) by `decode`, which throws on corruption.
   * The decoded value is cached with the block, so hot structures such as
   * extent index blocks are parsed once per load. `kind` names the decoder;
   * the same kind must always produce the same type.
   */
  async readDecoded<T>(blockNr: number, kind: string, decode: (data: Uint8Array, verified: boolean) => T): Promise<T> {
    const e = await this.buffer(blockNr);
    return decodeBuffer(this, e, kind, decode);
  }

  /**
   * `read` without waiting, for callers that can go on synchronously: the
   * block from the cache, or read at once from a device that can serve
   * synchronously; undefined when neither is possible (then use `read`).
   */
  readSync(blockNr: number): Uint8Array | undefined {
    return this.bufferSync(blockNr)?.data;
  }

  /** `readDecoded` without waiting, under the same conditions as `readSync`. */
  readDecodedSync<T>(blockNr: number, kind: string, decode: (data: Uint8Array, verified: boolean) => T): T | undefined {
    const e = this.bufferSync(blockNr);
    return e === undefined ? undefined : decodeBuffer(this, e, kind, decode);
  }

  /**
   * Drops a clean block (e.g. one found corrupt). A pinned block stays: its
   * bytes are a change not yet on disk.
   */
  forgetClean(b: MetaBuffer): void {
    if (!b.pinned && this.entries.peek(b.blockNr) === b) this.entries.delete(b.blockNr);
  }

  /**
   * Makes `b` the cached instance of its block before it is changed (called
   * by the journal's getWriteAccess). A caller may hold a buffer across an
   * await, during which a clean buffer can be evicted: a change made to an
   * evicted instance would be lost, or worse, fight a second instance read
   * back from disk. If the block is no longer cached, `b` goes back in; if
   * a second clean instance was read meanwhile, it holds the same bytes and
   * `b` replaces it. A second instance that was changed meanwhile means `b`
   * is stale: that stops the operation.
   */
  adopt(b: MetaBuffer): void {
    const cur = this.entries.peek(b.blockNr);
    if (cur === b) return;
    assert(cur === undefined || (!cur.pinned && equalBytes(cur.data, b.data)),
      () => `block ${b.blockNr} changed through another buffer while a caller held this one`);
    this.entries.set(b.blockNr, b, this.blockSize);
  }

  /** Drops a block whatever its state: the journal's `forget` for freed metadata. */
  drop(blockNr: number): void {
    this.entries.delete(blockNr);
  }

  /** Evicts unpinned blocks down to the budget (after a checkpoint unpinned some). */
  trim(): void {
    this.entries.trim();
  }

  /** Empties the cache; only when nothing is pinned (after the final checkpoint, or read-only). */
  clear(): void {
    for (const b of this.entries.values()) assert(!b.pinned, () => `cache cleared with block ${b.blockNr} still pinned`);
    this.entries.clear();
  }

  private bufferSync(blockNr: number): MetaBuffer | undefined {
    const hit = this.entries.get(blockNr);
    if (hit) return hit;
    const sync = this.device.readIntoSync;
    // A block already being read asynchronously is left to that read.
    if (sync === undefined || this.loading.has(blockNr)) return undefined;
    const data = new Uint8Array(this.blockSize);
    sync(blockNr * this.blockSize, data);
    return this.insert(blockNr, data);
  }

  private insert(blockNr: number, data: Uint8Array): MetaBuffer {
    const e = new MetaBuffer(blockNr, data);
    this.entries.set(blockNr, e, data.length);
    return e;
  }

  private async load(blockNr: number): Promise<MetaBuffer> {
    try {
      // A plain Uint8Array, not a Buffer: every slice and view the decoders
      // take of it is then a native typed array, far cheaper to make than
      // Buffer's JavaScript subclass (measured: a third of the cost of
      // loading an inode).
      const data = new Uint8Array(this.blockSize);
      await this.device.readInto(blockNr * this.blockSize, data);
      return this.insert(blockNr, data);
    } finally {
      this.loading.delete(blockNr);
    }
  }
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** `readDecoded` for a buffer already in hand. */
export function decodeBuffer<T>(cache: BufferCache, e: MetaBuffer, kind: string, decode: (data: Uint8Array, verified: boolean) => T): T {
  if (e.decoded?.kind === kind) return e.decoded.value as T;
  let value: T;
  try {
    // `verified`: the bytes were checked since they were read, or are our own (a block we changed):
    // a decoder may skip its checksum then, as Linux does for a buffer marked verified.
    value = decode(e.data, e.verified);
  } catch (err) {
    cache.forgetClean(e);
    throw err;
  }
  e.decoded = { kind, value };
  e.verified = true;
  return value;
}
