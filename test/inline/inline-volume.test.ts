/**
 * Inline data through the volume API (`volume.promises`): files written,
 * appended, truncated; directories made, filled, emptied, renamed into and
 * out of; attributes set beside inline data — on an inline_data image, as a
 * random sequence that the Linux kernel also runs on an identical image.
 *
 * Checked at the end: e2fsck -fn on ext4kit's image; every file's bytes as
 * ext4kit, debugfs and the kernel read them; and, against the kernel's own
 * run, which files and directories are inline and the records of every
 * directory (rec_len and name, as `debugfs ls` shows them: inode numbers
 * differ between the two allocators).
 */
import { describe, expect, it } from 'vitest';
import { readFile } from 'node:fs/promises';
import { useImages } from '../helpers/images.js';
import { expectFsckClean } from '../helpers/fsck.js';
import { canLoopMount, describeLoopSkip, withMountedImage } from '../helpers/loop.js';
import { debugfsBatch, parseLs, parseStat } from '../helpers/debugfs.js';
import { Rng } from '../helpers/prng.js';
import { runChecked } from '../helpers/run.js';
import { openVolume } from '../../src/index.js';
import { EXT4_INLINE_DATA_FL } from '../../src/format/inode.js';

const images = useImages('inline-volume');
const canLoop = await canLoopMount();
if (!canLoop) console.warn(`SKIPPED (kernel comparison through the volume API): ${await describeLoopSkip()}`);

type Op =
  | ['write' | 'append', string, string]
  | ['truncate', string, number]
  | ['mkdir' | 'unlink' | 'rmdir', string]
  | ['rename', string, string]
  | ['setxattr', string, string, string];

/** The namespace the sequence builds: directories and files with their bytes. */
class Tree {
  readonly dirs = new Set<string>(['']);
  readonly files = new Map<string, Buffer>();

  childrenOf(d: string): string[] {
    const prefix = d === '' ? '' : `${d}/`;
    return [...this.dirs, ...this.files.keys()].filter((p) => p !== d && p.startsWith(prefix) && !p.slice(prefix.length).includes('/'));
  }
}

function name(rng: Rng): string {
  const len = rng.chance(0.6) ? rng.int(1, 8) : rng.int(9, 40);
  let s = '';
  for (let i = 0; i < len; i++) s += String.fromCharCode(0x61 + rng.int(0, 25));
  return s;
}

/** A sequence that only does what succeeds (so both sides stay in step), under 30 names a directory. */
function randomOps(seed: number, count: number): { ops: Op[]; tree: Tree } {
  const rng = new Rng(seed);
  const t = new Tree();
  const ops: Op[] = [];
  while (ops.length < count) {
    const dirs = [...t.dirs];
    const files = [...t.files.keys()];
    const p = rng.float();
    const d = rng.pick(dirs);
    const at = (n: string): string => (d === '' ? n : `${d}/${n}`);
    if (p < 0.12 && t.childrenOf(d).length < 30 && dirs.length < 8) {
      const path = at(name(rng));
      if (t.dirs.has(path) || t.files.has(path)) continue;
      ops.push(['mkdir', path]);
      t.dirs.add(path);
    } else if (p < 0.45 && t.childrenOf(d).length < 30) {
      const path = files.length > 0 && rng.chance(0.4) ? rng.pick(files) : at(name(rng));
      if (t.dirs.has(path)) continue;
      const size = rng.chance(0.8) ? rng.int(0, 140) : rng.int(141, 9000);
      const data = rng.bytes(size);
      const append = t.files.has(path) && rng.chance(0.5);
      ops.push([append ? 'append' : 'write', path, data.toString('hex')]);
      t.files.set(path, append ? Buffer.concat([t.files.get(path)!, data]) : data);
    } else if (p < 0.6 && files.length > 0) {
      const path = rng.pick(files);
      const size = rng.chance(0.7) ? rng.int(0, 140) : rng.int(0, 9000);
      ops.push(['truncate', path, size]);
      const old = t.files.get(path)!;
      const next = Buffer.alloc(size);
      old.copy(next, 0, 0, Math.min(size, old.length));
      t.files.set(path, next);
    } else if (p < 0.72 && files.length > 0) {
      const path = rng.pick(files);
      ops.push(['unlink', path]);
      t.files.delete(path);
    } else if (p < 0.8 && files.length > 0) {
      // A file to a new name, or over another file (the entry is retargeted).
      const from = rng.pick(files);
      const to = files.length > 1 && rng.chance(0.3) ? rng.pick(files.filter((f) => f !== from)) : at(name(rng));
      if (t.dirs.has(to) || (!t.files.has(to) && t.childrenOf(d).length >= 30)) continue;
      ops.push(['rename', from, to]);
      t.files.set(to, t.files.get(from)!);
      t.files.delete(from);
    } else if (p < 0.83 && dirs.length > 1) {
      // A directory into another (its '..' moves), never into itself.
      const from = rng.pick(dirs.filter((x) => x !== ''));
      if (d === from || d.startsWith(`${from}/`) || t.childrenOf(d).length >= 30) continue;
      const to = at(name(rng));
      if (t.dirs.has(to) || t.files.has(to)) continue;
      ops.push(['rename', from, to]);
      const moved = (x: string): string => (x === from ? to : x.startsWith(`${from}/`) ? to + x.slice(from.length) : x);
      const dirsAfter = [...t.dirs].map(moved);
      const filesAfter = [...t.files].map(([k, v]): [string, Buffer] => [moved(k), v]);
      t.dirs.clear();
      for (const x of dirsAfter) t.dirs.add(x);
      t.files.clear();
      for (const [k, v] of filesAfter) t.files.set(k, v);
    } else if (p < 0.87) {
      const empty = dirs.filter((x) => x !== '' && t.childrenOf(x).length === 0);
      if (empty.length === 0) continue;
      const path = rng.pick(empty);
      ops.push(['rmdir', path]);
      t.dirs.delete(path);
    } else if (files.length > 0) {
      ops.push(['setxattr', rng.pick(files), `user.${name(rng).slice(0, 6)}`, rng.bytes(rng.int(1, 40)).toString('hex')]);
    }
  }
  return { ops, tree: t };
}

const KERNEL_PY = `
import json, os, sys
root = sys.argv[1]
for op in json.loads(sys.stdin.read()):
    kind = op[0]
    p = os.path.join(root, op[1])
    if kind in ('write', 'append'):
        fd = os.open(p, os.O_WRONLY | os.O_CREAT | (os.O_APPEND if kind == 'append' else os.O_TRUNC), 0o644)
        try:
            os.write(fd, bytes.fromhex(op[2]))
        finally:
            os.close(fd)
    elif kind == 'truncate':
        # ftruncate on an open file: truncate(2) by path oopses Linux 6.18 on inline files.
        fd = os.open(p, os.O_WRONLY)
        try:
            os.ftruncate(fd, op[2])
        finally:
            os.close(fd)
    elif kind == 'mkdir':
        os.mkdir(p)
    elif kind == 'unlink':
        os.unlink(p)
    elif kind == 'rmdir':
        os.rmdir(p)
    elif kind == 'rename':
        os.rename(p, os.path.join(root, op[2]))
    elif kind == 'setxattr':
        os.setxattr(p, op[2], bytes.fromhex(op[3]))
`;

async function runOurs(img: string, ops: readonly Op[]): Promise<void> {
  const vol = await openVolume(img);
  try {
    const fsp = vol.promises;
    for (const [i, op] of ops.entries()) {
      try {
        switch (op[0]) {
          case 'write': await fsp.writeFile(`/${op[1]}`, Buffer.from(op[2], 'hex')); break;
          case 'append': await fsp.appendFile(`/${op[1]}`, Buffer.from(op[2], 'hex')); break;
          case 'truncate': await fsp.truncate(`/${op[1]}`, op[2]); break;
          case 'mkdir': await fsp.mkdir(`/${op[1]}`); break;
          case 'unlink': await fsp.unlink(`/${op[1]}`); break;
          case 'rmdir': await fsp.rmdir(`/${op[1]}`); break;
          case 'rename': await fsp.rename(`/${op[1]}`, `/${op[2]}`); break;
          case 'setxattr': await fsp.setxattr(`/${op[1]}`, op[2], Buffer.from(op[3], 'hex')); break;
        }
      } catch (e) {
        throw new Error(`op ${i} ${JSON.stringify(op).slice(0, 120)}: ${String(e)}`);
      }
    }
  } finally {
    await vol.close();
  }
}

/** Per path: inline or not; per directory: its records as (rec_len)name. */
async function shape(img: string, t: Tree): Promise<{ inline: Record<string, boolean>; records: Record<string, string> }> {
  const paths = [...t.dirs, ...t.files.keys()];
  const stats = (await debugfsBatch(img, paths.map((p) => `stat /${p}`))).split(/^debugfs: stat .*$/m).slice(1);
  const inline: Record<string, boolean> = {};
  paths.forEach((p, i) => { inline[p] = (parseStat(stats[i]).flags & EXT4_INLINE_DATA_FL) !== 0; });
  const dirs = [...t.dirs];
  const lists = (await debugfsBatch(img, dirs.map((d) => `ls /${d}`))).split(/^debugfs: ls .*$/m).slice(1);
  const records: Record<string, string> = {};
  dirs.forEach((d, i) => { records[d] = parseLs(lists[i]).map((e) => `(${e.recLen})${e.name}`).join(' '); });
  return { inline, records };
}

describe('inline data through the volume API', () => {
  it.each([31, 32])('random file and directory sequence, seed %i', async (seed) => {
    const { ops, tree } = randomOps(seed, 160);
    const args = { size: '32M', args: ['-b', '4096', '-O', 'inline_data'] };
    const ours = await images.mkfs({ ...args, name: `ours-${seed}.img` });
    const theirs = await images.mkfs({ ...args, name: `kernel-${seed}.img` });
    await runOurs(ours, ops);
    await expectFsckClean(ours);

    const vol = await openVolume(ours, { readOnly: true });
    try {
      for (const [p, data] of tree.files) expect((await vol.promises.readFile(`/${p}`)).equals(data), `ext4kit reads ${p}`).toBe(true);
      for (const d of tree.dirs) {
        const want = tree.childrenOf(d).map((c) => c.slice(d === '' ? 0 : d.length + 1)).sort();
        expect((await vol.promises.readdir(`/${d}`)).filter((n) => n !== 'lost+found').sort(), `ext4kit lists /${d}`).toEqual(want);
      }
    } finally {
      await vol.close();
    }
    const dump = images.tmp.fresh('dump');
    const files = [...tree.files.keys()];
    await debugfsBatch(ours, files.map((p, i) => `dump /${p} ${dump}/${i}`));
    for (const [i, p] of files.entries()) {
      const got = await readFile(`${dump}/${i}`);
      const want = tree.files.get(p)!;
      // debugfs dumps an inline file's whole inline area: past i_size it must be zeros.
      expect(got.subarray(0, want.length).equals(want) && got.subarray(want.length).every((b) => b === 0), `debugfs dump ${p}`).toBe(true);
    }
    const ourShape = await shape(ours, tree);
    expect(Object.values(ourShape.inline).some((x) => x) && Object.values(ourShape.inline).some((x) => !x), 'some inline, some not').toBe(true);
    if (!canLoop) return;

    await withMountedImage(theirs, {}, (m) => runChecked('python3', ['-c', KERNEL_PY, m.dir], { input: JSON.stringify(ops), timeoutMs: 300_000 }));
    await expectFsckClean(theirs);
    const kernelShape = await shape(theirs, tree);
    expect(ourShape.inline, 'which files and directories are inline').toEqual(kernelShape.inline);
    expect(ourShape.records, 'directory records').toEqual(kernelShape.records);
    await withMountedImage(ours, { readOnly: true }, async (m) => {
      for (const [p, data] of tree.files) expect((await readFile(`${m.dir}/${p}`)).equals(data), `kernel reads ${p}`).toBe(true);
    });
  });
});
