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
import { runChecked, runCommand, TOOL_ENV } from '../helpers/run.js';
import { debugfs } from '../helpers/debugfs.js';
import { mountImage } from '../helpers/loop.js';

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

/** Changes made through the kernel, in two committed rounds, the second freeing metadata (revokes). */
export async function kernelWorkload(m: string): Promise<void> {
  fs.mkdirSync(`${m}/big-dir`);
  for (let i = 0; i < 400; i++) fs.writeFileSync(`${m}/big-dir/entry-with-a-longish-name-${i}`, `${i}\n`);
  fs.mkdirSync(`${m}/keep/sub`, { recursive: true });
  fs.writeFileSync(`${m}/keep/small.txt`, 'hello journal\n');
  const big = Buffer.alloc(3 << 20);
  for (let i = 0; i < big.length; i += 4096) big.writeUInt32LE(i * 2654435761 >>> 0, i);
  fs.writeFileSync(`${m}/keep/big.bin`, big);
  fs.symlinkSync('small.txt', `${m}/keep/link`);
  fs.symlinkSync('x'.repeat(200), `${m}/keep/long-link`);
  fs.linkSync(`${m}/keep/small.txt`, `${m}/keep/sub/hard`);
  await runChecked('setfattr', ['-n', 'user.colour', '-v', 'blue', `${m}/keep/small.txt`]);
  await runChecked('setfattr', ['-n', 'user.big', '-v', '0x' + 'ab'.repeat(600), `${m}/keep/big.bin`]);
  await runChecked('sync', ['-f', m]);

  // Second round: freeing a multi-block directory revokes its blocks.
  fs.rmSync(`${m}/big-dir`, { recursive: true });
  fs.renameSync(`${m}/keep/sub`, `${m}/keep/moved`);
  fs.chmodSync(`${m}/keep/small.txt`, 0o600);
  fs.chownSync(`${m}/keep/moved`, 1234, 5678);
  fs.truncateSync(`${m}/keep/big.bin`, (1 << 20) + 17);
  fs.appendFileSync(`${m}/keep/small.txt`, 'more\n');
  fs.mkdirSync(`${m}/after`);
  for (let i = 0; i < 30; i++) fs.writeFileSync(`${m}/after/f${i}`, Buffer.alloc(5000 + i, i));
  // fsync commits the running transaction to the journal but leaves the
  // metadata's home blocks dirty in the kernel's cache (sync -f would write
  // them home too, leaving nothing for a replay to change).
  for (const f of ['after/f29', 'keep/small.txt', 'keep/big.bin', 'after', 'keep']) {
    const fd = fs.openSync(`${m}/${f}`, 'r');
    try {
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
  }
}

/**
 * Mounts `img` read-write, lets `change` work in the mount, and copies the
 * image file while it is still mounted: the copy's journal holds what was
 * committed (fsync) but not yet written home. `options` are mount options.
 * Returns `copy`.
 */
export async function copyWhileMounted(img: string, copy: string, change: (dir: string) => Promise<void>, options: string[] = []): Promise<string> {
  const mnt = await mountImage(img, { options });
  try {
    await change(mnt.dir);
    fs.copyFileSync(img, copy);
  } finally {
    await mnt.unmount();
  }
  return copy;
}
