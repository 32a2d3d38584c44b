/**
 * The buffer cache: metadata blocks (inode tables, extent index blocks,
 * directory blocks, xattr blocks, bitmaps) kept in memory under a byte
 * budget (CLOCK replacement, see clock-cache.ts).
 *
 * Each cached block remembers whether it has been verified (checksum and
 * structure) by whoever read it first, so hot metadata is checked once per
 * load rather than on every use. Concurrent readers of the same missing block
 * share one device read.
 *
 * Read-only for now: dirtying blocks inside a journal transaction and writing
 * them back after commit come with the journal.
 */
import type { BlockDevice } from '../device/block-device.js';
import { assert } from '../base/assert.js';
import { ClockCache } from './clock-cache.js';

interface Entry {
  data: Uint8Array;
  /** Set by `readVerified` once the block's checksum and structure were checked. */
  verified: boolean;
  /**
   * The block decoded by `readDecoded`, tagged with the decoder's kind so a
   * block read as two different structures (a corrupt cross-link) is never
   * handed out as the wrong type.
   */
  decoded: { kind: string; value: unknown } | undefined;
}

export class BufferCache {
  private readonly entries: ClockCache<number, Entry>;
  private readonly loading = new Map<number, Promise<Entry>>();

  constructor(
    private readonly device: BlockDevice,
    readonly blockSize: number,
    /** Memory budget in bytes for cached blocks. */
    budget: number,
  ) {
    assert(blockSize >= 1024 && (blockSize & (blockSize - 1)) === 0, 'block size is a power of two >= 1024');
    this.entries = new ClockCache(budget);
  }

  /** Number of whole blocks on the device. */
  get deviceBlocks(): number {
    return Math.floor(this.device.size / this.blockSize);
  }

  /**
   * The block's bytes. The returned array is shared with the cache: callers
   * must not modify it.
   */
  async read(blockNr: number): Promise<Uint8Array> {
    return (await this.entry(blockNr)).data;
  }

  /**
   * Like `read`, but runs `verify` (which throws on a bad checksum or
   * structure) the first time the block is loaded. A block that fails
   * verification is dropped from the cache, so it is checked again (and fails
   * again) next time rather than being served as good.
   */
  async readVerified(blockNr: number, verify: (data: Uint8Array) => void): Promise<Uint8Array> {
    const e = await this.entry(blockNr);
    if (!e.verified) {
      try {
        verify(e.data);
      } catch (err) {
        this.forget(blockNr);
        throw err;
      }
      e.verified = true;
    }
    return e.data;
  }

  /**
   * The block decoded (and verified) by `decode`, which throws on corruption.
   * The decoded value is cached with the block, so hot structures such as
   * extent index blocks are parsed once per load. `kind` names the decoder;
   * the same kind must always produce the same type.
   */
  async readDecoded<T>(blockNr: number, kind: string, decode: (data: Uint8Array) => T): Promise<T> {
    return this.decoded(await this.entry(blockNr), blockNr, kind, decode);
  }

  /**
   * `read` without waiting, for callers that can go on synchronously: the
   * block from the cache, or read at once from a device that can serve
   * synchronously; undefined when neither is possible (then use `read`).
   */
  readSync(blockNr: number): Uint8Array | undefined {
    return this.entrySync(blockNr)?.data;
  }

  /** `readDecoded` without waiting, under the same conditions as `readSync`. */
  readDecodedSync<T>(blockNr: number, kind: string, decode: (data: Uint8Array) => T): T | undefined {
    const e = this.entrySync(blockNr);
    return e === undefined ? undefined : this.decoded(e, blockNr, kind, decode);
  }

  private decoded<T>(e: Entry, blockNr: number, kind: string, decode: (data: Uint8Array) => T): T {
    if (e.decoded?.kind === kind) return e.decoded.value as T;
    let value: T;
    try {
      value = decode(e.data);
    } catch (err) {
      this.forget(blockNr);
      throw err;
    }
    e.decoded = { kind, value };
    e.verified = true;
    return value;
  }

  /** Drops one block (e.g. after it was found corrupt). */
  forget(blockNr: number): void {
    this.entries.delete(blockNr);
  }

  clear(): void {
    this.entries.clear();
  }

  private entrySync(blockNr: number): Entry | undefined {
    const hit = this.entries.get(blockNr);
    if (hit) return hit;
    const sync = this.device.readIntoSync;
    // A block already being read asynchronously is left to that read.
    if (sync === undefined || this.loading.has(blockNr)) return undefined;
    const data = new Uint8Array(this.blockSize);
    sync(blockNr * this.blockSize, data);
    return this.insert(blockNr, data);
  }

  private insert(blockNr: number, data: Uint8Array): Entry {
    const e: Entry = { data, verified: false, decoded: undefined };
    this.entries.set(blockNr, e, data.length);
    return e;
  }

  private async entry(blockNr: number): Promise<Entry> {
    const hit = this.entries.get(blockNr);
    if (hit) return hit;
    let pending = this.loading.get(blockNr);
    if (!pending) {
      pending = this.load(blockNr);
      this.loading.set(blockNr, pending);
    }
    return pending;
  }

  private async load(blockNr: number): Promise<Entry> {
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
