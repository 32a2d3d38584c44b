/**
 * Inline directories under random link/unlink sequences: entries added to
 * i_block, then to system.data (grown once to what the inode allows),
 * deleted (merged or made unused), names re-added into the freed room, and
 * the directory converted to a one-block directory when an entry no longer
 * fits (the entry then goes into the new block).
 *
 * Checked against a model after every operation (the entries our reader
 * parses, EEXIST and ENOENT), and at the end: e2fsck -fn (it also checks
 * the link counts the sequence changed), and the Linux kernel running the
 * same sequence as link(2)/unlink(2) on an identical image: the same
 * outcome for each operation (inline or converted, error or not), and the
 * same records, unused ones and rec_len included, as `debugfs ls` shows
 * them in every directory. The kernel must list ext4kit's directories as
 * the model says.
 */
import { describe, expect, it } from 'vitest';
import { readdir } from 'node:fs/promises';
import { makeTree, useImages, type TreeEntry } from '../helpers/images.js';
import { expectFsckClean } from '../helpers/fsck.js';
import { canLoopMount, describeLoopSkip, withMountedImage } from '../helpers/loop.js';
import { setHostXattrs } from '../helpers/host-xattr.js';
import { debugfsBatch, inodeNumber, parseLs } from '../helpers/debugfs.js';
import { openWritableFs, type WritableFs } from '../helpers/writable-fs.js';
import { Rng } from '../helpers/prng.js';
import { runChecked } from '../helpers/run.js';
import { addInlineEntry, convertInlineDir, deleteInlineEntry } from '../../src/dir/inline-dir-write.js';
import { inlineConvertCredits, reserveInlineConvert } from '../../src/inode/inline-write.js';
import { inlineDir } from '../../src/inode/inline.js';
import { parseDirBlock } from '../../src/format/dirent.js';
import { mapBlocks } from '../../src/extent/map-blocks.js';
import { EXT4_FT_REG_FILE } from '../../src/format/dirent.js';
import { FsError } from '../../src/base/errors.js';
import type { Ext4Inode } from '../../src/inode/ext4-inode.js';

const images = useImages('inline-dir');
const canLoop = await canLoopMount();
if (!canLoop) console.warn(`SKIPPED (kernel comparison of inline directories): ${await describeLoopSkip()}`);

const DIRS = ['d0', 'd1', 'd2', 'd3', 'd4', 'd5', 'da'];
const TARGETS = Array.from({ length: 8 }, (_, i) => `t${i}`);

interface Op { dir: string; kind: 'link' | 'unlink'; name: string; target?: string }

async function buildImage(name: string, args: string[]): Promise<string> {
  const root = images.tmp.fresh('tree');
  const entries: TreeEntry[] = [
    ...DIRS.map((d): TreeEntry => ({ path: d, kind: 'dir' })),
    ...TARGETS.map((t): TreeEntry => ({ path: `files/${t}`, data: t })),
  ];
  await makeTree(root, entries);
  // An attribute in the inode body leaves the directory less room to grow into.
  await setHostXattrs({ [`${root}/da`]: [[Buffer.from('user.attr'), Buffer.alloc(24, 5)]] });
  return images.mkfs({ size: '16M', args: ['-O', 'inline_data', ...args], root, name });
}

function randomName(rng: Rng): string {
  const len = rng.chance(0.7) ? rng.int(1, 12) : rng.int(13, 60);
  let s = '';
  for (let i = 0; i < len; i++) s += String.fromCharCode(0x61 + rng.int(0, 25));
  return s;
}

async function entriesOf(w: WritableFs, dir: Ext4Inode): Promise<Map<string, number>> {
  if (dir.hasInlineData) {
    return new Map(inlineDir(w.fs, dir).entries.map((e) => [Buffer.from(e.name).toString('latin1'), e.inode]));
  }
  const m = await mapBlocks(w.fs, dir, 0);
  const block = await w.fs.cache.read(m.pblk);
  const out = new Map<string, number>();
  for (const e of parseDirBlock(block, { ino: dir.ino, lblk: 0 }, { hasFileType: true, hasTail: w.fs.metadataCsum })) {
    const n = Buffer.from(e.name).toString('latin1');
    if (n !== '.' && n !== '..') out.set(n, e.inode);
  }
  return out;
}

const KERNEL_PY = `
import array, errno, fcntl, json, os, sys
FS_IOC_GETFLAGS = 0x80086601
root = sys.argv[1]
out = []
for d, kind, name, target in json.loads(sys.stdin.read()):
    path = os.path.join(root, d, name)
    try:
        if kind == 'link':
            os.link(os.path.join(root, 'files', target), path)
        else:
            os.unlink(path)
        code = 0
    except OSError as e:
        code = e.errno
    fd = os.open(os.path.join(root, d), os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
        flags = array.array('l', [0])
        fcntl.ioctl(fd, FS_IOC_GETFLAGS, flags, True)
    finally:
        os.close(fd)
    out.append([code, bool(flags[0] & 0x10000000)])
print(json.dumps(out))
`;

async function lsAll(img: string): Promise<Record<string, string>> {
  const text = await debugfsBatch(img, DIRS.map((d) => `ls /${d}`));
  const parts = text.split(/^debugfs: ls .*$/m).slice(1);
  return Object.fromEntries(DIRS.map((d, i) => [d, parseLs(parts[i]).map((e) => `${e.inode}(${e.recLen})${e.name}`).join(' ')]));
}

const KINDS = [
  { name: '4 KiB blocks, 256-byte inodes', args: ['-b', '4096'], seed: 21 },
  { name: '1 KiB blocks, 512-byte inodes, no metadata_csum', args: ['-b', '1024', '-I', '512', '-O', '^metadata_csum'], seed: 22 },
  { name: '2 KiB blocks, 256-byte inodes', args: ['-b', '2048'], seed: 23 },
];

describe.each(KINDS)('inline directories: $name', (kind) => {
  it('random link/unlink until each directory converts', async () => {
    const ours = await buildImage('ours.img', kind.args);
    const theirs = await buildImage('kernel.img', kind.args);
    const rng = new Rng(kind.seed);
    const model = new Map(DIRS.map((d) => [d, new Map<string, number>()]));
    const links = new Map<string, number>(TARGETS.map((t) => [t, 1]));
    const ops: Op[] = [];
    const outcomes: Array<[number, boolean]> = [];
    const converted = new Set<string>();
    const w = await openWritableFs(ours);
    try {
      const dirIno = new Map<string, number>();
      for (const d of DIRS) dirIno.set(d, await inodeNumber(ours, `/${d}`));
      const targetIno = new Map<string, number>();
      for (const t of TARGETS) targetIno.set(t, await inodeNumber(ours, `/files/${t}`));
      for (let i = 0; i < 600 && converted.size < DIRS.length; i++) {
        const d = rng.pick(DIRS.filter((x) => !converted.has(x)));
        const names = [...model.get(d)!.keys()];
        const dir = await w.inodes.get(dirIno.get(d)!);
        let op: Op;
        if (rng.chance(names.length > 0 ? 0.35 : 0.05)) {
          op = { dir: d, kind: 'unlink', name: names.length > 0 && rng.chance(0.85) ? rng.pick(names) : randomName(rng) };
        } else {
          const name = names.length > 0 && rng.chance(0.15) ? rng.pick(names) : randomName(rng);
          op = { dir: d, kind: 'link', name, target: rng.pick(TARGETS) };
        }
        ops.push(op);
        const where = `${kind.name} op ${i}: ${op.kind} ${d}/${op.name}`;
        let code = 0;
        try {
          await dir.rwsem.withExclusive(async () => {
            if (op.kind === 'link') {
              const target = await w.inodes.get(targetIno.get(op.target!)!);
              const entry = { name: Buffer.from(op.name), ino: target.ino, fileType: EXT4_FT_REG_FILE };
              const r = reserveInlineConvert(w.fs, dir);
              try {
                await w.journal.run(inlineConvertCredits(w.fs, dir) + 3, async (h) => {
                  if (!(await addInlineEntry(w.fs, h, dir, entry))) await convertInlineDir(w.fs, h, dir, r, entry);
                  target.disk.linksCount++;
                  await w.inodes.writeInode(h, target);
                  await w.inodes.writeInode(h, dir);
                });
              } finally {
                r.release();
              }
            } else {
              await w.journal.run(3, async (h) => {
                const ino = await deleteInlineEntry(w.fs, h, dir, Buffer.from(op.name));
                const target = await w.inodes.get(ino);
                target.disk.linksCount--;
                await w.inodes.writeInode(h, target);
                await w.inodes.writeInode(h, dir);
              });
            }
          });
        } catch (e) {
          if (!(e instanceof FsError) || !['EEXIST', 'ENOENT'].includes(e.code)) throw new Error(`${where}: ${String(e)}`);
          code = -e.errno;
        }
        if (code === 0) {
          if (op.kind === 'link') {
            model.get(d)!.set(op.name, targetIno.get(op.target!)!);
            links.set(op.target!, links.get(op.target!)! + 1);
          } else {
            const ino = model.get(d)!.get(op.name)!;
            model.get(d)!.delete(op.name);
            const t = TARGETS.find((x) => targetIno.get(x) === ino)!;
            links.set(t, links.get(t)! - 1);
          }
        } else {
          expect(code, where).toBe(op.kind === 'link' ? 17 : 2);
        }
        if (!dir.hasInlineData) converted.add(d);
        outcomes.push([code, dir.hasInlineData]);
        expect([...(await entriesOf(w, dir))].sort(), where).toEqual([...model.get(d)!].sort());
      }
    } finally {
      await w.close();
    }
    expect(converted.size, 'every directory converted').toBe(DIRS.length);
    expect(new Set(outcomes.map(([c]) => c)), 'successes, EEXIST and ENOENT all occurred').toEqual(new Set([0, 17, 2]));
    await expectFsckClean(ours);
    if (!canLoop) return;

    const spec = ops.map((o) => [o.dir, o.kind, o.name, o.target ?? null]);
    const out = await withMountedImage(theirs, {}, (m) => runChecked('python3', ['-c', KERNEL_PY, m.dir], { input: JSON.stringify(spec), timeoutMs: 120_000 }));
    const kernel = JSON.parse(out.stdout) as Array<[number, boolean]>;
    const firstDiff = outcomes.findIndex(([c, inl], i) => c !== kernel[i][0] || inl !== kernel[i][1]);
    expect(firstDiff === -1 ? 'same' : `op ${firstDiff} ${ops[firstDiff].kind} ${ops[firstDiff].dir}/${ops[firstDiff].name}: here ${JSON.stringify(outcomes[firstDiff])}, Linux ${JSON.stringify(kernel[firstDiff])}`).toBe('same');
    await expectFsckClean(theirs);
    expect(await lsAll(ours), 'directory records (debugfs ls)').toEqual(await lsAll(theirs));
    await withMountedImage(ours, { readOnly: true }, async (m) => {
      for (const d of DIRS) expect((await readdir(`${m.dir}/${d}`)).sort(), `kernel lists ${d}`).toEqual([...model.get(d)!.keys()].sort());
    });
  });
});
