/**
 * Helpers for the journal recovery tests: run ext4kit's in-memory replay of
 * an image, compare its view with an image e2fsck replayed, and hash image
 * files to prove ext4kit never wrote them.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { FileDevice } from '../../src/device/file-device.js';
import { Ext4Super } from '../../src/super/ext4-super.js';
import { replayJournal } from '../../src/vfs/journal-open.js';
import type { RecoveryResult } from '../../src/journal/recovery.js';
import { runCommand, TOOL_ENV } from '../helpers/run.js';
import { debugfs } from '../helpers/debugfs.js';

export function sha256File(p: string): string {
  return createHash('sha256').update(fs.readFileSync(p)).digest('hex');
}

/** ext4kit's recovery of `img`, read-only (the replay stays in memory). */
export async function replayImage(img: string): Promise<{ result: RecoveryResult; blockSize: number }> {
  const dev = await FileDevice.open(img, { readOnly: true });
  try {
    const fs0 = await Ext4Super.mount(dev, { readOnly: true, cacheBytes: 8 << 20, recover: 'before-replay' });
    return { result: await replayJournal(fs0), blockSize: fs0.blockSize };
  } finally {
    await dev.close();
  }
}

/** `e2fsck -fy` on a copy of `img` (the oracle's replay); returns the copy and e2fsck's output. */
export async function e2fsckReplayedCopy(img: string, copy: string): Promise<string> {
  fs.copyFileSync(img, copy);
  const r = await runCommand('e2fsck', ['-fy', copy], { timeoutMs: 30_000, env: TOOL_ENV });
  if (r.timedOut || r.code === null || r.code > 1) throw new Error(`e2fsck -fy ${copy} exited ${r.code}:\n${r.stdout}${r.stderr}`);
  return r.stdout + r.stderr;
}

/** Block `nr` of an image file. */
export function imageBlock(img: string, nr: number, bs: number): Uint8Array {
  const fd = fs.openSync(img, 'r');
  try {
    const buf = new Uint8Array(bs);
    fs.readSync(fd, buf, 0, bs, nr * bs);
    return buf;
  } finally {
    fs.closeSync(fd);
  }
}

/** The replayed blocks whose contents differ from the same blocks of `oracleImg`. */
export function blocksDifferingFrom(result: RecoveryResult, oracleImg: string, bs: number): number[] {
  const bad: number[] = [];
  for (const [nr, data] of result.blocks) {
    if (!Buffer.from(data).equals(Buffer.from(imageBlock(oracleImg, nr, bs)))) bad.push(nr);
  }
  return bad.sort((a, b) => a - b);
}

/** Physical blocks of the journal inode, from debugfs's extent listing. */
export async function journalBlocks(img: string): Promise<number[]> {
  const out = await debugfs(img, 'ex <8>');
  const pblks: number[] = [];
  for (const m of out.matchAll(/^\s*\d+\/\s*\d+\s+\d+\/\s*\d+\s+(\d+)\s+-\s+(\d+)\s+(\d+)\s+-\s+(\d+)/gm)) {
    const [l0, l1, p0] = [Number(m[1]), Number(m[2]), Number(m[3])];
    for (let l = l0; l <= l1; l++) pblks[l] = p0 + (l - l0);
  }
  return pblks;
}

