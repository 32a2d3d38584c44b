/**
 * A simulated disk with a volatile write cache (DESIGN.md §4, rule R5).
 *
 * Like a real drive: a write is "complete" once it reaches the drive's cache,
 * and only `flush()` makes completed writes durable. Reads see the latest
 * completed writes (cache over media). Under the scheduler, every request
 * completes in a step of its own (an `io:` daemon task), so concurrent
 * requests complete in an order the seeded PRNG chooses.
 *
 * `powerCut()` ends the device's life and returns what a reboot would find:
 * the media plus a PRNG-chosen subset of the writes that were not yet flushed
 * (completed or still in flight), optionally torn at sector granularity
 * (512 B: a multi-sector write is not atomic on real hardware). Flush is the
 * only ordering guarantee: every write completed before a flush() began is on
 * the media once it resolves, and nothing else is promised.
 *
 * The media starts filled with a recognisable pattern: every 512-byte sector
 * is 32 copies of `STALE#<sector in 8 hex digits>|\n`. A file that shows any
 * piece of it exposes a block it never wrote (R5's "no file shows bytes it
 * never wrote"); `findStale` finds such pieces and names the sector.
 */
import { checkRange, checkWritable, type BlockDevice } from '../device/block-device.js';
import { FsError } from '../base/errors.js';
import type { Prng } from './prng.js';
import type { Scheduler } from './scheduler.js';

export const SECTOR = 512;
const STALE_TAG = 'STALE#';

/** The 16-byte record repeated through stale sector `sector`. */
function staleRecord(sector: number): Buffer {
  return Buffer.from(`${STALE_TAG}${(sector >>> 0).toString(16).padStart(8, '0')}|\n`, 'latin1');
}

/** Fills `buf` with the stale pattern, its first byte being byte 0 of sector `firstSector`. */
export function fillStale(buf: Uint8Array, firstSector = 0): void {
  const b = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  for (let off = 0, s = firstSector; off < b.length; off += SECTOR, s++) {
    b.fill(staleRecord(s), off, Math.min(off + SECTOR, b.length));
  }
}

export interface StaleHit {
  /** Offset in the scanned bytes where a stale record (or its tag) starts. */
  offset: number;
  /** The sector the record names. */
  sector: number;
}

/**
 * Finds pieces of the stale pattern in `bytes` (file contents read back after
 * a crash, a directory block, ...). Detects any fragment that includes the
 * 6-byte tag plus the 8 hex digits; at most `limit` hits are returned.
 */
export function findStale(bytes: Uint8Array, limit = 16): StaleHit[] {
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const hits: StaleHit[] = [];
  let at = b.indexOf(STALE_TAG, 0, 'latin1');
  while (at >= 0 && hits.length < limit) {
    const hex = b.toString('latin1', at + STALE_TAG.length, at + STALE_TAG.length + 8);
    if (/^[0-9a-f]{8}$/.test(hex)) hits.push({ offset: at, sector: parseInt(hex, 16) });
    at = b.indexOf(STALE_TAG, at + 1, 'latin1');
  }
  return hits;
}

export interface SimDeviceOptions {
  /** Bytes; a multiple of 512. Ignored when `image` is given. */
  size?: number;
  rng: Prng;
  /** When set, requests made from a scheduler task complete as separate, PRNG-ordered steps. */
  scheduler?: Scheduler;
  /** Start from this durable image (e.g. the result of an earlier powerCut) instead of the stale pattern. */
  image?: Uint8Array;
  /** Add a yield point before every request (`dev.read`, `dev.write`, `dev.flush`). */
  yieldPoints?: boolean;
}

export interface PowerCutOptions {
  /** Probability that each unflushed write survives (default 0.5). */
  keepProbability?: number;
  /**
   * Tear multi-sector writes: one that survives (probability keepProbability)
   * keeps each of its sectors with probability 1/2, independently.
   */
  torn?: boolean;
  /**
   * The unit a torn write keeps or loses (default 512, a sector). 4096
   * models a device that writes 4 KiB units atomically (4Kn disks, most
   * SSDs and NVMe), which ext4 — Linux's included — assumes for its
   * 1024-byte superblock: a superblock torn across two sectors fails its
   * checksum and takes e2fsck with a backup superblock to repair.
   */
  tornUnit?: number;
}

interface WriteRec {
  id: number;
  offset: number;
  data: Uint8Array;
}

export interface PowerCutReport {
  /** Ids (order of submission, from 1) of unflushed writes that survived whole. */
  kept: number[];
  /** Ids of unflushed writes that were lost entirely. */
  dropped: number[];
  /** Ids of writes that survived in part (torn), with the surviving sector indexes within the write. */
  torn: { id: number; sectors: number[] }[];
}

export class SimDevice implements BlockDevice {
  readonly size: number;
  readonly readOnly = false;
  readonly stats = { reads: 0, writes: 0, flushes: 0 };
  /** Filled by powerCut(). */
  lastPowerCut: PowerCutReport | undefined;
  private readonly media: Buffer;
  private readonly latest: Buffer;
  /** Completed but not durable, in completion order: `latest` = media + these applied in order. */
  private unflushed: WriteRec[] = [];
  private readonly inflight = new Map<number, WriteRec>();
  private nextId = 1;
  private dead = false;
  private readonly opts: SimDeviceOptions;

  constructor(opts: SimDeviceOptions) {
    this.opts = opts;
    if (opts.image !== undefined) {
      this.media = Buffer.from(opts.image);
    } else {
      const size = opts.size ?? 0;
      if (!Number.isSafeInteger(size) || size <= 0 || size % SECTOR !== 0) throw new RangeError(`SimDevice size must be a positive multiple of ${SECTOR}, got ${size}`);
      this.media = Buffer.allocUnsafe(size);
      fillStale(this.media);
    }
    this.size = this.media.length;
    this.latest = Buffer.from(this.media);
  }

  /** The durable contents (what a power cut with nothing kept would leave). */
  durableImage(): Buffer {
    return Buffer.from(this.media);
  }

  /** What reads see now: media plus every completed write. */
  latestImage(): Buffer {
    return Buffer.from(this.latest);
  }

  /** Number of writes not yet durable (completed or in flight). */
  get pendingWrites(): number {
    return this.unflushed.length + this.inflight.size;
  }

  async read(offset: number, length: number): Promise<Buffer> {
    const out = Buffer.alloc(length);
    await this.readInto(offset, out);
    return out;
  }

  async readInto(offset: number, target: Uint8Array): Promise<void> {
    this.checkAlive('read');
    checkRange(this.size, offset, target.length, 'read');
    if (this.opts.yieldPoints) await this.opts.scheduler?.yieldPoint('dev.read');
    this.checkAlive('read');
    this.stats.reads++;
    target.set(this.latest.subarray(offset, offset + target.length));
  }

  async write(offset: number, data: Uint8Array): Promise<void> {
    this.checkAlive('write');
    checkWritable(this);
    checkRange(this.size, offset, data.length, 'write');
    const sched = this.opts.scheduler;
    if (this.opts.yieldPoints) await sched?.yieldPoint('dev.write');
    this.checkAlive('write');
    this.stats.writes++;
    // Copy now: the caller may reuse its buffer as soon as write() returns,
    // and a real device DMAs the data at submission.
    const rec: WriteRec = { id: this.nextId++, offset, data: Uint8Array.from(data) };
    if (sched?.current() === undefined) {
      this.complete(rec);
      return;
    }
    this.inflight.set(rec.id, rec);
    const io = sched.spawn(`io:write#${rec.id}`, async () => { this.complete(rec); }, { daemon: true });
    await (sched.blockOn(`dev.write#${rec.id} @${offset}+${data.length}`, io.result) ?? io.result);
  }

  async flush(): Promise<void> {
    this.checkAlive('flush');
    const sched = this.opts.scheduler;
    if (this.opts.yieldPoints) await sched?.yieldPoint('dev.flush');
    this.checkAlive('flush');
    this.stats.flushes++;
    // The guarantee covers exactly what had completed when flush() began.
    const covered = new Set(this.unflushed);
    if (sched?.current() === undefined) {
      this.persist(covered);
      return;
    }
    const io = sched.spawn('io:flush', async () => { this.persist(covered); }, { daemon: true });
    await (sched.blockOn(`dev.flush (${covered.size} writes)`, io.result) ?? io.result);
  }

  async close(): Promise<void> {}

  /**
   * Cuts power: the device refuses every further request, and the returned
   * image is the media plus a PRNG-chosen subset of the unflushed writes
   * (applied in completion order, in-flight ones after), each whole or, with
   * `torn`, sector by sector. Reopen it with `new SimDevice({ image, rng })`.
   */
  powerCut(opts: PowerCutOptions = {}): Buffer {
    this.dead = true;
    const p = opts.keepProbability ?? 0.5;
    const rng = this.opts.rng;
    const image = Buffer.from(this.media);
    const report: PowerCutReport = { kept: [], dropped: [], torn: [] };
    const candidates = [...this.unflushed, ...[...this.inflight.values()].sort((a, b) => a.id - b.id)];
    const unit = opts.tornUnit ?? SECTOR;
    for (const w of candidates) {
      const first = Math.floor(w.offset / unit);
      const last = Math.floor((w.offset + w.data.length - 1) / unit);
      if (opts.torn && last > first && rng.chance(p)) {
        const sectors: number[] = [];
        for (let s = first; s <= last; s++) {
          if (!rng.chance(0.5)) continue;
          sectors.push(s - first);
          const lo = Math.max(w.offset, s * unit);
          const hi = Math.min(w.offset + w.data.length, (s + 1) * unit);
          image.set(w.data.subarray(lo - w.offset, hi - w.offset), lo);
        }
        report.torn.push({ id: w.id, sectors });
      } else if (w.data.length > 0 && rng.chance(p)) {
        image.set(w.data, w.offset);
        report.kept.push(w.id);
      } else {
        report.dropped.push(w.id);
      }
    }
    this.unflushed = [];
    this.inflight.clear();
    this.lastPowerCut = report;
    return image;
  }

  private complete(rec: WriteRec): void {
    // After a power cut the request never completes: its task is abandoned.
    if (this.dead) return;
    this.inflight.delete(rec.id);
    this.latest.set(rec.data, rec.offset);
    this.unflushed.push(rec);
  }

  private persist(covered: Set<WriteRec>): void {
    if (this.dead) return;
    // `covered` is a prefix of `unflushed` (later completions are appended),
    // so applying it in order keeps latest = media + unflushed.
    const rest: WriteRec[] = [];
    for (const w of this.unflushed) {
      if (covered.has(w)) this.media.set(w.data, w.offset);
      else rest.push(w);
    }
    this.unflushed = rest;
  }

  private checkAlive(op: string): void {
    if (this.dead) throw new FsError('EIO', `${op} after power cut`, op);
  }
}
