/**
 * Helpers for the log writer tests: open a JournalLog on an image made by
 * mkfs.ext4, keep a model of what recovery must produce from the
 * transactions written, and read what the oracles say (debugfs logdump,
 * debugfs ffb, e2fsck's journal replay).
 */
import * as fs from 'node:fs';
import { expect } from 'vitest';
import { FileDevice } from '../../src/device/file-device.js';
import type { MemoryDevice } from '../../src/device/memory-device.js';
import { JournalLog, type JournalLogOptions, type LoggedBlock } from '../../src/journal/log-writer.js';
import { tidGt } from '../../src/journal/revoke-table.js';
import { decodeSuperblock, encodeSuperblock, setSuperblockChecksum, SUPERBLOCK_OFFSET, SUPERBLOCK_SIZE, type Superblock } from '../../src/format/superblock.js';
import { Ext4Super } from '../../src/super/ext4-super.js';
import { openInodeJournal, recoverToDisk } from '../../src/vfs/journal-open.js';
import { debugfs, readRange } from '../helpers/debugfs.js';
import { expectFsckClean } from '../helpers/fsck.js';
import { mountImage } from '../helpers/loop.js';
import { keystream } from '../helpers/prng.js';
import { runCommand, TOOL_ENV } from '../helpers/run.js';

export interface OpenLog {
  dev: FileDevice;
  fs: Ext4Super;
  log: JournalLog;
  blockSize: number;
  close(): Promise<void>;
}

/** A JournalLog on the internal journal of a clean image, through a writable FileDevice. */
export async function openLog(img: string, options: JournalLogOptions = {}): Promise<OpenLog> {
  const dev = await FileDevice.open(img);
  try {
    const fs0 = await Ext4Super.mount(dev, { readOnly: true, cacheBytes: 8 << 20 });
    const log = await JournalLog.open(await openInodeJournal(fs0), dev, options);
    return { dev, fs: fs0, log, blockSize: fs0.blockSize, close: () => dev.close() };
  } catch (e) {
    await dev.close();
    throw e;
  }
}

/** `count` free blocks at or after `goal`, as debugfs's ffb finds them (the oracle, not our bitmaps). */
export async function freeBlocks(img: string, count: number, goal: number): Promise<number[]> {
  const out = await debugfs(img, `ffb ${count} ${goal}`);
  const m = /Free blocks found:((?:\s+\d+)+)/.exec(out);
  if (!m) throw new Error(`ffb: ${out}`);
  const blocks = m[1].trim().split(/\s+/).map(Number);
  expect(blocks).toHaveLength(count);
  return blocks;
}

/** Recognisable contents for a block: a keystream named after the label. */
export function pattern(label: string, bs: number): Uint8Array {
  return new Uint8Array(keystream(label, bs));
}

/** A pattern that opens with the journal magic (big-endian 0xc03b3998), so it must be logged escaped. */
export function escapedPattern(label: string, bs: number): Uint8Array {
  const b = pattern(label, bs);
  b.set([0xc0, 0x3b, 0x39, 0x98], 0);
  return b;
}

/** The block holding the primary superblock, with the volume label changed (checksum updated). */
export async function relabelledSuperblockBlock(img: string, bs: number, label: string): Promise<LoggedBlock> {
  const blockNr = Math.floor(SUPERBLOCK_OFFSET / bs);
  const block = await readRange(img, blockNr * bs, bs);
  const at = SUPERBLOCK_OFFSET - blockNr * bs;
  const raw = block.subarray(at, at + SUPERBLOCK_SIZE);
  const sb = decodeSuperblock(raw);
  sb.volumeName = new Uint8Array(16);
  sb.volumeName.set(Buffer.from(label, 'latin1'));
  encodeSuperblock(sb, raw);
  setSuperblockChecksum(raw);
  return { blockNr, data: block };
}

/**
 * The primary superblock of an image file without the bookkeeping fields
 * e2fsck's replay updates besides the ones that matter: s_kbytes_written
 * (it adds its own writes), s_wtime (set to the time of the replay) and the
 * checksum over them. recoverToDisk leaves both as they were.
 */
export async function superblockSansBookkeeping(img: string): Promise<Superblock> {
  const sb = decodeSuperblock(await readRange(img, SUPERBLOCK_OFFSET, SUPERBLOCK_SIZE));
  sb.kbytesWritten = 0n;
  sb.writeTime = 0;
  sb.checksum = 0;
  return sb;
}

/** recoverToDisk on an image file. */
export async function recoverFile(img: string): Promise<void> {
  const dev = await FileDevice.open(img);
  try {
    await recoverToDisk(dev, 8 << 20);
  } finally {
    await dev.close();
  }
}

/**
 * recoverToDisk on a copy of `img` (returned): it must be e2fsck's replayed
 * image `oracle` block for block (the superblock without e2fsck's
 * bookkeeping), and e2fsck-clean.
 */
export async function expectRecoverToDiskLikeE2fsck(img: string, oracle: string, bs: number): Promise<string> {
  const ours = `${img}.ours`;
  fs.copyFileSync(img, ours);
  await recoverFile(ours);
  const sbBlock = Math.floor(SUPERBLOCK_OFFSET / bs);
  expect(differingBlocks(ours, oracle, bs).filter((nr) => nr !== sbBlock)).toEqual([]);
  expect(await superblockSansBookkeeping(ours)).toEqual(await superblockSansBookkeeping(oracle));
  await expectFsckClean(ours, { timeoutMs: 60_000 });
  return ours;
}

/** A copy of `img` that the kernel mounted read-write (replaying its journal) and unmounted. */
export async function kernelReplayedCopy(img: string): Promise<string> {
  const kernel = `${img}.kernel`;
  fs.copyFileSync(img, kernel);
  const m = await mountImage(kernel);
  await m.unmount();
  return kernel;
}

/** Sets needs_recovery in the superblock with debugfs, as a crash of a mounted filesystem leaves it. */
export async function setNeedsRecovery(img: string): Promise<void> {
  await debugfs(img, 'feature needs_recovery', true);
}

/** e2fsck's journal replay alone (`-E journal_only`) on a copy of `img`; returns its output. */
export async function e2fsckReplay(img: string, copy: string): Promise<string> {
  fs.copyFileSync(img, copy);
  const r = await runCommand('e2fsck', ['-y', '-E', 'journal_only', copy], { timeoutMs: 60_000, env: TOOL_ENV });
  if (r.timedOut || r.code !== 0) throw new Error(`e2fsck -y -E journal_only ${copy} exited ${r.code}:\n${r.stdout}${r.stderr}`);
  return r.stdout + r.stderr;
}

export interface DumpedTransaction {
  tid: number;
  /** Filesystem blocks logged, in log order. */
  blocks: number[];
  /** Journal blocks holding the copies, in the same order. */
  at: number[];
  revokes: number[];
}

export interface Logdump {
  start: number;
  firstTid: number;
  transactions: DumpedTransaction[];
}

/** debugfs `logdump -a`: the transactions, their logged blocks and revoke records, up to the end of the log. */
export async function logdump(img: string): Promise<Logdump> {
  const out = await debugfs(img, 'logdump -a');
  const head = /Journal starts at block (\d+), transaction (\d+)/.exec(out);
  if (!head) throw new Error(`logdump: ${out}`);
  const txs = new Map<number, DumpedTransaction>();
  const tx = (tid: number): DumpedTransaction => {
    let t = txs.get(tid);
    if (!t) txs.set(tid, t = { tid, blocks: [], at: [], revokes: [] });
    return t;
  };
  let current = -1;
  for (const line of out.split('\n')) {
    let m = /^Found expected sequence (\d+), type (\d+)/.exec(line);
    if (m) {
      current = Number(m[1]);
      tx(current);
      continue;
    }
    m = /^\s+FS block (\d+) logged at journal block (\d+)/.exec(line);
    if (m) {
      tx(current).blocks.push(Number(m[1]));
      tx(current).at.push(Number(m[2]));
      continue;
    }
    m = /^\s+Revoke FS block (\d+)/.exec(line);
    if (m) tx(current).revokes.push(Number(m[1]));
  }
  return { start: Number(head[1]), firstTid: Number(head[2]), transactions: [...txs.values()] };
}

/** One committed transaction as the model keeps it. */
export interface ModelTransaction {
  tid: number;
  blocks: LoggedBlock[];
  revokes: number[];
}

/**
 * What recovery must leave in each block, from the transactions still in
 * the log (oldest first) over the blocks' contents at home: a block takes
 * the copy of the newest transaction that logs it, unless a revoke record
 * in that or a later transaction covers it (then it keeps its home
 * contents). Returns only the blocks recovery writes.
 */
export function expectedReplay(live: readonly ModelTransaction[]): Map<number, Uint8Array> {
  const newestRevoke = new Map<number, number>();
  for (const t of live) for (const r of t.revokes) newestRevoke.set(r, t.tid);
  const out = new Map<number, Uint8Array>();
  for (const t of live) {
    for (const b of t.blocks) {
      const rev = newestRevoke.get(b.blockNr);
      if (rev === undefined || tidGt(t.tid, rev)) out.set(b.blockNr, b.data);
    }
  }
  return out;
}

/** Block numbers whose contents in `img` differ from `want` (sorted). */
export async function blocksDiffering(img: string, bs: number, want: ReadonlyMap<number, Uint8Array>): Promise<number[]> {
  const bad: number[] = [];
  const fd = fs.openSync(img, 'r');
  try {
    const buf = Buffer.alloc(bs);
    for (const [nr, data] of want) {
      fs.readSync(fd, buf, 0, bs, nr * bs);
      if (!buf.equals(Buffer.from(data.buffer, data.byteOffset, data.byteLength))) bad.push(nr);
    }
  } finally {
    fs.closeSync(fd);
  }
  return bad.sort((a, b) => a - b);
}

/** Blocks (of `bs` bytes) at which two image files differ. */
export function differingBlocks(a: string, b: string, bs: number): number[] {
  return differingBlocksFrom(fs.readFileSync(a), b, bs);
}

/** Blocks at which image `b` (a file, or a device in memory) differs from the image bytes `x`. */
export function differingBlocksFrom(x: Buffer, b: string | MemoryDevice, bs: number): number[] {
  const y = typeof b === 'string' ? fs.readFileSync(b) : b.bytes;
  expect(x.length).toBe(y.length);
  const out: number[] = [];
  for (let off = 0; off < x.length; off += bs) {
    if (!x.subarray(off, off + bs).equals(y.subarray(off, off + bs))) out.push(off / bs);
  }
  return out;
}
