/**
 * The main thread's side of a copy's host writes: file records (and, where
 * the walk had to read them, file contents) are collected into batches
 * (cp-ops.ts), and each full batch is applied by whichever thread is free:
 * a worker thread, or this one.
 *
 * Why a second thread: a tree copy is two kinds of work, the walk (the
 * engine: directories, inodes, extent maps) and the host side (reading the
 * contents from the image file, then open, write, close: system calls, each
 * cheap, tens of thousands of them). Here the walk runs on this thread and
 * hands full batches to the worker; when the worker already has `QUEUED`
 * batches waiting, this thread applies the batch itself instead of waiting,
 * so neither core idles whichever kind of work is the larger on a given
 * machine. At most `POOL` batches exist, so memory stays bounded (a few MiB)
 * however large the tree. How much it gains depends on the machine: on a
 * 2-core VM where the kernel creates files little faster from two threads
 * than from one, next to nothing (docs/architecture.md).
 *
 * Batches do not depend on each other (cp-ops.ts), except that a file whose
 * pieces span batches is finished by the thread that started it.
 *
 * The worker is started when a tree copy is coming (`expectTree`) or when a
 * batch fills up, and boots (tens of milliseconds) while this thread goes on
 * alone; a single file or a small tree never waits for it.
 */
import { MessageChannel, receiveMessageOnPort, Worker, type MessagePort } from 'node:worker_threads';
import { HostApplier } from './cp-apply.js';
import {
  BATCH_BYTES, BATCH_OPS, F, FL_ABORT, FL_FIRST, FL_HOST, FL_LAST, OP_STRIDE, OpKind, type ApplyOptions, type BatchMessage, type HostFailure,
  type WorkerReply, type WorkerRequest,
} from './cp-ops.js';
import type { HostPath } from '../host/host-ops.js';

/** Batches allocated at most. */
const POOL = 6;
/** Batches the worker may have waiting before this thread applies one itself. */
const QUEUED = 2;

/**
 * The worker's script, beside this module once built; tests that run the
 * TypeScript sources stay on one thread. EXT4KIT_CP_THREADS=0 keeps every copy
 * on one thread; =eager sends every batch to the worker, waiting for it to
 * boot (so that tests can be sure which thread applied what).
 */
function workerScript(): URL | undefined {
  if (process.env.EXT4KIT_CP_THREADS === '0') return undefined;
  const url = new URL('./cp-worker.js', import.meta.url);
  return import.meta.url.endsWith('.js') ? url : undefined;
}

/** The attributes a record carries (a source node has them all). */
export interface RecordMeta { mode: number; uid: number; gid: number; atimeSec: number; mtimeSec: number }

type Place = 'here' | 'worker';

export class HostWriter {
  private ops = new Float64Array(BATCH_OPS * OP_STRIDE);
  private data = new Uint8Array(BATCH_BYTES);
  /** False while the batch buffers are with the worker and no empty one has been taken yet. */
  private hasBatch = true;
  private count = 0;
  private used = 0;
  /**
   * Bytes the batch's records move, in `data` or read from a host file
   * (FL_HOST): a batch is closed at BATCH_BYTES of them, so that batches stay
   * about equal in work and either thread can take the next one without
   * holding the other up for long.
   */
  private load = 0;
  private names: HostPath[] = [];
  private targets: Uint8Array[] = [];
  private nextId = 0;
  /** A file's first piece is in the batch and its last is not yet. */
  private midFile = false;
  /** Where the next batch must go: the thread that holds a half-written file. */
  private pinned: Place | undefined;
  private allocated = 1;
  private readonly spare: Array<{ ops: ArrayBuffer; data: ArrayBuffer }> = [];
  private inFlight = 0;
  private waiters: Array<() => void> = [];
  private readonly local: HostApplier;
  private worker: Worker | undefined;
  /** Our end of the channel to the worker. */
  private port: MessagePort | undefined;
  /** The worker has loaded and takes batches. */
  private ready = false;
  private script: URL | undefined;
  private crash: Error | undefined;
  private readonly eager = process.env.EXT4KIT_CP_THREADS === 'eager';
  private whenReady: Promise<void> | undefined;
  private readied: (() => void) | undefined;

  /** Ids of records that failed (and were reported). */
  readonly failed = new Set<number>();

  constructor(private readonly opts: ApplyOptions, private readonly onFailure: (f: HostFailure) => void, threads: boolean) {
    this.local = new HostApplier(opts);
    this.script = threads ? workerScript() : undefined;
  }

  newId(): number {
    return this.nextId++;
  }

  /**
   * `length` free bytes of the current batch to read file contents into, with
   * room for one record; undefined when the batch is full (`await next()`).
   */
  space(length: number): Uint8Array | undefined {
    if (this.count >= BATCH_OPS || this.load + length > BATCH_BYTES) return undefined;
    return this.data.subarray(this.used, this.used + length);
  }

  /** Bytes left for file contents in the current batch (0 when it has no room for another record). */
  free(): number {
    return this.count >= BATCH_OPS ? 0 : Math.max(0, BATCH_BYTES - this.load);
  }

  /** A tree is about to be copied: start the worker now if there is to be one, so it boots meanwhile. */
  expectTree(): void {
    if (this.worker === undefined && this.script !== undefined) this.startWorker(this.script);
  }

  /** Whether `n` more records without data fit. */
  hasRoom(n = 1): boolean {
    return this.count + n <= BATCH_OPS && this.load < BATCH_BYTES;
  }

  /**
   * Appends a record. A record with data (`len` > 0) must follow `space()`,
   * whose view holds its bytes; `path` is needed on a file's first record.
   * `newGid` is the group a new entry in the parent directory certainly gets, or -1.
   */
  push(kind: OpKind, id: number, newGid: number, path: HostPath, meta: RecordMeta, len: number, pos: number, size: number, flags: number, ref: number): void {
    const o = this.ops;
    const r = this.count * OP_STRIDE;
    o[r + F.KIND] = kind;
    o[r + F.ID] = id;
    o[r + F.NEW_GID] = newGid;
    o[r + F.MODE] = meta.mode;
    o[r + F.UID] = meta.uid;
    o[r + F.GID] = meta.gid;
    o[r + F.ATIME] = meta.atimeSec;
    o[r + F.MTIME] = meta.mtimeSec;
    o[r + F.DATA] = this.used;
    o[r + F.LEN] = len;
    o[r + F.POS] = pos;
    o[r + F.SIZE] = size;
    o[r + F.FLAGS] = flags;
    o[r + F.REF] = ref;
    this.names[this.count] = path;
    this.count++;
    this.used += len;
    this.load += len;
    if (kind === OpKind.FILE) this.midFile = (flags & (FL_LAST | FL_ABORT)) === 0 && ((flags & FL_FIRST) !== 0 || this.midFile);
  }

  /**
   * Appends a piece of a file whose `len` bytes the applier reads itself
   * from the host file `fd` at `hostPosition` (FL_HOST): nothing is copied
   * into the batch.
   */
  pushHost(id: number, newGid: number, path: HostPath, meta: RecordMeta, fd: number, hostPosition: number, len: number, pos: number, size: number, flags: number): void {
    this.push(OpKind.FILE, id, newGid, path, meta, 0, pos, size, flags | FL_HOST, fd);
    const r = (this.count - 1) * OP_STRIDE;
    this.ops[r + F.DATA] = hostPosition;
    this.ops[r + F.LEN] = len;
    this.load += len;
  }

  /** Keeps bytes (a symlink target) for the current batch; returns their index for F.REF. */
  target(bytes: Uint8Array): number {
    this.targets.push(bytes);
    return this.targets.length - 1;
  }

  /** Sends the current batch off (or applies it) and starts an empty one. */
  async next(): Promise<void> {
    await this.awaitEager();
    this.flush();
    await this.acquire();
  }

  /** Applies everything pushed so far and waits for it; `failed` is then complete. */
  async drain(): Promise<void> {
    await this.awaitEager();
    this.flush();
    while (this.inFlight > 0 && this.crash === undefined) {
      this.poll();
      if (this.inFlight > 0) await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
    this.checkCrash();
    await this.acquire();
  }

  async close(): Promise<void> {
    await this.stopWorker();
  }

  private async awaitEager(): Promise<void> {
    if (!this.eager) return;
    if (this.worker === undefined && this.script !== undefined) this.startWorker(this.script);
    if (!this.ready) await this.whenReady;
  }

  /** After a batch went to the worker: an empty one to fill, waiting only when every batch is out. */
  private async acquire(): Promise<void> {
    if (this.hasBatch) return;
    this.poll();
    while (this.spare.length === 0 && this.allocated >= POOL && this.crash === undefined) {
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
    this.checkCrash();
    const s = this.spare.pop();
    if (s !== undefined) {
      this.ops = new Float64Array(s.ops);
      this.data = new Uint8Array(s.data);
    } else {
      this.allocated++;
      this.ops = new Float64Array(BATCH_OPS * OP_STRIDE);
      this.data = new Uint8Array(BATCH_BYTES);
    }
    this.hasBatch = true;
  }

  private checkCrash(): void {
    if (this.crash !== undefined) throw this.crash;
  }

  private flush(): void {
    this.poll();
    if (this.count === 0) return;
    const msg: BatchMessage = { ops: this.ops.buffer, count: this.count, data: this.data.buffer, names: this.names, targets: this.targets };
    this.count = 0;
    this.used = 0;
    this.load = 0;
    this.names = [];
    this.targets = [];
    // A copy that fills a batch is large enough for a worker.
    if (this.worker === undefined && this.script !== undefined) this.startWorker(this.script);
    const port = this.port;
    let where: Place = 'here';
    if (this.pinned !== undefined) where = this.pinned;
    else if (port !== undefined && this.ready && (this.eager || this.inFlight < QUEUED)) where = 'worker';
    this.pinned = this.midFile ? where : undefined;
    if (where === 'here' || port === undefined) {
      for (const f of this.local.apply(msg)) this.failedRecord(f);
      return;
    }
    this.inFlight++;
    this.hasBatch = false;
    port.postMessage({ type: 'batch', ...msg } satisfies WorkerRequest, [msg.ops, msg.data]);
  }

  private failedRecord(f: HostFailure): void {
    this.failed.add(f.id);
    this.onFailure(f);
  }

  private startWorker(script: URL): void {
    this.script = undefined;
    // Replies come on a channel of our own, which `poll` can read without yielding.
    const { port1, port2 } = new MessageChannel();
    const w = new Worker(script, { workerData: { options: this.opts, port: port2 }, transferList: [port2] });
    this.worker = w;
    this.port = port1;
    this.whenReady = new Promise<void>((resolve) => { this.readied = resolve; });
    port1.on('message', (m: WorkerReply) => this.onReply(m));
    w.on('error', (e) => this.workerFailed(w, e));
    w.on('exit', (code) => {
      if (this.worker === w) this.workerFailed(w, new Error(`the copy's writer thread exited (status ${code})`));
    });
  }

  /**
   * Takes the replies that have arrived, without yielding: the walk keeps
   * this thread busy for long stretches (reading is synchronous), in which
   * the event loop would not deliver them.
   */
  private poll(): void {
    const port = this.port;
    if (port === undefined) return;
    for (let m = receiveMessageOnPort(port); m !== undefined; m = receiveMessageOnPort(port)) this.onReply(m.message as WorkerReply);
  }

  private onReply(m: WorkerReply): void {
    if (m.type === 'ready') {
      this.ready = true;
      this.readied?.();
    } else if (m.type === 'batch-done') {
      this.inFlight--;
      this.spare.push({ ops: m.ops, data: m.data });
      for (const f of m.failures) this.failedRecord(f);
    } else if (this.worker !== undefined) {
      this.workerFailed(this.worker, new Error(`the copy's writer thread failed: ${m.message}`));
    }
    this.wakeAll();
  }

  private workerFailed(w: Worker, e: Error): void {
    if (!this.ready || (this.inFlight === 0 && this.pinned !== 'worker')) {
      // It holds no work: go on without it.
      if (this.worker === w) void this.stopWorker()?.catch(() => undefined);
      this.readied?.();
      return;
    }
    this.crash ??= e;
    this.wakeAll();
  }

  /** Stops the worker (without waiting for it) and closes our end of the channel. */
  private stopWorker(): Promise<number> | undefined {
    const w = this.worker;
    this.worker = undefined;
    this.ready = false;
    this.port?.close();
    this.port = undefined;
    return w?.terminate();
  }

  private wakeAll(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const wake of w) wake();
  }
}
